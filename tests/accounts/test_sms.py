"""SMS backends against a fake provider on loopback: no test reaches the internet."""

from __future__ import annotations

import logging

import pytest

from telehealth.accounts.sms import ConsoleSMSBackend, HTTPSMSBackend, SMSDeliveryError
from telehealth.accounts.tasks import send_sms
from tests.fakes import running_sms_provider


@pytest.fixture
def http_sms(settings, fake_sms_provider):
    settings.SMS_BACKEND = "telehealth.accounts.sms.HTTPSMSBackend"
    settings.SMS_HTTP_URL = fake_sms_provider.url
    settings.SMS_HTTP_TOKEN = "provider-token"
    settings.SMS_HTTP_SENDER = "CLINIC"
    return fake_sms_provider


def test_http_backend_posts_json_with_bearer_token(http_sms):
    HTTPSMSBackend().send("+919800000001", "123456 is your code")
    [request] = http_sms.delivered
    assert request.method == "POST"
    assert request.body == {"to": "+919800000001", "from": "CLINIC", "message": "123456 is your code"}
    assert request.headers["authorization"] == "Bearer provider-token"


def test_http_backend_raises_on_provider_error(http_sms):
    http_sms.fail_first = 1
    with pytest.raises(SMSDeliveryError, match="HTTP 500"):
        HTTPSMSBackend().send("+919800000001", "hello")


def test_http_backend_raises_when_provider_is_down(settings):
    with running_sms_provider() as provider:
        url = provider.url
    settings.SMS_HTTP_URL = url  # nothing listens there any more
    with pytest.raises(SMSDeliveryError, match="unreachable"):
        HTTPSMSBackend().send("+919800000001", "hello")


def test_send_otp_goes_through_the_task_to_the_http_provider(
    http_sms, api_client, db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/auth/send-otp/", {"phone": "+919800000002"})
    assert response.status_code == 200
    [request] = http_sms.delivered
    assert request.body["to"] == "+919800000002"
    assert "is your Telehealth login code" in request.body["message"]


def test_task_retries_provider_failures(http_sms):
    http_sms.fail_first = 1
    # Eager tasks re-run their retries inline; the second attempt is delivered.
    send_sms.apply(args=("+919800000003", "hello"), throw=False)
    assert [r.status for r in http_sms.requests] == [500, 200]


def test_console_backend_logs_the_message(caplog):
    with caplog.at_level(logging.INFO, logger="telehealth.sms"):
        ConsoleSMSBackend().send("+919800000004", "654321 is your code")
    assert "+919800000004: 654321 is your code" in caplog.text
