"""A doctor's availability as patients see it: ``busy`` while one of their consultations is in
progress, ``online`` while they have a notification socket open, ``offline`` otherwise.

The status is computed from the database and presence (so it is right after any process dies) and
published to the ``doctor-status.<doctor user id>`` group whenever it changes: on the doctor's
notification socket opening or closing, and after any consultation of theirs is saved.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from clinical.models import Consultation, ConsultationState

logger = logging.getLogger("telehealth.notifications")

ONLINE, BUSY, OFFLINE = "online", "busy", "offline"
_CACHE_TTL = 24 * 3600
# The states a consultation enters when a doctor becomes busy (in_progress) or stops being busy.
_BUSY_EDGES = frozenset(
    {
        ConsultationState.IN_PROGRESS,
        ConsultationState.COMPLETED,
        ConsultationState.CANCELLED,
        ConsultationState.NO_SHOW,
    }
)


def status_group(doctor_id: Any) -> str:
    return f"doctor-status.{doctor_id}"


def _cache_key(doctor_id: Any) -> str:
    return f"notifications:doctor-status:{doctor_id}"


def compute_status(doctor_id: Any) -> str:
    from telehealth.notifications.services import is_connected

    if Consultation.objects.filter(doctor_id=doctor_id, state=ConsultationState.IN_PROGRESS).exists():
        return BUSY
    return ONLINE if is_connected(doctor_id) else OFFLINE


def status_frame(doctor_id: Any) -> dict[str, Any]:
    """The doctor's current status, with the time it last changed (if this platform saw it)."""
    status = compute_status(doctor_id)
    known = cache.get(_cache_key(doctor_id))
    since = known["since"] if known and known["status"] == status else None
    return {"type": "doctor_status", "doctor_id": str(doctor_id), "status": status, "since": since}


def publish(doctor_id: Any) -> str:
    """Recompute and, if it changed, tell every subscriber. Returns the status."""
    status = compute_status(doctor_id)
    known = cache.get(_cache_key(doctor_id))
    if known and known["status"] == status:
        return status
    since = timezone.now().isoformat().replace("+00:00", "Z")
    cache.set(_cache_key(doctor_id), {"status": status, "since": since}, _CACHE_TTL)
    frame = {"type": "doctor_status", "doctor_id": str(doctor_id), "status": status, "since": since}
    try:
        async_to_sync(get_channel_layer().group_send)(
            status_group(doctor_id), {"type": "notify.doctor_status", "frame": frame}
        )
    except Exception:
        logger.exception("Could not publish the status of doctor %s", doctor_id)
    return status


@receiver(post_save, sender=Consultation, dispatch_uid="notifications.doctor_status")
def _consultation_saved(
    sender, instance: Consultation, raw: bool = False, update_fields: frozenset[str] | None = None, **kwargs
) -> None:
    if raw or (update_fields is not None and "state" not in update_fields):
        return
    if instance.state not in _BUSY_EDGES:  # only entering or leaving in_progress changes it
        return
    doctor_id = instance.doctor_id
    transaction.on_commit(lambda: publish(doctor_id))
