"""Notifications: store one row per recipient, then, after the transaction that caused it commits,
hand it to the recipient's notification sockets, or, if they have none open, to their devices.

Callers use ``notify`` (usually through the event functions in ``events.py``) inside their own
transaction; nothing leaves the process before that transaction commits, so a rolled-back booking
never announces itself.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import IntegrityError, transaction
from django.utils import timezone

from telehealth.accounts.models import User
from telehealth.notifications.models import Device, Notification

logger = logging.getLogger("telehealth.notifications")

RESUME_BATCH = 200


def user_group(user_id: Any) -> str:
    """The channel-layer group of one user's notification sockets (any process)."""
    return f"notify.user.{user_id}"


def presence_room(user_id: Any) -> str:
    """The presence "room" in which a user's notification sockets register themselves."""
    return f"user:{user_id}"


def notification_frame(notification: Notification) -> dict[str, Any]:
    return {
        "type": "notification",
        "notification": {
            "id": notification.pk,
            "kind": notification.kind,
            "title": notification.title,
            "body": notification.body,
            "data": notification.data,
            "created_at": notification.created_at.isoformat().replace("+00:00", "Z"),
            "read": notification.read_at is not None,
        },
    }


def notify(
    recipient: User | Any,
    kind: str,
    *,
    title: str,
    body: str = "",
    data: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> Notification | None:
    """Store a notification for ``recipient`` (a user or a user id) and deliver it after commit.

    With a ``dedupe_key`` a second call for the same recipient and key stores and sends nothing
    and returns None: that is what makes scheduled reminders safe to run twice.
    """
    recipient_id = getattr(recipient, "pk", recipient)
    fields = {"kind": kind, "title": title[:200], "body": body[:500], "data": data or {}}
    if dedupe_key is not None:
        try:
            with transaction.atomic():
                notification = Notification.objects.create(
                    recipient_id=recipient_id, dedupe_key=dedupe_key, **fields
                )
        except IntegrityError:
            return None
    else:
        notification = Notification.objects.create(recipient_id=recipient_id, **fields)
    transaction.on_commit(lambda: deliver(notification))
    return notification


def notify_many(recipients: Iterable[User | Any], kind: str, **fields: Any) -> list[Notification]:
    return [n for r in recipients if (n := notify(r, kind, **fields)) is not None]


def is_connected(user_id: Any) -> bool:
    """True if the user has a live notification socket on any server process."""
    from signaling.presence import get_presence, is_stale

    try:
        entries = get_presence().entries_sync(presence_room(user_id))
    except Exception:  # presence unknown: push as well rather than stay silent
        logger.warning("Presence lookup failed for user %s", user_id, exc_info=True)
        return False
    return any(not is_stale(entry) for entry in entries.values())


def deliver(notification: Notification) -> None:
    """Socket if connected, push otherwise. Called after commit; failures never undo the
    notification, which stays in the inbox and reaches the app on its next ``resume``."""
    connected = is_connected(notification.recipient_id)
    if connected:
        try:
            async_to_sync(get_channel_layer().group_send)(
                user_group(notification.recipient_id),
                {"type": "notify.deliver", "frame": notification_frame(notification)},
            )
        except Exception:
            logger.exception("Could not hand notification %s to the channel layer", notification.pk)
            connected = False
    if not connected and Device.objects.filter(user_id=notification.recipient_id, active=True).exists():
        from telehealth.notifications.tasks import send_push

        try:
            send_push.delay(notification.pk)
        except Exception:
            logger.exception("Could not queue push for notification %s", notification.pk)


# --- Inbox ------------------------------------------------------------------------------------------


def inbox_of(user: User):
    return Notification.objects.filter(recipient=user)


def unread_count(user: User) -> int:
    return unread_count_of(user.pk)


def unread_count_of(user_id: Any) -> int:
    return Notification.objects.filter(recipient_id=user_id, read_at__isnull=True).count()


def has_unread(recipient_id: Any, kind: str, consultation_id: Any) -> bool:
    """Is there an unread notification of this kind about this consultation? (One is enough:
    fifty chat messages while the doctor is away make one "new message", not fifty pushes.)"""
    return Notification.objects.filter(
        recipient_id=recipient_id, kind=kind, read_at__isnull=True, data__consultation_id=str(consultation_id)
    ).exists()


def mark_read(user: User, notification_ids: Iterable[int]) -> int:
    """Marks the user's own notifications read; ids of other users' notifications are ignored."""
    return (
        inbox_of(user)
        .filter(pk__in=list(notification_ids), read_at__isnull=True)
        .update(read_at=timezone.now())
    )


def mark_all_read(user: User) -> int:
    return inbox_of(user).filter(read_at__isnull=True).update(read_at=timezone.now())


def notifications_after(user_id: Any, after_id: int, *, limit: int = RESUME_BATCH) -> list[Notification]:
    """What an app that saw everything up to ``after_id`` missed, oldest first."""
    return list(Notification.objects.filter(recipient_id=user_id, pk__gt=after_id).order_by("pk")[:limit])


def latest_id(user_id: Any) -> int:
    return (
        Notification.objects.filter(recipient_id=user_id).order_by("-pk").values_list("pk", flat=True).first()
        or 0
    )


# --- Devices ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeviceRegistration:
    platform: str
    token: str
    web_push_keys: dict[str, str] | None = None


def register_device(user: User, registration: DeviceRegistration) -> Device:
    """Upsert by (platform, token): the same token registered again moves to this user and is
    active again (an app reinstalled or a phone handed over)."""
    device, _ = Device.objects.update_or_create(
        platform=registration.platform,
        token=registration.token,
        defaults={
            "user": user,
            "web_push_keys": registration.web_push_keys,
            "active": True,
            "deactivated_reason": "",
        },
    )
    return device


def unregister_device(user: User, *, platform: str | None, token: str) -> bool:
    devices = Device.objects.filter(user=user, token=token)
    if platform:
        devices = devices.filter(platform=platform)
    return devices.delete()[0] > 0


def deactivate_device(device: Device, reason: str) -> None:
    Device.objects.filter(pk=device.pk).update(active=False, deactivated_reason=reason[:200])
