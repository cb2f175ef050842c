"""Consultation rules used by the live rooms: who may join, lifecycle changes, and the room's
sequenced log (chat messages and events share one per-room sequence with no gaps)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from clinical import vitals as vital_rules
from clinical.models import (
    TERMINAL_STATES,
    ChatMessage,
    Consultation,
    ConsultationEvent,
    ConsultationState,
    EventKind,
    VitalSign,
)
from telehealth.accounts.models import User


class RoomAccessError(Exception):
    """Refusal to join a room; ``close_code`` is the websocket close code that says why."""

    def __init__(self, close_code: int, reason: str) -> None:
        super().__init__(reason)
        self.close_code = close_code
        self.reason = reason


class InvalidTransition(Exception):
    def __init__(self, current: str, requested: str) -> None:
        super().__init__(f"A {current} consultation cannot become {requested}.")
        self.current = current
        self.requested = requested


@dataclass(frozen=True)
class RoomAccess:
    consultation_id: str
    role: str  # "patient" or "doctor"
    state: str
    type: str
    patient_id: str
    doctor_id: str
    scheduled_start: datetime
    scheduled_end: datetime
    last_seq: int


CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_NOT_JOINABLE = 4409
ROOM_ACCESS_FIELDS = (
    "pk",
    "patient_id",
    "doctor_id",
    "state",
    "type",
    "scheduled_start",
    "duration_minutes",
    "last_seq",
)


def check_room_access(consultation_id: str, user: User, *, now: datetime | None = None) -> RoomAccess:
    """May ``user`` join the room of this consultation now? Only its patient and doctor may, once it
    is paid for; the patient only inside the time window, the doctor (the host) whenever it is not
    over, unless their verification was refused or revoked. One query (it runs on every connect),
    reading only the columns the room needs: no clinical content."""
    from clinical.models import DoctorProfile, VerificationStatus

    now = now or timezone.now()
    row = (
        Consultation.objects.filter(pk=consultation_id)
        .annotate(
            doctor_revoked=Exists(
                DoctorProfile.objects.filter(
                    user_id=OuterRef("doctor_id"), verification_status=VerificationStatus.REJECTED
                )
            )
        )
        .values(*ROOM_ACCESS_FIELDS, "doctor_revoked")
        .first()
    )
    if row is None:
        raise RoomAccessError(CLOSE_NOT_FOUND, "No such consultation.")
    if user.pk == row["patient_id"]:
        role = "patient"
    elif user.pk == row["doctor_id"]:
        role = "doctor"
    else:
        raise RoomAccessError(CLOSE_FORBIDDEN, "Only the consultation's patient and doctor may join.")
    state = row["state"]
    if state in TERMINAL_STATES:
        raise RoomAccessError(CLOSE_NOT_JOINABLE, f"The consultation is {state}.")
    if role == "doctor" and row["doctor_revoked"]:
        raise RoomAccessError(CLOSE_FORBIDDEN, "Your verification was revoked: no consultations.")
    if state == ConsultationState.PENDING_PAYMENT:
        # Not even the doctor: nothing happens in a room until the booking is paid for.
        raise RoomAccessError(CLOSE_NOT_JOINABLE, "The consultation is awaiting payment.")
    scheduled_end = row["scheduled_start"] + timedelta(minutes=row["duration_minutes"])
    if role == "patient" and state != ConsultationState.IN_PROGRESS:
        opens = row["scheduled_start"] - timedelta(minutes=settings.ROOM_JOIN_EARLY_MINUTES)
        closes = scheduled_end + timedelta(minutes=settings.ROOM_JOIN_LATE_MINUTES)
        if not opens <= now <= closes:
            raise RoomAccessError(
                CLOSE_NOT_JOINABLE,
                f"The room opens at {opens.isoformat()} and closes at {closes.isoformat()}.",
            )
    return RoomAccess(
        consultation_id=str(row["pk"]),
        role=role,
        state=state,
        type=row["type"],
        patient_id=str(row["patient_id"]),
        doctor_id=str(row["doctor_id"]),
        scheduled_start=row["scheduled_start"],
        scheduled_end=scheduled_end,
        last_seq=row["last_seq"],
    )


def _allocate_seq(consultation_id: str) -> int:
    """Next number in the room's log. Must run inside the transaction that writes the row: the
    UPDATE locks the consultation until commit, so numbers are handed out in commit order."""
    Consultation.objects.filter(pk=consultation_id).update(last_seq=F("last_seq") + 1)
    return Consultation.objects.filter(pk=consultation_id).values_list("last_seq", flat=True).get()


_STATE_TIMESTAMPS = {
    ConsultationState.WAITING: "waiting_since",
    ConsultationState.IN_PROGRESS: "started_at",
    ConsultationState.COMPLETED: "ended_at",
    ConsultationState.CANCELLED: "ended_at",
    ConsultationState.NO_SHOW: "ended_at",
}


def transition_consultation(
    consultation_id: str,
    to_state: str,
    *,
    actor: User | None,
    expected_from: frozenset[str] | None = None,
) -> ConsultationEvent:
    """Move the consultation to ``to_state`` and log a state event. Illegal moves are refused, and
    so are moves from a state outside ``expected_from`` when given (an action's precondition)."""
    with transaction.atomic():
        consultation = Consultation.objects.select_for_update().get(pk=consultation_id)
        allowed = consultation.can_transition(to_state)
        if not allowed or (expected_from is not None and consultation.state not in expected_from):
            raise InvalidTransition(consultation.state, to_state)
        previous = consultation.state
        now = timezone.now()
        consultation.state = to_state
        fields = ["state", "updated_at"]
        if stamp := _STATE_TIMESTAMPS.get(to_state):
            setattr(consultation, stamp, now)
            fields.append(stamp)
        consultation.save(update_fields=fields)
        return ConsultationEvent.objects.create(
            consultation_id=consultation_id,
            seq=_allocate_seq(consultation_id),
            kind=EventKind.STATE,
            actor=actor,
            payload={"from": previous, "to": to_state},
            created_at=now,
        )


class _Duplicate(Exception):
    def __init__(self, message: ChatMessage) -> None:
        self.message = message


def store_chat_message(
    consultation_id: str,
    sender: User,
    *,
    sender_role: str,
    client_id: str,
    text: str,
    attachment_id: str | None = None,
) -> tuple[ChatMessage, bool]:
    """Store a chat message and give it the next sequence number. A retry with the same
    ``client_id`` from the same sender stores nothing and returns the first message."""
    lookup = {"consultation_id": consultation_id, "sender": sender, "client_id": client_id}
    try:
        with transaction.atomic():
            seq = _allocate_seq(consultation_id)
            if existing := ChatMessage.objects.filter(**lookup).first():
                raise _Duplicate(existing)  # rolls the sequence number back
            message = ChatMessage.objects.create(
                **lookup, seq=seq, sender_role=sender_role, text=text, attachment_id=attachment_id
            )
    except _Duplicate as duplicate:
        return duplicate.message, False
    except IntegrityError:  # the same retry raced us on another connection
        return ChatMessage.objects.get(**lookup), False
    return message, True


@dataclass(frozen=True)
class Reading:
    kind: str
    unit: str
    value: float
    value2: float | None
    measured_at: datetime


def store_vitals(
    consultation_id: str, patient: User, readings: list[Reading], *, client_id: str = ""
) -> tuple[list[VitalSign], list[ConsultationEvent]]:
    """Store readings (already validated) and log an alert event for each abnormal one."""
    with transaction.atomic():
        rows, alerts = [], []
        for reading in readings:
            abnormal = vital_rules.abnormal_fields(reading.kind, reading.unit, reading.value, reading.value2)
            rows.append(
                VitalSign(
                    consultation_id=consultation_id,
                    patient=patient,
                    kind=reading.kind,
                    unit=reading.unit,
                    value=Decimal(str(reading.value)),
                    value2=None if reading.value2 is None else Decimal(str(reading.value2)),
                    measured_at=reading.measured_at,
                    is_abnormal=bool(abnormal),
                    client_id=client_id,
                )
            )
        VitalSign.objects.bulk_create(rows)
        for row, reading in zip(rows, readings, strict=True):
            if not row.is_abnormal:
                continue
            abnormal = vital_rules.abnormal_fields(reading.kind, reading.unit, reading.value, reading.value2)
            alerts.append(
                ConsultationEvent.objects.create(
                    consultation_id=consultation_id,
                    seq=_allocate_seq(consultation_id),
                    kind=EventKind.ALERT,
                    actor=patient,
                    payload={
                        "kind": reading.kind,
                        "unit": reading.unit,
                        "value": reading.value,
                        "value2": reading.value2,
                        "measured_at": reading.measured_at.isoformat(),
                        "normal_range": {field: list(bounds) for field, bounds in abnormal.items()},
                    },
                )
            )
    return rows, alerts


def mark_read(consultation_id: str, role: str, up_to_seq: int) -> int:
    """Remember how far a participant has read; never moves backwards. Returns the stored value."""
    field = "patient_read_seq" if role == "patient" else "doctor_read_seq"
    with transaction.atomic():
        consultation = (
            Consultation.objects.select_for_update().only(field, "last_seq").get(pk=consultation_id)
        )
        value = max(getattr(consultation, field), min(up_to_seq, consultation.last_seq))
        Consultation.objects.filter(pk=consultation_id).update(**{field: value})
    return value


def room_log_after(consultation_id: str, after_seq: int, *, limit: int = 500) -> list[Any]:
    """Chat messages and events with ``seq > after_seq``, in order, at most ``limit``."""
    messages = list(
        ChatMessage.objects.filter(consultation_id=consultation_id, seq__gt=after_seq)
        .select_related("sender")
        .order_by("seq")[:limit]
    )
    events = list(
        ConsultationEvent.objects.filter(consultation_id=consultation_id, seq__gt=after_seq)
        .select_related("actor")
        .order_by("seq")[:limit]
    )
    return sorted(messages + events, key=lambda row: row.seq)[:limit]
