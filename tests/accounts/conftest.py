from __future__ import annotations

import re

import pytest

from tests.factories import phone_number

SEND = "/api/auth/send-otp/"
VERIFY = "/api/auth/verify-otp/"


@pytest.fixture
def new_phone() -> str:
    return phone_number(90_000_001)


@pytest.fixture
def send_code(api_client, sms_outbox, django_capture_on_commit_callbacks):
    """``send_code(phone)`` → the code texted to the phone (read from the SMS outbox)."""

    def send(phone: str, **extra) -> str:
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post(SEND, {"phone": phone}, **extra)
        assert response.status_code == 200, response.json()
        sent_to, message = sms_outbox[-1]
        assert sent_to == response.json()["data"]["phone"]
        return re.match(r"^(\d+) ", message).group(1)

    return send


@pytest.fixture
def login(api_client, send_code):
    """``login(phone)`` → the verify-otp response data (tokens, user, created)."""

    def do_login(phone: str) -> dict:
        code = send_code(phone)
        response = api_client.post(VERIFY, {"phone": phone, "code": code})
        assert response.status_code == 200, response.json()
        return response.json()["data"]

    return do_login
