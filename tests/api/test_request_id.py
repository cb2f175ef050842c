"""Request ids: on every response, echoed when the caller sends one, and on every log line."""

from __future__ import annotations

import contextvars
import copy
import io
import json
import logging
import logging.config
import re

import pytest
from django.conf import settings as django_settings
from django.test import Client

from telehealth.log import RequestIdFilter
from tests.factories import phone_number

HEX_ID = re.compile(r"^[0-9a-f]{32}$")
CRASH_URLS = "tests.api.crash_urls"
INCOMING_ID = "5e0c9a7d2b1f4e3a8c6d0b9f7a5e3c1d"


@pytest.fixture(autouse=True)
def _no_cooldown(settings):
    settings.OTP_RESEND_COOLDOWN_SECONDS = 0


@pytest.fixture
def request_id_caplog(caplog):
    """``caplog`` whose records pass through the project's ``RequestIdFilter``."""
    request_filter = RequestIdFilter()
    caplog.handler.addFilter(request_filter)
    caplog.set_level(logging.INFO)
    yield caplog
    caplog.handler.removeFilter(request_filter)


def _formatter(name: str) -> logging.Formatter:
    """The formatter called ``name`` in settings.LOGGING, built the way dictConfig builds it."""
    config = copy.deepcopy(django_settings.LOGGING)
    return logging.config.DictConfigurator(config).configure_formatter(config["formatters"][name])


@pytest.fixture
def log_output():
    """``log_output("json")``: a stream receiving telehealth.* lines in that format, as the
    console handler would write them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    target = logging.getLogger("telehealth")
    saved_level = target.level

    def attach(formatter_name: str) -> io.StringIO:
        handler.setFormatter(_formatter(formatter_name))
        target.addHandler(handler)
        target.setLevel(logging.INFO)
        return stream

    yield attach
    target.removeHandler(handler)
    target.setLevel(saved_level)


def _send_otp(client, n: int = 1, **extra):
    return client.post("/api/auth/send-otp/", {"phone": phone_number(n)}, format="json", **extra)


# --- On the response -----------------------------------------------------------------------------


@pytest.mark.urls(CRASH_URLS)
@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/health/", 200),
        ("get", "/api/schema/", 200),
        ("get", "/api/users/", 401),
        ("get", "/api/auth/send-otp/", 405),
        ("get", "/api/no-such-thing/", 404),
        ("get", "/not-an-api-path/", 404),
        ("get", "/api/test-crash/", 500),
        ("get", "/static/drf_spectacular_sidecar/swagger-ui-dist/favicon-32x32.png", 200),
        ("post", "/api/auth/send-otp/", 200),
    ],
)
def test_every_response_has_a_request_id(db, settings, method, path, status):
    settings.DEBUG = False
    client = Client(raise_request_exception=False)

    response = getattr(client, method)(path, {"phone": phone_number(1)}, content_type="application/json")

    assert response.status_code == status
    assert HEX_ID.match(response["X-Request-ID"])
    if hasattr(response, "close"):
        response.close()


def test_each_request_gets_a_fresh_id(api_client, db):
    ids = {api_client.get("/health/")["X-Request-ID"] for _ in range(3)}

    assert len(ids) == 3


def test_request_id_header_is_exposed_to_browsers(api_client, db, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example"]

    response = api_client.get("/health/", HTTP_ORIGIN="https://app.example")

    assert response["Access-Control-Allow-Origin"] == "https://app.example"
    assert "x-request-id" in response["Access-Control-Expose-Headers"].lower()


@pytest.mark.parametrize(
    "incoming",
    [
        "3f2b8c4e9d1a4b6f8e0c2d4a6b8c0e1f",  # nginx $request_id
        "0b9a6c2e-8f3d-4c1a-9e7b-5d4f3a2b1c0d",  # a load balancer's UUID
    ],
)
def test_uuid_incoming_request_id_is_echoed(api_client, db, incoming):
    response = api_client.get("/health/", HTTP_X_REQUEST_ID=incoming)

    assert response["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["lb-abc123", "x" * 2000, 'abc" level=CRITICAL <script>alert(1)</script>', "3f2b8c4e9d1a4b6f"],
)
def test_other_incoming_request_id_is_replaced_with_a_fresh_one(api_client, db, incoming):
    response = api_client.get("/health/", HTTP_X_REQUEST_ID=incoming)

    assert response["X-Request-ID"] != incoming
    assert HEX_ID.match(response["X-Request-ID"])


def test_server_error_details_carry_the_request_id_of_the_header(api_client, db, settings):
    settings.ROOT_URLCONF = CRASH_URLS

    response = api_client.get("/api/test-crash/", HTTP_X_REQUEST_ID=INCOMING_ID)

    assert response.status_code == 500
    assert response.json()["error"]["details"]["request_id"] == INCOMING_ID


# --- On log lines --------------------------------------------------------------------------------


def test_log_lines_during_a_request_carry_its_id(api_client, db, request_id_caplog):
    response = _send_otp(api_client)

    assert response.status_code == 200
    (record,) = [r for r in request_id_caplog.records if r.name == "telehealth.auth"]
    assert record.getMessage().startswith("OTP issued for ")
    assert record.request_id == response["X-Request-ID"]


def test_log_lines_carry_the_incoming_id(api_client, db, request_id_caplog):
    _send_otp(api_client, HTTP_X_REQUEST_ID=INCOMING_ID)

    (record,) = [r for r in request_id_caplog.records if r.name == "telehealth.auth"]
    assert record.request_id == INCOMING_ID


def test_crash_log_carries_the_request_id_shown_to_the_client(api_client, db, settings, request_id_caplog):
    settings.ROOT_URLCONF = CRASH_URLS

    response = api_client.get("/api/test-crash/")

    (record,) = [r for r in request_id_caplog.records if r.name == "telehealth.api"]
    assert record.levelno == logging.ERROR
    assert record.request_id == response.json()["error"]["details"]["request_id"]


def test_log_lines_outside_a_request_say_dash():
    record = logging.LogRecord("telehealth.test", logging.INFO, __file__, 1, "hello", None, None)

    contextvars.Context().run(RequestIdFilter().filter, record)

    assert record.request_id == "-"


def test_json_log_line_has_the_documented_keys(api_client, db, log_output):
    stream = log_output("json")

    response = _send_otp(api_client, n=42)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    (line,) = [entry for entry in lines if entry["logger"] == "telehealth.auth"]
    assert {"timestamp", "level", "logger", "request_id", "message"} <= set(line)
    assert line["level"] == "INFO"
    assert line["request_id"] == response["X-Request-ID"]
    assert line["message"].startswith("OTP issued for +9198")
    assert re.match(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}", line["timestamp"])
    # Phone numbers are masked in logs.
    assert phone_number(42) not in stream.getvalue()


def test_json_log_line_of_a_crash_includes_the_traceback(api_client, db, settings, log_output):
    settings.ROOT_URLCONF = CRASH_URLS
    stream = log_output("json")

    response = api_client.get("/api/test-crash/")

    (line,) = [json.loads(raw) for raw in stream.getvalue().splitlines()]
    assert line["level"] == "ERROR"
    assert line["logger"] == "telehealth.api"
    assert line["request_id"] == response["X-Request-ID"]
    assert "RuntimeError" in line["exc_info"]


def test_text_log_line_shows_the_request_id(api_client, db, log_output):
    stream = log_output("text")

    response = _send_otp(api_client)

    assert f"[{response['X-Request-ID']}] telehealth.auth: OTP issued for" in stream.getvalue()
