"""A real Celery worker on Redis: round trip, health, and SMS delivery through the HTTP backend."""

from __future__ import annotations

import re

import pytest

from tests.factories import phone_number

pytestmark = [pytest.mark.celery_worker, pytest.mark.redis]

SMS_TOKEN = "live-sms-token-123"


def _http_sms_env(provider) -> dict[str, str]:
    return {"SMS_BACKEND": "http", "SMS_HTTP_URL": provider.url, "SMS_HTTP_TOKEN": SMS_TOKEN}


def test_ping_round_trip_and_detailed_health(celery_worker, settings, api_client):
    from telehealth.celery import ping

    assert ping.delay().get(timeout=15) == "pong"
    assert "telehealth.ping" in celery_worker.log()

    response = api_client.get("/health/detailed/")
    assert response.status_code == 200, response.json()
    checks = response.json()["data"]["checks"]
    assert checks["celery"]["status"] == "ok"
    assert checks["celery"]["workers"] >= 1
    assert checks["redis"]["status"] == "ok"
    assert checks["channel_layer"]["backend"] == "LocalFirstRedisChannelLayer"


def test_sms_and_otp_delivered_by_worker_through_http_backend(
    start_celery_worker, fake_sms_provider, api_client
):
    from telehealth.accounts.tasks import send_sms

    start_celery_worker(_http_sms_env(fake_sms_provider))
    phone = phone_number(7101)

    send_sms.delay(phone, "Hello from the live test").get(timeout=15)
    [request] = fake_sms_provider.wait_for_delivered(1)
    assert request.method == "POST"
    assert request.path == "/sms"
    assert request.headers["authorization"] == f"Bearer {SMS_TOKEN}"
    assert request.body == {"to": phone, "from": "TELEHEALTH", "message": "Hello from the live test"}

    # The OTP flow end to end: the in-process view queues the task on commit, the worker texts it.
    sent = api_client.post("/api/auth/send-otp/", {"phone": phone})
    assert sent.status_code == 200, sent.json()
    otp_sms = fake_sms_provider.wait_for_delivered(2)[-1]
    assert otp_sms.body["to"] == phone
    code = re.match(r"(\d+) is your Telehealth login code", otp_sms.body["message"]).group(1)
    verified = api_client.post("/api/auth/verify-otp/", {"phone": phone, "code": code})
    assert verified.status_code == 200, verified.json()
    assert verified.json()["data"]["access"]


def test_sms_retried_with_backoff_until_provider_accepts(start_celery_worker, fake_sms_provider):
    from telehealth.accounts.tasks import send_sms

    fake_sms_provider.fail_first = 2
    worker = start_celery_worker(_http_sms_env(fake_sms_provider))
    phone = phone_number(7102)

    # retry_backoff=2 with full jitter: the first retry waits 0-2 s, the second 0-4 s.
    send_sms.delay(phone, "Retry me").get(timeout=20)
    requests = fake_sms_provider.requests
    assert [r.status for r in requests] == [500, 500, 200]
    assert all(r.body["message"] == "Retry me" for r in requests)
    assert all(r.headers["authorization"] == f"Bearer {SMS_TOKEN}" for r in requests)
    delays = [
        int(d)
        for d in re.findall(
            r"retry: Retry in (\d+)s: SMSDeliveryError\('SMS provider answered HTTP 500'\)", worker.log()
        )
    ]
    assert len(delays) == 2, worker.log_tail()
    assert delays[0] <= 2
    assert delays[1] <= 4
    for delay, before, after in zip(delays, requests, requests[1:], strict=False):
        assert after.at - before.at >= delay - 0.5  # the countdown was honoured


def test_task_log_lines_carry_the_request_id(celery_worker, api_client):
    phone = phone_number(7103)
    sent = api_client.post("/api/auth/send-otp/", {"phone": phone})
    assert sent.status_code == 200, sent.json()
    request_id = sent["X-Request-ID"]
    line = celery_worker.wait_for_log(r".*telehealth\.sms: SMS to .*", timeout=10).group(0)
    assert f"[{request_id}]" in line, line
