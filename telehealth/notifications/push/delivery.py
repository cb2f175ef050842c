"""Pushing one notification to each active device of its recipient, once per device.

Each device's outcome is stored as a ``PushAttempt`` (unique per notification and device) the
moment it is known, and a device that already has one is never sent to again: a task that is
retried, redelivered after a worker died (``acks_late``) or queued twice pushes only to the devices
still waiting. Two copies running at the same moment are kept apart by a short cache lock. What is
left is a worker dying between a provider's "sent" and the row being written; that one send is
repeated, and the collapse id (the same for every send of a notification) makes the device show
it once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from telehealth.notifications import services
from telehealth.notifications.models import (
    Device,
    Notification,
    NotificationKind,
    PushAttempt,
    PushStatus,
)
from telehealth.notifications.push import get_backend
from telehealth.notifications.push.base import Outcome, PushMessage, PushResult, short

logger = logging.getLogger("telehealth.notifications.push")

# Worth a push only while the moment lasts: a "doctor is ready" an hour late is noise.
SHORT_LIVED_KINDS = {
    NotificationKind.DOCTOR_READY,
    NotificationKind.PATIENT_WAITING,
    NotificationKind.CONSULTATION_STARTING_SOON,
}
SHORT_LIVED_TTL_SECONDS = 15 * 60
# Longer than any one run (a few devices, each bounded by PUSH_TIMEOUT_SECONDS).
LOCK_SECONDS = 300

_STATUS_FOR = {
    Outcome.SENT: PushStatus.SENT,
    Outcome.INVALID_TOKEN: PushStatus.INVALID_TOKEN,
    Outcome.FAILED: PushStatus.FAILED,
}


@dataclass
class DeliveryReport:
    sent: int = 0
    invalid_token: int = 0
    failed: int = 0
    waiting: int = 0  # devices with a transient failure, left for a retry
    retry_after: float | None = None  # the longest wait a provider asked for
    skipped: str = ""  # why nothing was attempted: gone, read, expired, busy

    def count(self, outcome: Outcome) -> None:
        name = _STATUS_FOR[outcome].value
        setattr(self, name, getattr(self, name) + 1)

    @property
    def needs_retry(self) -> bool:
        return self.waiting > 0 or self.skipped == "busy"

    def summary(self) -> dict[str, int | str]:
        return {
            "sent": self.sent,
            "invalid_token": self.invalid_token,
            "failed": self.failed,
            "waiting": self.waiting,
            "skipped": self.skipped,
        }


def ttl_for(kind: str) -> int:
    ttl = settings.PUSH_TTL_SECONDS
    return min(ttl, SHORT_LIVED_TTL_SECONDS) if kind in SHORT_LIVED_KINDS else ttl


def message_for(notification: Notification) -> PushMessage:
    """Title, body and data (the notification's data plus its id and kind), nothing more."""
    return PushMessage(
        title=notification.title,
        body=notification.body,
        data={**notification.data, "notification_id": notification.pk, "kind": notification.kind},
        collapse_id=f"notification-{notification.pk}",
        expires_at=notification.created_at + timedelta(seconds=ttl_for(notification.kind)),
    )


def push_notification(notification_id: int, *, final: bool = False) -> DeliveryReport:
    """Push the notification to every active device of its recipient that has not had it yet.

    Transient failures are left for the caller to retry (``report.needs_retry``); with ``final``
    (no retries left) they are recorded as failed instead. Nothing is pushed for a notification
    already read in the app, or past its time to live.
    """
    notification = Notification.objects.filter(pk=notification_id).first()
    if notification is None:
        return DeliveryReport(skipped="gone")
    if notification.read_at is not None:
        return DeliveryReport(skipped="read")
    message = message_for(notification)
    if message.ttl_seconds() == 0:
        return DeliveryReport(skipped="expired")

    lock_key = f"notifications:push-lock:{notification_id}"
    if not cache.add(lock_key, True, LOCK_SECONDS):
        return DeliveryReport(skipped="busy")
    try:
        report = DeliveryReport()
        devices = (
            Device.objects.filter(user_id=notification.recipient_id, active=True)
            .exclude(push_attempts__notification=notification)
            .order_by("pk")
        )
        for device in devices:
            result = _send(device, message)
            if result.outcome == Outcome.RETRY and not final:
                report.waiting += 1
                report.retry_after = max(report.retry_after or 0.0, result.retry_after or 0.0) or None
                logger.warning(
                    "Push of notification %s to device %s failed for now: %s",
                    notification.pk,
                    device.pk,
                    result.detail,
                )
                continue
            if result.outcome == Outcome.RETRY:
                result = PushResult.failed(short(f"gave up: {result.detail}"))
            _record(notification, device, result)
            report.count(result.outcome)
        return report
    finally:
        cache.delete(lock_key)


def _send(device: Device, message: PushMessage) -> PushResult:
    try:
        backend = get_backend(device.platform)
    except ImproperlyConfigured as exc:
        logger.error("Cannot push to %s device %s: %s", device.platform, device.pk, exc)
        return PushResult.failed(short(f"not configured: {exc}"))
    try:
        return backend.send(device, message)
    except Exception:  # a bug in a backend must not stop the other devices
        logger.exception("Push backend %s raised for device %s", backend.name, device.pk)
        return PushResult.retry("backend error")


def _record(notification: Notification, device: Device, result: PushResult) -> None:
    status = _STATUS_FOR[result.outcome]
    with transaction.atomic():
        _, created = PushAttempt.objects.get_or_create(
            notification=notification,
            device=device,
            defaults={"status": status, "detail": result.detail[:300]},
        )
        if not created:
            return
        if result.outcome == Outcome.SENT:
            Device.objects.filter(pk=device.pk).update(last_push_at=timezone.now())
        elif result.outcome == Outcome.INVALID_TOKEN:
            services.deactivate_device(device, result.detail)
            logger.info("Deactivated %s device %s: %s", device.platform, device.pk, result.detail)
        else:
            logger.warning(
                "Push of notification %s to device %s failed: %s", notification.pk, device.pk, result.detail
            )
