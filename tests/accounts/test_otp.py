from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from telehealth.accounts.models import PhoneOTP, Role, User
from telehealth.accounts.services import _hash_code
from tests.accounts.conftest import SEND, VERIFY
from tests.factories import UserFactory, phone_number

pytestmark = pytest.mark.django_db


def test_send_otp_texts_a_numeric_code_of_configured_length(send_code, new_phone, settings):
    settings.OTP_LENGTH = 8
    code = send_code(new_phone)
    assert code.isdigit()
    assert len(code) == 8


def test_send_otp_answers_expiry_and_resend_delay(api_client, new_phone, settings):
    response = api_client.post(SEND, {"phone": new_phone})
    body = response.json()
    assert body["success"] is True
    assert body["data"] == {
        "phone": new_phone,
        "expires_in": settings.OTP_EXPIRY_SECONDS,
        "resend_after": settings.OTP_RESEND_COOLDOWN_SECONDS,
    }
    assert "code" not in body["data"]


def test_phone_is_normalised_to_e164(send_code, sms_outbox):
    send_code("+91 98 0000 0042")
    assert sms_outbox[-1][0] == "+919800000042"


@pytest.mark.parametrize("bad", ["", "12345", "not a phone", "+1 555", "+91" + "9" * 20])
def test_invalid_phone_is_a_validation_error(api_client, bad, db):
    response = api_client.post(SEND, {"phone": bad})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "phone" in error["details"]


def test_code_is_stored_only_as_a_hash(send_code, new_phone):
    code = send_code(new_phone)
    otp = PhoneOTP.objects.get(phone=new_phone)
    assert code not in otp.code_hash
    assert otp.code_hash == _hash_code(new_phone, code)
    assert len(otp.code_hash) == 64


def test_first_login_creates_a_patient(login, new_phone):
    data = login(new_phone)
    assert data["created"] is True
    assert data["user"]["phone"] == new_phone
    assert data["user"]["role"] == "patient"
    assert data["access"]
    assert data["refresh"]
    user = User.objects.get(phone=new_phone)
    assert user.role == Role.PATIENT
    assert user.phone_verified_at is not None
    assert not user.has_usable_password()


def test_existing_doctor_keeps_their_role_on_login(login):
    doctor = UserFactory(role="doctor")
    data = login(doctor.phone)
    assert data["created"] is False
    assert data["user"]["role"] == "doctor"
    assert User.objects.filter(phone=doctor.phone).count() == 1


def test_code_is_single_use(api_client, send_code, new_phone):
    code = send_code(new_phone)
    assert api_client.post(VERIFY, {"phone": new_phone, "code": code}).status_code == 200
    again = api_client.post(VERIFY, {"phone": new_phone, "code": code})
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "OTP_INVALID"


def test_expired_code_is_refused(api_client, send_code, new_phone):
    code = send_code(new_phone)
    PhoneOTP.objects.filter(phone=new_phone).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api_client.post(VERIFY, {"phone": new_phone, "code": code})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "OTP_INVALID"


def test_code_dies_after_max_wrong_attempts(api_client, send_code, new_phone, settings):
    settings.OTP_MAX_ATTEMPTS = 5
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth": "100/min"},
    }
    code = send_code(new_phone)
    wrong = "000000" if code != "000000" else "111111"
    for attempt in range(1, 6):
        response = api_client.post(VERIFY, {"phone": new_phone, "code": wrong})
        assert response.status_code == 400
        assert PhoneOTP.objects.get(phone=new_phone).attempts == attempt
    # The right code no longer works: the code is dead.
    response = api_client.post(VERIFY, {"phone": new_phone, "code": code})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "OTP_INVALID"
    assert PhoneOTP.objects.get(phone=new_phone).invalidated_at is not None


def test_wrong_code_answers_like_unknown_phone(api_client, send_code, new_phone):
    send_code(new_phone)
    known = api_client.post(VERIFY, {"phone": new_phone, "code": "000001"}).json()["error"]
    unknown = api_client.post(VERIFY, {"phone": phone_number(90_000_777), "code": "000001"}).json()["error"]
    assert known == unknown


def test_new_code_replaces_the_previous_one(api_client, send_code, new_phone, settings):
    settings.OTP_RESEND_COOLDOWN_SECONDS = 0
    first = send_code(new_phone)
    second = send_code(new_phone)
    if first != second:
        assert api_client.post(VERIFY, {"phone": new_phone, "code": first}).status_code == 400
    assert api_client.post(VERIFY, {"phone": new_phone, "code": second}).status_code == 200


def test_resend_within_cooldown_is_refused(api_client, send_code, new_phone, settings):
    settings.OTP_RESEND_COOLDOWN_SECONDS = 30
    send_code(new_phone)
    response = api_client.post(SEND, {"phone": new_phone})
    assert response.status_code == 429
    body = response.json()
    assert body["error"]["code"] == "OTP_COOLDOWN"
    assert 0 < body["error"]["details"]["retry_after"] <= 30
    assert 0 < int(response["Retry-After"]) <= 30


def test_resend_allowed_after_cooldown(api_client, send_code, new_phone, settings):
    settings.OTP_RESEND_COOLDOWN_SECONDS = 30
    send_code(new_phone)
    PhoneOTP.objects.filter(phone=new_phone).update(created_at=timezone.now() - timedelta(seconds=31))
    assert api_client.post(SEND, {"phone": new_phone}).status_code == 200


def test_phone_is_locked_after_too_many_failures_across_ips(api_client, send_code, new_phone, settings):
    settings.OTP_MAX_FAILURES_PER_HOUR = 3
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth": "100/min"},
    }
    code = send_code(new_phone)
    for n in range(3):
        api_client.post(VERIFY, {"phone": new_phone, "code": "999999"}, REMOTE_ADDR=f"10.0.0.{n}")
    response = api_client.post(VERIFY, {"phone": new_phone, "code": code}, REMOTE_ADDR="10.0.0.99")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "OTP_LOCKED"


def test_deactivated_account_cannot_log_in(api_client, send_code):
    user = UserFactory(is_active=False)
    code = send_code(user.phone)
    response = api_client.post(VERIFY, {"phone": user.phone, "code": code})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "ACCOUNT_DISABLED"
    assert "access" not in str(response.json())


@pytest.mark.parametrize("code", ["", "abc", "12", "1" * 11, None])
def test_malformed_code_is_a_validation_error(api_client, new_phone, code, db):
    response = api_client.post(VERIFY, {"phone": new_phone, "code": code}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert "code" in response.json()["error"]["details"]


def test_sms_is_sent_only_after_commit(api_client, sms_outbox, new_phone, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        api_client.post(SEND, {"phone": new_phone})
    assert sms_outbox == []
    assert len(callbacks) == 1
