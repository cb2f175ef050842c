"""Every response leaves in the envelope: success and each error status."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from tests.api.crash_urls import SECRET_MESSAGE
from tests.api.helpers import error_of, success_data
from tests.factories import UserFactory, phone_number

SEND_OTP = "/api/auth/send-otp/"
USERS = "/api/users/"
CRASH_URLS = "tests.api.crash_urls"


@pytest.fixture(autouse=True)
def _no_cooldown(settings):
    settings.OTP_RESEND_COOLDOWN_SECONDS = 0


# --- Success -------------------------------------------------------------------------------------


def test_success_envelope_carries_data_message_and_utc_timestamp(api_client, db):
    response = api_client.post(SEND_OTP, {"phone": phone_number(9001)}, format="json")

    data = success_data(response)
    assert response.json()["message"] == "Code sent."
    assert data["phone"] == phone_number(9001)
    assert data["expires_in"] > 0


def test_success_envelope_without_message_has_null_message(client_for, patient):
    response = client_for(patient).get("/api/auth/profile/")

    data = success_data(response)
    assert response.json()["message"] is None
    assert data["id"] == str(patient.pk)


def test_created_answers_201_in_success_envelope(client_for, admin_user):
    response = client_for(admin_user).post(USERS, {"phone": phone_number(9002), "role": "doctor"})

    data = success_data(response, status=201)
    assert response.json()["message"] == "Account created."
    assert data["role"] == "doctor"


# --- 400 -----------------------------------------------------------------------------------------


def test_validation_error_lists_field_errors_in_details(api_client, db):
    response = api_client.post(SEND_OTP, {"phone": "not a phone"}, format="json")

    error = error_of(response, 400, "VALIDATION_ERROR")
    assert error["message"] == "The request contains invalid data."
    assert set(error["details"]) == {"phone"}
    assert isinstance(error["details"]["phone"], list)
    assert error["details"]["phone"]


def test_missing_required_field_is_a_validation_error(api_client, db):
    response = api_client.post(SEND_OTP, {}, format="json")

    error = error_of(response, 400, "VALIDATION_ERROR")
    assert "phone" in error["details"]


def test_malformed_json_answers_parse_error(api_client, db):
    response = api_client.post(SEND_OTP, data='{"phone": ', content_type="application/json")

    error = error_of(response, 400, "PARSE_ERROR")
    assert "JSON parse error" in error["message"]
    assert error["details"] == {"reason": "parse_error"}


# --- 401 -----------------------------------------------------------------------------------------


def test_missing_token_answers_401_with_www_authenticate(api_client, db):
    response = api_client.get(USERS)

    error = error_of(response, 401, "AUTHENTICATION_FAILED")
    assert error["details"] == {"reason": "not_authenticated"}
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_garbage_token_answers_401(api_client, db):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")

    response = api_client.get(USERS)

    error = error_of(response, 401, "AUTHENTICATION_FAILED")
    assert error["details"] == {"reason": "token_not_valid"}
    assert "messages" not in error["details"]


def test_expired_token_answers_401(api_client, admin_user):
    token = AccessToken.for_user(admin_user)
    token.set_exp(from_time=timezone.now() - timedelta(hours=1), lifetime=timedelta(minutes=5))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = api_client.get(USERS)

    error = error_of(response, 401, "AUTHENTICATION_FAILED")
    assert error["details"] == {"reason": "token_not_valid"}


def test_token_of_deactivated_user_answers_401(client_for, db):
    user = UserFactory(role="admin")
    client = client_for(user)
    user.is_active = False
    user.save()

    response = client.get(USERS)

    error = error_of(response, 401, "AUTHENTICATION_FAILED")
    assert error["message"] == "User is inactive"


def test_token_of_deactivated_user_reports_user_inactive_reason(client_for, db):
    user = UserFactory(role="admin")
    client = client_for(user)
    user.is_active = False
    user.save()

    response = client.get(USERS)

    error = error_of(response, 401, "AUTHENTICATION_FAILED")
    assert error["details"] == {"reason": "user_inactive"}


# --- 403 -----------------------------------------------------------------------------------------


def test_patient_listing_accounts_answers_403(client_for, patient):
    response = client_for(patient).get(USERS)

    error = error_of(response, 403, "PERMISSION_DENIED")
    assert error["message"] == "Your role may not perform this action."
    assert error["details"] == {"reason": "permission_denied"}


# --- 404 -----------------------------------------------------------------------------------------


def test_unknown_api_path_answers_404_envelope(api_client, db):
    response = api_client.get("/api/no-such-thing/")

    error = error_of(response, 404, "NOT_FOUND")
    assert error["details"] == {"path": "/api/no-such-thing/"}


def test_unknown_api_path_without_slash_has_no_hint(api_client, db):
    response = api_client.get("/api/no-such-thing")

    error = error_of(response, 404, "NOT_FOUND")
    assert error["details"] == {"path": "/api/no-such-thing"}


def test_api_path_missing_trailing_slash_answers_404_with_hint(api_client, db):
    response = api_client.post("/api/auth/send-otp", {"phone": phone_number(1)}, format="json")

    error = error_of(response, 404, "NOT_FOUND")
    assert error["details"] == {
        "path": "/api/auth/send-otp",
        "hint": "API paths end with a slash: /api/auth/send-otp/",
    }


def test_post_to_unknown_api_path_answers_404_not_csrf_failure(db):
    client = Client(enforce_csrf_checks=True)  # no CSRF cookie, as curl or a mobile app sends

    response = client.post("/api/auth/send-otp", {"phone": phone_number(1)}, content_type="application/json")

    error = error_of(response, 404, "NOT_FOUND")
    assert error["details"]["hint"] == "API paths end with a slash: /api/auth/send-otp/"


def test_unknown_api_path_answers_envelope_even_in_debug(api_client, db, settings):
    settings.DEBUG = True

    response = api_client.get("/api/no-such-thing/")

    error_of(response, 404, "NOT_FOUND")


def test_unknown_account_id_answers_404_envelope(client_for, admin_user):
    response = client_for(admin_user).get(f"{USERS}{uuid.uuid4()}/")

    error = error_of(response, 404, "NOT_FOUND")
    assert error["details"] == {"reason": "not_found"}


def test_malformed_account_id_answers_404_not_500(client_for, admin_user):
    response = client_for(admin_user).get(f"{USERS}not-a-uuid/")

    error_of(response, 404, "NOT_FOUND")


def test_non_api_404_goes_through_handler404_when_debug_is_off(db, settings):
    settings.DEBUG = False

    response = Client().get("/definitely/not/here/")

    error = error_of(response, 404, "NOT_FOUND")
    assert error["details"] == {"path": "/definitely/not/here/"}


# --- 405, 415 ------------------------------------------------------------------------------------


def test_wrong_method_answers_405_with_allow_header(api_client, db):
    response = api_client.get(SEND_OTP)

    error = error_of(response, 405, "METHOD_NOT_ALLOWED")
    assert error["details"] == {"reason": "method_not_allowed"}
    assert "POST" in response["Allow"]


def test_unsupported_content_type_answers_415(api_client, db):
    response = api_client.post(SEND_OTP, data="phone=+919800000001", content_type="text/plain")

    error = error_of(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert "text/plain" in error["message"]
    assert error["details"] == {"reason": "unsupported_media_type"}


@pytest.mark.urls(CRASH_URLS)
def test_error_status_returned_by_hand_is_wrapped_with_data_as_details(api_client, db):
    response = api_client.get("/api/test-hand-made-error/")

    error = error_of(response, 409, "CONFLICT")
    assert error["details"] == {"slot": ["Already booked."]}


# --- 429 -----------------------------------------------------------------------------------------


def test_throttled_request_answers_429_with_retry_after(api_client, db, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "auth": "1/min"},
    }
    first = api_client.post(SEND_OTP, {"phone": phone_number(1)}, format="json")
    assert first.status_code == 200

    response = api_client.post(SEND_OTP, {"phone": phone_number(2)}, format="json")

    error = error_of(response, 429, "THROTTLED")
    retry_after = error["details"]["retry_after"]
    assert isinstance(retry_after, int)
    assert 0 < retry_after <= 60
    assert int(response["Retry-After"]) == retry_after


# --- 500 -----------------------------------------------------------------------------------------


@pytest.mark.urls(CRASH_URLS)
@pytest.mark.parametrize("debug", [True, False], ids=["debug", "production"])
def test_unhandled_exception_answers_500_without_internals(api_client, db, settings, caplog, debug):
    settings.DEBUG = debug

    with caplog.at_level(logging.ERROR, logger="telehealth.api"):
        response = api_client.get("/api/test-crash/")

    error = error_of(response, 500, "SERVER_ERROR")
    assert error["message"] == "An unexpected error occurred. It has been logged."
    assert error["details"] == {"request_id": response["X-Request-ID"]}
    assert error["details"]["request_id"]
    body = response.content.decode()
    assert SECRET_MESSAGE not in body
    assert "Traceback" not in body
    assert "RuntimeError" not in body
    # ... but the operators get the whole story in the log.
    (record,) = [r for r in caplog.records if r.name == "telehealth.api"]
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError


@pytest.mark.urls(CRASH_URLS)
def test_crash_outside_drf_goes_through_handler500_when_debug_is_off(db, settings):
    settings.DEBUG = False
    client = Client(raise_request_exception=False)

    response = client.get("/test-crash-plain/")

    error = error_of(response, 500, "SERVER_ERROR")
    assert error["details"] == {"request_id": response["X-Request-ID"]}
    assert SECRET_MESSAGE not in response.content.decode()


def test_a_django_validation_error_from_a_view_is_a_400_in_the_envelope():
    from django.core.exceptions import ValidationError
    from rest_framework.test import APIRequestFactory
    from rest_framework.views import APIView

    from telehealth.api.exceptions import envelope_exception_handler

    request = APIRequestFactory().get("/")
    response = envelope_exception_handler(
        ValidationError({"record_type": ["Not a record type."]}), {"view": APIView(), "request": request}
    )
    assert response.status_code == 400
    assert response.data["success"] is False
    assert response.data["error"]["code"] == "VALIDATION_ERROR"
    assert response.data["error"]["details"] == {"record_type": ["Not a record type."]}
