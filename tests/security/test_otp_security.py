"""OTP login against a determined attacker: per-code and per-phone limits that rotating IPs (or a
forged X-Forwarded-For) cannot reset, codes hashed at rest, and answers that do not tell a known
phone from an unknown one."""

from __future__ import annotations

import statistics
import time

import pytest

from telehealth.accounts.models import PhoneOTP
from tests.accounts.conftest import SEND, VERIFY
from tests.factories import UserFactory, phone_number

pytestmark = pytest.mark.django_db


def _rates(settings, **rates: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates},
    }


def _wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


@pytest.fixture
def unthrottled(settings):
    """Per-IP throttles out of the way, so only the per-code and per-phone rules are under test."""
    _rates(settings, auth="10000/min", otp_phone="10000/hour")


def test_sixth_guess_is_refused_even_with_the_right_code(api_client, send_code, new_phone, unthrottled):
    code = send_code(new_phone)
    for n in range(5):
        response = api_client.post(
            VERIFY, {"phone": new_phone, "code": _wrong(code)}, REMOTE_ADDR=f"10.1.0.{n}"
        )
        assert response.status_code == 400

    response = api_client.post(VERIFY, {"phone": new_phone, "code": code}, REMOTE_ADDR="10.1.0.200")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "OTP_INVALID"
    assert "access" not in response.json()
    otp = PhoneOTP.objects.get(phone=new_phone)
    assert (otp.attempts, otp.consumed_at) == (5, None)
    assert otp.invalidated_at is not None


def test_per_phone_limit_holds_when_remote_addr_and_forwarded_for_rotate(
    api_client, send_code, new_phone, settings, unthrottled
):
    settings.OTP_MAX_FAILURES_PER_HOUR = 7
    settings.OTP_RESEND_COOLDOWN_SECONDS = 0
    failures = 0
    # Fresh codes (each allows 5 guesses) from ever-new addresses: the phone's budget still runs out.
    while failures < 7:
        code = send_code(new_phone, REMOTE_ADDR=f"198.51.100.{failures}")
        for _ in range(min(4, 7 - failures)):
            response = api_client.post(
                VERIFY,
                {"phone": new_phone, "code": _wrong(code)},
                REMOTE_ADDR=f"203.0.113.{failures}",
                HTTP_X_FORWARDED_FOR=f"192.0.2.{failures}",
            )
            assert response.status_code == 400
            failures += 1

    code = send_code(new_phone, REMOTE_ADDR="198.51.100.250")
    response = api_client.post(
        VERIFY,
        {"phone": new_phone, "code": code},
        REMOTE_ADDR="203.0.113.250",
        HTTP_X_FORWARDED_FOR="192.0.2.250",
    )

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "OTP_LOCKED"
    assert int(response["Retry-After"]) > 0
    # The lock is about the phone: another phone from the same address is unaffected.
    other = phone_number(90_000_555)
    assert (
        api_client.post(VERIFY, {"phone": other, "code": code}, REMOTE_ADDR="203.0.113.250").status_code
        == 400
    )


def test_limit_counts_unknown_phones_too(api_client, settings, unthrottled):
    settings.OTP_MAX_FAILURES_PER_HOUR = 3
    phone = phone_number(90_000_556)
    for n in range(3):
        assert (
            api_client.post(VERIFY, {"phone": phone, "code": "123456"}, REMOTE_ADDR=f"10.2.0.{n}").status_code
            == 400
        )

    assert (
        api_client.post(VERIFY, {"phone": phone, "code": "123456"}, REMOTE_ADDR="10.2.0.9").status_code == 429
    )


@pytest.mark.parametrize("num_proxies", [0, 1])
def test_forged_forwarded_for_does_not_reset_the_ip_throttle(api_client, settings, num_proxies):
    """Without a proxy the header is ignored; behind one, only the entry the proxy appended counts,
    so whatever the client writes in front of it changes nothing."""
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}
    _rates(settings, auth="3/min", otp_phone="10000/hour")
    statuses = []
    for n in range(5):
        forged = f"192.0.2.{n}" if num_proxies == 0 else f"192.0.2.{n}, 198.51.100.77"
        response = api_client.post(
            VERIFY,
            {"phone": phone_number(90_000_600 + n), "code": "123456"},
            REMOTE_ADDR="203.0.113.9",
            HTTP_X_FORWARDED_FOR=forged,
        )
        statuses.append(response.status_code)

    assert statuses == [400, 400, 400, 429, 429]


def test_garbage_forwarded_for_is_not_stored_as_the_client_ip(api_client, settings, new_phone, unthrottled):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    response = api_client.post(
        SEND, {"phone": new_phone}, REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="nonsense"
    )

    assert response.status_code == 200
    assert PhoneOTP.objects.get(phone=new_phone).requested_ip in (None, "203.0.113.9")


def test_no_plaintext_code_anywhere_in_the_stored_row(send_code, new_phone):
    code = send_code(new_phone)
    row = PhoneOTP.objects.filter(phone=new_phone).values().get()

    for column, value in row.items():
        assert code not in str(value), column
    assert len(row["code_hash"]) == 64
    int(row["code_hash"], 16)  # hex digest


def test_equal_codes_for_two_phones_are_stored_differently(send_code, monkeypatch):
    from telehealth.accounts import services

    monkeypatch.setattr(services, "_generate_code", lambda length: "424242")
    first, second = phone_number(90_001_001), phone_number(90_001_002)
    assert send_code(first) == send_code(second) == "424242"

    # Keyed per phone: one stolen row does not reveal which other rows hold the same code.
    hashes = set(PhoneOTP.objects.filter(phone__in=[first, second]).values_list("code_hash", flat=True))
    assert len(hashes) == 2


def _verify(api_client, phone: str, ip: str):
    return api_client.post(VERIFY, {"phone": phone, "code": "000001"}, REMOTE_ADDR=ip)


def test_unknown_and_known_phones_get_identical_answers(api_client, send_code, unthrottled):
    known_user = UserFactory(phone=phone_number(90_000_700))
    send_code(known_user.phone)  # an account and a pending code
    account_no_code = UserFactory(phone=phone_number(90_000_701)).phone
    unknown = phone_number(90_000_702)

    answers = []
    for n, phone in enumerate([known_user.phone, account_no_code, unknown]):
        response = _verify(api_client, phone, f"10.3.0.{n}")
        body = response.json()
        body.pop("timestamp", None)
        answers.append((response.status_code, body, sorted(k for k in response.headers if k != "Date")))

    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 400


def test_send_otp_answers_the_same_for_known_and_unknown_phones(api_client, unthrottled, db):
    known = UserFactory(phone=phone_number(90_000_710)).phone
    unknown = phone_number(90_000_711)

    bodies = []
    for phone in (known, unknown):
        body = api_client.post(SEND, {"phone": phone}).json()
        body.pop("timestamp", None)
        body["data"].pop("phone")
        bodies.append(body)

    assert bodies[0] == bodies[1]


def test_locked_answer_is_the_same_for_known_and_unknown_phones(api_client, settings, unthrottled):
    settings.OTP_MAX_FAILURES_PER_HOUR = 1
    known = UserFactory(phone=phone_number(90_000_720)).phone
    unknown = phone_number(90_000_721)
    locked = []
    for phone in (known, unknown):
        _verify(api_client, phone, "10.4.0.1")
        response = _verify(api_client, phone, "10.4.0.2")
        body = response.json()
        body.pop("timestamp", None)
        locked.append((response.status_code, body))

    assert locked[0] == locked[1]
    assert locked[0][0] == 429


def test_wrong_code_timing_does_not_tell_known_from_unknown(api_client, send_code, unthrottled):
    known = phone_number(90_000_730)
    send_code(known)
    unknown = phone_number(90_000_731)

    def median_seconds(phone: str) -> float:
        samples = []
        for n in range(7):
            start = time.perf_counter()
            _verify(api_client, phone, f"10.5.{n}.1")
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)

    known_s, unknown_s = median_seconds(known), median_seconds(unknown)
    # Only grossly different timings are a leak; a busy CI machine adds noise, so the bound is loose.
    assert max(known_s, unknown_s) < 5 * min(known_s, unknown_s) + 0.1
