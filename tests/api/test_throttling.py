"""Throttles: per-IP auth, per-phone OTP, general per user/IP, rates read at request time."""

from __future__ import annotations

import pytest

from telehealth.api.throttling import parse_rate
from tests.api.helpers import error_of, success_data
from tests.factories import phone_number

SEND_OTP = "/api/auth/send-otp/"


@pytest.fixture(autouse=True)
def _no_cooldown(settings):
    settings.OTP_RESEND_COOLDOWN_SECONDS = 0


@pytest.fixture
def set_rates(settings):
    """``set_rates(auth="2/min")``: change throttle rates the way an operator would."""

    def apply(**rates: str) -> None:
        current = settings.REST_FRAMEWORK
        settings.REST_FRAMEWORK = {
            **current,
            "DEFAULT_THROTTLE_RATES": {**current["DEFAULT_THROTTLE_RATES"], **rates},
        }

    return apply


def _send(client, phone: str, ip: str = "203.0.113.1", **extra):
    return client.post(SEND_OTP, {"phone": phone}, format="json", REMOTE_ADDR=ip, **extra)


# --- auth: per IP --------------------------------------------------------------------------------


def test_sixth_send_otp_from_one_ip_within_a_minute_is_throttled(api_client, db, settings):
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth"] == "5/min"
    for n in range(5):
        assert _send(api_client, phone_number(100 + n)).status_code == 200

    response = _send(api_client, phone_number(105))

    error = error_of(response, 429, "THROTTLED")
    assert 0 < error["details"]["retry_after"] <= 60
    assert response["Retry-After"] == str(error["details"]["retry_after"])


def test_auth_throttle_is_per_ip(api_client, db):
    for n in range(5):
        assert _send(api_client, phone_number(110 + n), ip="203.0.113.1").status_code == 200
    assert _send(api_client, phone_number(115), ip="203.0.113.1").status_code == 429

    response = _send(api_client, phone_number(116), ip="203.0.113.2")

    success_data(response)


def test_forged_forwarded_for_does_not_escape_the_ip_throttle(api_client, db, settings):
    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == 0
    statuses = [
        _send(api_client, phone_number(120 + n), HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code
        for n in range(6)
    ]

    assert statuses == [200] * 5 + [429]


def test_auth_throttle_also_guards_verify_otp(api_client, db):
    statuses = [
        api_client.post(
            "/api/auth/verify-otp/", {"phone": phone_number(130 + n), "code": "000000"}, format="json"
        ).status_code
        for n in range(6)
    ]

    assert statuses == [400] * 5 + [429]


# --- otp_phone: per destination phone ------------------------------------------------------------


def test_sixth_code_for_one_phone_is_throttled_whatever_the_ip(api_client, db, settings):
    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["otp_phone"] == "5/hour"
    phone = phone_number(200)
    for n in range(5):
        assert _send(api_client, phone, ip=f"198.51.100.{n}").status_code == 200

    response = _send(api_client, phone, ip="198.51.100.99")

    error = error_of(response, 429, "THROTTLED")
    assert 60 < error["details"]["retry_after"] <= 3600


def test_phone_throttle_does_not_block_other_phones(api_client, db):
    for n in range(5):
        assert _send(api_client, phone_number(210), ip=f"198.51.100.{n}").status_code == 200
    assert _send(api_client, phone_number(210), ip="198.51.100.50").status_code == 429

    response = _send(api_client, phone_number(211), ip="198.51.100.50")

    success_data(response)


def test_phone_throttle_counts_every_spelling_of_a_number_together(api_client, db, set_rates):
    set_rates(otp_phone="2/hour")
    assert _send(api_client, "+919800000300", ip="198.51.100.1").status_code == 200
    assert _send(api_client, "+91 98000 00300", ip="198.51.100.2").status_code == 200

    response = _send(api_client, "+91-9800-000-300", ip="198.51.100.3")

    error_of(response, 429, "THROTTLED")


def test_invalid_phone_is_a_validation_error_not_a_throttle(api_client, db, set_rates):
    set_rates(otp_phone="1/hour")
    statuses = [_send(api_client, "garbage", ip=f"198.51.100.{n}").status_code for n in range(3)]

    assert statuses == [400, 400, 400]


def test_resend_cooldown_is_its_own_429_code(api_client, db, settings):
    settings.OTP_RESEND_COOLDOWN_SECONDS = 30
    assert _send(api_client, phone_number(400)).status_code == 200

    response = _send(api_client, phone_number(400))

    error = error_of(response, 429, "OTP_COOLDOWN")
    assert 0 < error["details"]["retry_after"] <= 30
    assert response["Retry-After"] == str(error["details"]["retry_after"])


# --- general: per user, or per IP when anonymous -------------------------------------------------


def test_general_throttle_is_per_user(client_for, patient, other_patient, set_rates):
    set_rates(general="3/min")
    client = client_for(patient)
    for _ in range(3):
        assert client.get("/api/auth/profile/").status_code == 200

    error_of(client.get("/api/auth/profile/"), 429, "THROTTLED")
    success_data(client_for(other_patient).get("/api/auth/profile/"))


def test_general_throttle_follows_the_user_across_ips(client_for, patient, set_rates):
    set_rates(general="2/min")
    client = client_for(patient)
    statuses = [client.get("/api/auth/profile/", REMOTE_ADDR=f"198.51.100.{n}").status_code for n in range(3)]

    assert statuses == [200, 200, 429]


def test_general_throttle_is_per_ip_for_anonymous_callers(api_client, db, set_rates):
    set_rates(general="2/min")
    statuses = [
        api_client.post("/api/auth/refresh/", {"refresh": "x"}, format="json", REMOTE_ADDR=ip).status_code
        for ip in ["203.0.113.7", "203.0.113.7", "203.0.113.7", "203.0.113.8"]
    ]

    assert statuses == [401, 401, 429, 401]


def test_health_checks_are_never_throttled(api_client, db, set_rates):
    set_rates(general="1/min")
    statuses = [api_client.get("/health/").status_code for _ in range(3)]

    assert statuses == [200, 200, 200]


# --- Rates are read per request ------------------------------------------------------------------


def test_changed_rates_take_effect_without_restart(api_client, db, set_rates):
    set_rates(auth="2/min")
    assert [_send(api_client, phone_number(500 + n)).status_code for n in range(3)] == [200, 200, 429]

    set_rates(auth="10/min")

    success_data(_send(api_client, phone_number(510)))


def test_multiple_unit_rate_sets_the_window(api_client, db, set_rates):
    set_rates(auth="1/5m")
    assert _send(api_client, phone_number(600)).status_code == 200

    response = _send(api_client, phone_number(601))

    error = error_of(response, 429, "THROTTLED")
    assert 240 < error["details"]["retry_after"] <= 300


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        ("5/min", (5, 60)),
        ("5/m", (5, 60)),
        ("10/5m", (10, 300)),
        ("7/s", (7, 1)),
        ("3/30s", (3, 30)),
        ("100/hour", (100, 3600)),
        ("2/12h", (2, 43200)),
        ("1/day", (1, 86400)),
        ("0/min", (0, 60)),
        (None, (None, None)),
    ],
)
def test_parse_rate(rate, expected):
    assert parse_rate(rate) == expected


@pytest.mark.parametrize("rate", ["", "min", "5", "5/", "five/min", "5/week", "/min", "5/x"])
def test_parse_rate_rejects_nonsense(rate):
    with pytest.raises(ValueError, match="Bad throttle rate"):
        parse_rate(rate)


def test_parse_rate_rejects_zero_length_window():
    with pytest.raises(ValueError, match="Bad throttle rate"):
        parse_rate("5/0m")
