"""Room operations the consumer calls (on the storage threads): thin wrappers over the clinical
services that return ready-to-send frames."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from clinical import services as clinical
from clinical.models import Consultation, ConsultationState
from signaling import frames
from signaling.protocol import CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED, VitalsFrame
from telehealth.accounts.models import User
from telehealth.accounts.services import user_for_token

logger = logging.getLogger("telehealth.signaling")


@dataclass(frozen=True)
class StateChange:
    frame: dict[str, Any]
    state: str


def roles_of(consultation_id: str) -> dict[str, str]:
    patient_id, doctor_id = Consultation.objects.values_list("patient_id", "doctor_id").get(
        pk=consultation_id
    )
    return {str(patient_id): "patient", str(doctor_id): "doctor"}


def current_seq(consultation_id: str) -> int:
    return Consultation.objects.values_list("last_seq", flat=True).get(pk=consultation_id)


def open_room(token, room_id: str) -> tuple[User, clinical.RoomAccess]:
    """Who is connecting, and may they enter this room now? One trip to the database for a
    connect (the user, then the room), checked in the order the close codes promise: 4401 before
    4404 before 4403/4409. Raises ``RoomAccessError``."""
    user = user_for_token(token)
    if user is None:
        raise clinical.RoomAccessError(CLOSE_UNAUTHENTICATED, "Not signed in, or the session ended.")
    try:
        consultation_id = str(uuid.UUID(room_id))
    except ValueError:
        raise clinical.RoomAccessError(CLOSE_NOT_FOUND, "No such consultation.") from None
    return user, clinical.check_room_access(consultation_id, user)


def room_position(consultation_id: str, *, notify: tuple[str, str] | None = None) -> int:
    """The room's current ``seq`` (read after the socket joined the room's group), and, with
    ``notify=(kind, recipient_id)``, the absent participant told (``notify_absent``). A failed
    notification never fails the connect: it is a courtesy."""
    if notify is not None:
        kind, recipient_id = notify
        try:
            notify_absent(consultation_id, kind, recipient_id=recipient_id)
        except Exception:
            logger.warning(
                "Could not notify the absent participant of room %s", consultation_id, exc_info=True
            )
    return current_seq(consultation_id)


def change_state(
    consultation_id: str, to_state: str, actor: User, expected_from: frozenset[str] | None = None
) -> StateChange:
    event = clinical.transition_consultation(
        consultation_id, to_state, actor=actor, expected_from=expected_from
    )
    return StateChange(frames.event_frame(event, roles_of(consultation_id)), to_state)


def admit_patient(consultation_id: str, doctor: User) -> StateChange:
    """waiting → in_progress: only when a patient is actually waiting."""
    return change_state(
        consultation_id, ConsultationState.IN_PROGRESS, doctor, frozenset({ConsultationState.WAITING})
    )


def end_consultation(consultation_id: str, doctor: User) -> StateChange:
    return change_state(
        consultation_id, ConsultationState.COMPLETED, doctor, frozenset({ConsultationState.IN_PROGRESS})
    )


def patient_arrives(consultation_id: str, patient: User) -> StateChange | None:
    """scheduled → waiting when the patient is first in; None when already waiting."""
    state = Consultation.objects.values_list("state", flat=True).get(pk=consultation_id)
    if state != ConsultationState.SCHEDULED:
        return None
    try:
        return change_state(consultation_id, ConsultationState.WAITING, patient)
    except clinical.InvalidTransition:  # another socket of the patient got there first
        return None


def post_chat_message(
    consultation_id: str, sender: User, role: str, client_id: str, text: str, attachment_id
) -> tuple[dict[str, Any], bool]:
    message, created = clinical.store_chat_message(
        consultation_id,
        sender,
        sender_role=role,
        client_id=client_id,
        text=text,
        attachment_id=str(attachment_id) if attachment_id else None,
    )
    return frames.chat_frame(message), created


def record_vitals(
    consultation_id: str, patient: User, frame: VitalsFrame
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    now = timezone.now()
    readings = [
        clinical.Reading(r.kind, r.unit, r.value, r.value2, r.measured_at or now) for r in frame.readings
    ]
    rows, alerts = clinical.store_vitals(consultation_id, patient, readings, client_id=frame.id or "")
    roles = roles_of(consultation_id)
    sender = {"user_id": str(patient.pk), "role": "patient"}
    return frames.vitals_frame(rows, sender), [frames.event_frame(alert, roles) for alert in alerts]


def mark_read(consultation_id: str, role: str, up_to_seq: int) -> int:
    return clinical.mark_read(consultation_id, role, up_to_seq)


def log_after(consultation_id: str, after_seq: int, limit: int) -> list[dict[str, Any]]:
    roles = roles_of(consultation_id)
    return [
        frames.log_frame(row, roles)
        for row in clinical.room_log_after(consultation_id, after_seq, limit=limit)
    ]


# --- Telling a participant who is not in the room ----------------------------------------------


def notify_absent(consultation_id: str, kind: str, *, recipient_id: str, seq: int | None = None) -> bool:
    """Notify the other participant, who is not in the room, that the doctor is ready, a patient
    is waiting or a message came (unless an unread notification of that kind about this
    consultation is already there). Returns whether a notification was stored."""
    from telehealth.notifications import events
    from telehealth.notifications import services as notifications
    from telehealth.notifications.models import NotificationKind

    if notifications.has_unread(recipient_id, kind, consultation_id):
        return False
    consultation = Consultation.objects.get(pk=consultation_id)
    if kind == NotificationKind.DOCTOR_READY:
        events.doctor_ready(consultation)
    elif kind == NotificationKind.PATIENT_WAITING:
        events.patient_waiting(consultation)
    elif kind == NotificationKind.CHAT_MESSAGE:
        roles = {str(consultation.patient_id): "doctor", str(consultation.doctor_id): "patient"}
        events.chat_message(
            consultation, recipient_id=recipient_id, seq=seq or 0, sender_role=roles[str(recipient_id)]
        )
    else:
        raise ValueError(f"not a room notification: {kind}")
    return True
