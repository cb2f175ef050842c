"""Push delivery end to end on a real Celery worker: an API call (an admin verifies a doctor)
stores a notification, the web process queues the push on Redis, the worker sends it through the
real Web Push backend to a fake push service on loopback, and the attempt is visible afterwards."""

from __future__ import annotations

import time

import pytest

from telehealth.notifications.models import Notification, PushAttempt
from tests.factories import DoctorProfileFactory, UserFactory
from tests.notifications.push_fixtures import *  # noqa: F403  (fixtures)
from tests.notifications.push_fixtures import VAPID_SUBJECT

pytestmark = [pytest.mark.celery_worker, pytest.mark.redis]


def _wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_verifying_a_doctor_pushes_to_their_browser_through_the_worker(
    start_celery_worker, settings, client_for, fake_push_service, subscriber, vapid_raw
):
    settings.WEB_PUSH_ALLOW_INSECURE_ENDPOINTS = True  # the fake push service is http on loopback
    worker = start_celery_worker(
        {
            "PUSH_BACKEND": "live",
            "VAPID_PRIVATE_KEY": vapid_raw,
            "VAPID_SUBJECT": VAPID_SUBJECT,
            "WEB_PUSH_ALLOW_INSECURE_ENDPOINTS": "true",
        }
    )
    profile = DoctorProfileFactory(verification_status="pending")
    admin = UserFactory(role="admin")
    endpoint = fake_push_service.new_endpoint()
    registered = client_for(profile.user).post(
        "/api/notifications/devices/",
        {"platform": "web", "endpoint": endpoint, "keys": subscriber.keys()},
        format="json",
    )
    assert registered.status_code == 201, registered.json()

    verified = client_for(admin).post(f"/api/doctors/{profile.user_id}/verify/")
    assert verified.status_code == 200, verified.json()

    notification = Notification.objects.get(recipient=profile.user, kind="doctor_verification")
    [delivery] = _wait_for(fake_push_service.delivered, timeout=20)
    assert delivery.path == endpoint.removeprefix(fake_push_service.url)
    pushed = subscriber.decrypt(delivery.body)
    assert pushed["data"]["notification_id"] == notification.pk
    attempt = _wait_for(lambda: PushAttempt.objects.filter(notification=notification).first())
    assert attempt.status == "sent"
    assert "notifications.send_push" in worker.log()
