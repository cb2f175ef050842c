"""Push delivery end to end: ``services.notify`` → after commit → not connected → the
``notifications.send_push`` task → the real backends → the fake providers on loopback.

Once per device (retried, duplicated or concurrent tasks), dead tokens deactivated for good,
transient failures retried with backoff, and no push at all for a user whose notification socket is
open.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache
from django.utils import timezone

from signaling.presence import get_presence
from telehealth.notifications import services, tasks
from telehealth.notifications.models import Device, PushAttempt
from telehealth.notifications.push import backend_name, get_backend, override_backend
from telehealth.notifications.push.base import PushBackend, PushResult
from telehealth.notifications.push.console import ConsoleBackend
from tests.notifications.push_fixtures import *  # noqa: F403  (fixtures)
from tests.notifications.push_fixtures import fcm_token

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback_only")]


def run(notification) -> dict:
    return tasks.send_push.apply(args=(notification.pk,)).get()


def attempts(notification) -> dict[int, str]:
    return dict(PushAttempt.objects.filter(notification=notification).values_list("device_id", "status"))


@pytest.fixture
def devices(android_device, ios_device, web_device) -> list[Device]:
    return [android_device, ios_device, web_device]


@pytest.fixture
def connected(patient):
    """``patient`` has a live notification socket (its presence entry, as the consumer writes it)."""
    presence, room = get_presence(), services.presence_room(patient.pk)
    async_to_sync(presence.put)(room, "specific.test!notify", {"user_id": str(patient.pk), "role": "patient"})
    yield
    async_to_sync(presence.remove)(room, "specific.test!notify")


@pytest.fixture
def notify(django_capture_on_commit_callbacks):
    """``notify(user, kind, **fields)`` as an event would, then what runs after commit (delivery)."""

    def send(user, kind="appointment_confirmed", **fields):
        fields.setdefault("title", "Appointment confirmed")
        with django_capture_on_commit_callbacks(execute=True):
            return services.notify(user, kind, **fields)

    return send


class Recording(PushBackend):
    """A backend that answers what it is told and remembers every send."""

    name = "recording"

    def __init__(self, *results: PushResult) -> None:
        self.results = list(results)
        self.sent: list[tuple[int, object]] = []

    def send(self, device, message):
        self.sent.append((device.pk, message))
        return self.results.pop(0) if self.results else PushResult.sent()


# --- who gets a push ------------------------------------------------------------------------------------


def test_a_user_without_a_socket_gets_a_push_on_every_device(patient, devices, live_push, subscriber, notify):
    notification = notify(patient, data={"x": 1})

    assert (
        len(live_push.fcm.delivered())
        == len(live_push.apns.delivered())
        == len(live_push.web.delivered())
        == 1
    )
    assert attempts(notification) == {device.pk: "sent" for device in devices}
    for device in Device.objects.filter(pk__in=[d.pk for d in devices]):
        assert device.last_push_at is not None
    expected = {"x": 1, "notification_id": notification.pk, "kind": "appointment_confirmed"}
    assert live_push.apns.delivered()[0].body["data"] == expected
    assert subscriber.decrypt(live_push.web.delivered()[0].body)["data"] == expected
    assert live_push.fcm.delivered()[0].body["message"]["data"] == {
        "x": "1",
        "notification_id": str(notification.pk),
        "kind": "appointment_confirmed",
    }


def test_a_user_with_an_open_socket_gets_no_push(patient, devices, live_push, connected, notify):
    notification = notify(patient)

    assert live_push.fcm.sends() == live_push.apns.requests == live_push.web.requests == []
    assert attempts(notification) == {}


def test_the_push_follows_the_socket_closing(patient, android_device, live_push, notify):
    presence, room = get_presence(), services.presence_room(patient.pk)
    async_to_sync(presence.put)(room, "specific.app!notify", {"user_id": str(patient.pk)})
    notify(patient)
    async_to_sync(presence.remove)(room, "specific.app!notify")  # the app went to the background

    later = notify(patient)

    assert [r.body["message"]["data"]["notification_id"] for r in live_push.fcm.sends()] == [str(later.pk)]


def test_a_socket_silent_past_the_idle_timeout_does_not_count(
    patient, android_device, live_push, settings, notify
):
    presence, room = get_presence(), services.presence_room(patient.pk)
    stale = time.time() - settings.WS_IDLE_TIMEOUT_SECONDS - 5
    async_to_sync(presence.put)(room, "specific.dead!notify", {"user_id": str(patient.pk)}, last_seen=stale)
    try:
        notify(patient)
    finally:
        async_to_sync(presence.remove)(room, "specific.dead!notify")

    assert len(live_push.fcm.delivered()) == 1


def test_only_the_recipients_active_devices_are_pushed(
    patient, other_patient, android_device, ios_device, make_notification
):
    services.deactivate_device(ios_device, "gone")
    services.register_device(other_patient, services.DeviceRegistration("android", fcm_token()))
    with override_backend(Recording()) as backend:
        run(make_notification(patient))

    assert [device_id for device_id, _ in backend.sent] == [android_device.pk]


def test_the_push_carries_title_body_and_data_only(patient, android_device, make_notification):
    notification = make_notification(patient, kind="payment_succeeded", title="Payment received", body="")
    with override_backend(Recording()) as backend:
        run(notification)

    [(_, message)] = backend.sent
    assert (message.title, message.body) == ("Payment received", "")
    assert message.data == {
        **notification.data,
        "notification_id": notification.pk,
        "kind": "payment_succeeded",
    }
    assert message.collapse_id == f"notification-{notification.pk}"


def test_time_critical_kinds_expire_sooner(patient, android_device, make_notification, settings):
    settings.PUSH_TTL_SECONDS = 86_400
    with override_backend(Recording()) as backend:
        ready = make_notification(patient, kind="doctor_ready")
        run(ready)
        booked = make_notification(patient, kind="appointment_booked")
        run(booked)

    (_, ready_message), (_, booked_message) = backend.sent
    assert ready_message.expires_at == ready.created_at + timedelta(minutes=15)
    assert booked_message.expires_at == booked.created_at + timedelta(days=1)


def test_nothing_is_pushed_once_read_or_expired(patient, android_device, make_notification):
    read = make_notification(patient, read_at=timezone.now())
    stale = make_notification(patient, kind="doctor_ready", created_at=timezone.now() - timedelta(minutes=16))
    with override_backend(Recording()) as backend:
        assert run(read)["skipped"] == "read"
        assert run(stale)["skipped"] == "expired"

    assert backend.sent == []
    assert PushAttempt.objects.count() == 0


# --- once per device -------------------------------------------------------------------------------------


def test_running_the_task_twice_pushes_once_per_device(patient, devices, live_push, make_notification):
    notification = make_notification(patient)

    first, second = run(notification), run(notification)

    assert first["sent"] == 3
    assert second == {"sent": 0, "invalid_token": 0, "failed": 0, "waiting": 0, "skipped": ""}
    assert len(live_push.fcm.sends()) == len(live_push.apns.requests) == len(live_push.web.requests) == 1


def test_a_copy_running_at_the_same_time_leaves_the_devices_alone(patient, android_device, make_notification):
    notification = make_notification(patient)
    cache.add(f"notifications:push-lock:{notification.pk}", "other-worker", 60)
    with override_backend(Recording()) as backend:
        report = tasks.send_push.apply(args=(notification.pk,), retries=tasks.PUSH_MAX_RETRIES).get()

    assert report["skipped"] == "busy"
    assert backend.sent == []


def test_a_busy_notification_is_retried_not_dropped(
    patient, android_device, make_notification, inline_retries, monkeypatch
):
    notification = make_notification(patient)
    lock = f"notifications:push-lock:{notification.pk}"
    cache.add(lock, "other-worker", 60)
    monkeypatch.setattr(tasks, "push_retry_countdown", lambda n: cache.delete(lock) or 0)  # it finishes

    with override_backend(Recording()) as backend:
        assert run(notification)["sent"] == 1

    assert len(backend.sent) == 1


# --- dead tokens ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", ["android", "ios", "web"])
def test_a_dead_token_deactivates_the_device_and_is_never_pushed_again(
    patient, devices, live_push, make_notification, platform
):
    device = next(d for d in devices if d.platform == platform)
    fake = {"android": live_push.fcm, "ios": live_push.apns, "web": live_push.web}[platform]
    if platform == "android":
        live_push.fcm.unregistered.add(device.token)
    elif platform == "ios":
        live_push.apns.unregistered.add(device.token)
    else:
        live_push.web.drop(device.token)
    requests_to = (lambda: fake.sends()) if platform == "android" else (lambda: fake.requests)

    first = make_notification(patient)
    assert run(first)["invalid_token"] == 1
    device.refresh_from_db()
    assert device.active is False
    assert device.deactivated_reason
    assert attempts(first)[device.pk] == "invalid_token"

    second = make_notification(patient)
    run(second)
    assert len(requests_to()) == 1
    assert device.pk not in attempts(second)
    assert set(attempts(second).values()) == {"sent"}  # the other devices still get theirs


def test_registering_a_deactivated_token_again_revives_it(
    patient, android_device, live_push, make_notification
):
    live_push.fcm.unregistered.add(android_device.token)
    run(make_notification(patient))
    live_push.fcm.unregistered.clear()  # the app reinstalled and got the token back

    services.register_device(patient, services.DeviceRegistration("android", android_device.token))
    run(make_notification(patient))

    assert [r.status for r in live_push.fcm.sends()] == [404, 200]


# --- transient failures ------------------------------------------------------------------------------------


def test_transient_failures_are_retried_with_backoff_then_succeed(
    patient, android_device, ios_device, live_push, make_notification, inline_retries, monkeypatch
):
    live_push.fcm.fail_next(503, times=2)
    backoffs: list[int] = []
    monkeypatch.setattr(tasks, "push_retry_countdown", lambda n: backoffs.append(n) or 0)
    notification = make_notification(patient)

    report = run(notification)

    assert report["sent"] == 1  # the last run pushed the one device left
    assert [r.status for r in live_push.fcm.sends()] == [503, 503, 200]
    assert len(live_push.apns.requests) == 1  # sent on the first run, not again
    assert attempts(notification) == {android_device.pk: "sent", ios_device.pk: "sent"}
    assert backoffs == [0, 1]


def test_giving_up_after_the_last_retry_records_a_failure(
    patient, android_device, live_push, make_notification, inline_retries, monkeypatch
):
    live_push.fcm.fail_next(503, times=tasks.PUSH_MAX_RETRIES + 1)
    monkeypatch.setattr(tasks, "push_retry_countdown", lambda n: 0)
    notification = make_notification(patient)

    report = run(notification)

    assert report["failed"] == 1
    assert len(live_push.fcm.sends()) == tasks.PUSH_MAX_RETRIES + 1
    attempt = PushAttempt.objects.get(notification=notification)
    assert (attempt.status, attempt.detail) == ("failed", "gave up: FCM 503 UNAVAILABLE: fake failure")
    android_device.refresh_from_db()
    assert android_device.active is True  # an outage is not the token's fault


def test_the_providers_retry_after_is_honoured(patient, android_device, make_notification, monkeypatch):
    class Retried(Exception):
        pass

    countdowns: list[int] = []
    monkeypatch.setattr(
        tasks.send_push, "retry", lambda countdown, **kw: countdowns.append(countdown) or Retried()
    )
    monkeypatch.setattr(tasks, "push_retry_countdown", lambda n: 3)
    with override_backend(Recording(PushResult.retry("slow down", retry_after=120))), pytest.raises(Retried):
        run(make_notification(patient))

    assert countdowns == [120]


def test_a_permanent_failure_is_recorded_and_not_retried(patient, android_device, make_notification):
    with override_backend(Recording(PushResult.failed("FCM 400 INVALID_ARGUMENT: payload"))) as backend:
        notification = make_notification(patient)
        assert run(notification)["failed"] == 1
        run(notification)

    assert len(backend.sent) == 1
    assert attempts(notification) == {android_device.pk: "failed"}


def test_backoff_grows_with_jitter_and_is_capped():
    samples = {n: {tasks.push_retry_countdown(n) for _ in range(200)} for n in (0, 3, 20)}

    assert max(samples[0]) <= tasks.PUSH_BACKOFF_SECONDS
    assert max(samples[3]) <= tasks.PUSH_BACKOFF_SECONDS * 8
    assert len(samples[3]) > 1  # jitter
    assert max(samples[20]) <= tasks.PUSH_BACKOFF_MAX_SECONDS
    assert tasks.send_push.name == "notifications.send_push"
    assert tasks.send_push.acks_late is True
    assert tasks.send_push.reject_on_worker_lost is True
    assert tasks.send_push.max_retries == tasks.PUSH_MAX_RETRIES


# --- configuration ---------------------------------------------------------------------------------------


def test_console_is_the_default_and_logs_ids_only(patient, android_device, web_device, caplog, notify):
    with caplog.at_level(logging.INFO, logger="telehealth.notifications.push"):
        notification = notify(
            patient, "prescription_issued", title="New prescription", body="Open the app", data={"rx": "p-77"}
        )

    assert attempts(notification) == {android_device.pk: "sent", web_device.pk: "sent"}
    lines = [r.getMessage() for r in caplog.records if r.name == "telehealth.notifications.push"]
    assert (
        f"Push (console): notification {notification.pk} (prescription_issued) to android device " in lines[0]
    )
    text = "\n".join(lines)
    for secret in ("New prescription", "Open the app", "p-77", android_device.token, web_device.token):
        assert secret not in text


def test_live_routes_each_platform_to_its_provider(settings):
    assert {p: backend_name(p) for p in ("android", "ios", "web")} == dict.fromkeys(
        ("android", "ios", "web"), "console"
    )
    settings.PUSH_BACKEND = "live"
    assert {p: backend_name(p) for p in ("android", "ios", "web")} == {
        "android": "fcm",
        "ios": "apns",
        "web": "webpush",
    }
    settings.PUSH_BACKEND = "console"
    assert isinstance(get_backend("ios"), ConsoleBackend)


def test_a_platform_without_settings_fails_its_devices_only(
    patient, android_device, ios_device, live_push, make_notification, settings, caplog
):
    settings.APNS_KEY_ID = ""
    notification = make_notification(patient)

    with caplog.at_level(logging.ERROR, logger="telehealth.notifications.push"):
        report = run(notification)

    assert (report["sent"], report["failed"]) == (1, 1)
    assert PushAttempt.objects.get(device=ios_device).detail.startswith("not configured: PUSH_BACKEND=live")
    assert "needs APNS_KEY_ID" in caplog.text
    assert len(live_push.fcm.delivered()) == 1
