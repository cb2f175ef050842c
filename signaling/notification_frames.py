"""Every frame the server sends on the notifications socket (``/ws/notifications/``), as pydantic
models.

Documentation and validation only, like ``server_frames`` for the room: the consumer
(``signaling.notifications``) and the services it calls build plain dicts. These models feed the
AsyncAPI document (``signaling.asyncapi``) and the tests, which validate every frame a real
notifications session produces, and the payload each event of
``telehealth.notifications.events`` stores, with ``validate_notification_frame``.

Same conventions as ``server_frames``: a field typed ``X | None`` without a default is always
present and may be ``null``; every object is closed, so a new field (or a new key in a
notification's ``data``) must be documented here. ``pong`` and ``error`` are the room's frames.

``notification.data`` depends on ``notification.kind``: ``NOTIFICATION_KINDS`` maps every
``NotificationKind`` to its data model, its recipients and when it is sent, and ``notification``
is a union of one model per kind, discriminated by ``kind``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model

from clinical.models import ConsultationState, NoShowParty, VerificationStatus
from signaling.server_frames import (
    ClientId,
    ErrorFrame,
    PongFrame,
    ServerFrame,
    Timestamp,
    UnknownServerFrame,
)
from telehealth.notifications.models import NotificationKind as Kind

NotificationId = Annotated[
    int, Field(ge=1, description="The notification's id: increasing per user, never reused.")
]
LatestId = Annotated[int, Field(ge=0, description="The highest notification id of the user (0: none yet).")]
MinorUnits = Annotated[int, Field(ge=0, description="An amount in minor units (paise, cents).")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. INR.")]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- notification.data, per kind ------------------------------------------------------------------


class ConsultationNotificationData(_Closed):
    """About one consultation: its id, start, state when the notification was made, and the path of
    its room socket."""

    consultation_id: UUID
    scheduled_start: Timestamp
    state: ConsultationState = Field(description="The consultation's state when this was sent.")
    room: str = Field(
        pattern=r"^/ws/consultations/[0-9a-f-]{36}/$",
        description="The consultation room socket's path, e.g. /ws/consultations/<id>/.",
    )


class RescheduledNotificationData(ConsultationNotificationData):
    """The new consultation (a reschedule books a new one), plus the one it replaces."""

    previous_consultation_id: UUID = Field(description="The consultation that was rescheduled.")
    previous_start: Timestamp = Field(description="Its start, before the reschedule.")


class ReminderNotificationData(ConsultationNotificationData):
    """A consultation that starts in about 24 hours."""

    window: Literal["24h"]


class StartingSoonNotificationData(ConsultationNotificationData):
    """A consultation that starts in about 15 minutes."""

    window: Literal["15m"]


class NoShowNotificationData(ConsultationNotificationData):
    """A consultation marked no-show, and who did not come."""

    no_show_party: NoShowParty = Field(description="Who did not come: patient or doctor.")


class ChatNotificationData(ConsultationNotificationData):
    """A chat message in a consultation whose room the recipient is not in (never its text)."""

    seq: int = Field(ge=0, description="The message's seq in the room log (resume the room from it).")
    sender_role: Literal["patient", "doctor"]


class PrescriptionNotificationData(_Closed):
    """An issued prescription (open it with GET /api/prescriptions/{prescription_id}/)."""

    prescription_id: UUID
    consultation_id: UUID
    issued_at: Timestamp


class MedicationReminderNotificationData(_Closed):
    """One scheduled dose of one prescription item (the medicine itself is not named)."""

    prescription_id: UUID
    item_id: int = Field(ge=1, description="The prescription item's id.")
    dose_at: Timestamp = Field(description="When the dose is due.")


class PaymentNotificationData(_Closed):
    """A payment for a consultation."""

    payment_id: UUID
    consultation_id: UUID
    amount: MinorUnits
    currency: Currency


class RefundNotificationData(PaymentNotificationData):
    """A refund of (part of) a payment; ``amount`` is the payment's."""

    refund_id: UUID
    refund_amount: int = Field(ge=1, description="The refund, in minor units.")


class DoctorVerificationNotificationData(_Closed):
    """An admin's decision on the doctor's profile (the reason, if any, is on the profile)."""

    doctor_id: UUID
    status: VerificationStatus


class ClinicLowStockNotificationData(_Closed):
    """An inventory item of a clinic fell to or below its low-stock threshold."""

    clinic_id: int = Field(ge=1)
    inventory_item_id: int = Field(ge=1)
    stock: int = Field(ge=0, description="Units left.")
    threshold: int = Field(ge=0, description="The item's low-stock threshold.")


@dataclass(frozen=True)
class KindDoc:
    """What a notification kind carries, who gets it and when."""

    data: type[BaseModel]
    recipients: str
    when: str


NOTIFICATION_KINDS: dict[str, KindDoc] = {
    Kind.APPOINTMENT_BOOKED.value: KindDoc(
        ConsultationNotificationData,
        "patient, doctor",
        "A consultation was booked (`state` `pending_payment` until a fee is paid, else `scheduled`).",
    ),
    Kind.APPOINTMENT_CONFIRMED.value: KindDoc(
        ConsultationNotificationData, "patient, doctor", "The booking's payment went through."
    ),
    Kind.APPOINTMENT_RESCHEDULED.value: KindDoc(
        RescheduledNotificationData,
        "patient, doctor",
        "A consultation was moved: a new consultation replaces it.",
    ),
    Kind.APPOINTMENT_CANCELLED.value: KindDoc(
        ConsultationNotificationData,
        "patient and doctor, except whoever cancelled",
        "A consultation was cancelled (by a participant, or by the system when unpaid).",
    ),
    Kind.APPOINTMENT_REMINDER.value: KindDoc(
        ReminderNotificationData, "patient, doctor", "About 24 hours before the start; once."
    ),
    Kind.CONSULTATION_STARTING_SOON.value: KindDoc(
        StartingSoonNotificationData, "patient, doctor", "About 15 minutes before the start; once."
    ),
    Kind.CONSULTATION_NO_SHOW.value: KindDoc(
        NoShowNotificationData, "patient, doctor", "The consultation was marked no-show; once."
    ),
    Kind.DOCTOR_READY.value: KindDoc(
        ConsultationNotificationData,
        "patient",
        "The doctor entered the room and the patient is not in it.",
    ),
    Kind.PATIENT_WAITING.value: KindDoc(
        ConsultationNotificationData,
        "doctor",
        "The patient is in the waiting room and the doctor is not in the room.",
    ),
    Kind.PRESCRIPTION_ISSUED.value: KindDoc(
        PrescriptionNotificationData, "patient", "The doctor issued a prescription."
    ),
    Kind.MEDICATION_REMINDER.value: KindDoc(
        MedicationReminderNotificationData,
        "patient",
        "A dose of a prescribed medicine is due; once per dose.",
    ),
    Kind.PAYMENT_SUCCEEDED.value: KindDoc(
        PaymentNotificationData, "patient", "A payment succeeded; once per payment."
    ),
    Kind.PAYMENT_REFUNDED.value: KindDoc(
        RefundNotificationData, "patient", "A refund was issued; once per refund."
    ),
    Kind.CHAT_MESSAGE.value: KindDoc(
        ChatNotificationData,
        "the other participant, when not in the room",
        "A chat message came; one unread notification per consultation at a time.",
    ),
    Kind.DOCTOR_VERIFICATION.value: KindDoc(
        DoctorVerificationNotificationData, "doctor", "An admin verified or rejected the profile."
    ),
    Kind.CLINIC_LOW_STOCK.value: KindDoc(
        ClinicLowStockNotificationData,
        "the clinic's admins",
        "An inventory adjustment took an item to or below its threshold.",
    ),
}


class NotificationBase(_Closed):
    """Fields every notification has, whatever its kind."""

    id: NotificationId
    title: str = Field(max_length=200, description="A short, user-facing line; no clinical content.")
    body: str = Field(max_length=500, description="May be empty; no clinical content.")
    created_at: Timestamp
    read: bool = Field(description="Marked read (mark_read, or the REST inbox) by any of your apps.")


def _camel(kind: str) -> str:
    return "".join(part.capitalize() for part in kind.split("_"))


def _kind_model(kind: str, doc: KindDoc) -> type[NotificationBase]:
    return create_model(  # type: ignore[call-overload]
        f"{_camel(kind)}Notification",
        __base__=NotificationBase,
        __doc__=f"``{kind}``: {doc.when} To: {doc.recipients}.",
        __module__=__name__,
        kind=(Literal[kind], ...),
        data=(doc.data, Field(description=" ".join((doc.data.__doc__ or "").split()))),
    )


NOTIFICATION_MODELS: dict[str, type[NotificationBase]] = {
    kind: _kind_model(kind, doc) for kind, doc in NOTIFICATION_KINDS.items()
}


class NotificationItem(RootModel):
    """A stored notification as the socket sends it; ``kind`` decides the shape of ``data`` (ids,
    times, amounts and links, never clinical content)."""

    root: Annotated[
        Union[tuple(NOTIFICATION_MODELS.values())],  # type: ignore[valid-type]  # noqa: UP007
        Field(discriminator="kind"),
    ]


# --- Frames ---------------------------------------------------------------------------------------


class ConnectedFrame(ServerFrame):
    """First frame after the handshake: who you are, your unread count and latest notification id,
    and the heartbeat timing. A ``?last_id=`` replay follows it."""

    type: Literal["connected"]
    user_id: UUID
    unread: int = Field(ge=0, description="How many of your notifications are unread.")
    latest_id: LatestId
    heartbeat_seconds: int = Field(ge=1, description="Send a ping at least this often.")
    idle_timeout_seconds: int = Field(ge=1, description="Silent sockets are closed (4408) after this.")


class NotificationFrame(ServerFrame):
    """A notification for you: live, or replayed by ``resume`` / ``?last_id=`` (oldest first). Each
    id reaches a connection at most once."""

    type: Literal["notification"]
    notification: NotificationItem


class DoctorStatusFrame(ServerFrame):
    """A followed doctor's status: right after the ``subscribe_doctor_status`` ack, then on every
    change. ``busy`` while one of their consultations is in progress, ``online`` while they have a
    notifications socket open, else ``offline``."""

    type: Literal["doctor_status"]
    doctor_id: UUID
    status: Literal["online", "busy", "offline"]
    since: Timestamp | None = Field(
        description="When the doctor entered this status, null if the server did not see it happen."
    )


class _Ack(ServerFrame):
    type: Literal["ack"]
    id: ClientId


class NotificationResumeAck(_Ack):
    """Ack of ``resume``, after the replay."""

    for_: Literal["resume"] = Field(alias="for")
    replayed: int = Field(ge=0, description="How many notifications were replayed.")
    latest_id: LatestId


class MarkReadAck(_Ack):
    """Ack of ``mark_read``."""

    for_: Literal["mark_read"] = Field(alias="for")
    marked: int = Field(ge=0, description="How many were unread and are now read (others' ids ignored).")
    unread: int = Field(ge=0, description="Your unread count now.")


class DoctorStatusSubscriptionAck(_Ack):
    """Ack of ``subscribe_doctor_status`` (the current ``doctor_status`` follows) or
    ``unsubscribe_doctor_status``."""

    for_: Literal["subscribe_doctor_status", "unsubscribe_doctor_status"] = Field(alias="for")
    doctor_id: UUID


class NotificationAckFrame(RootModel):
    """Success answer to a client frame (all but ``ping``), echoing its ``id``; ``for`` is the
    client frame's type and decides the other fields."""

    root: Annotated[
        Union[NotificationResumeAck, MarkReadAck, DoctorStatusSubscriptionAck],  # noqa: UP007
        Field(discriminator="for_"),
    ]


# --- Registry -------------------------------------------------------------------------------------

NOTIFICATION_SERVER_FRAMES: dict[str, type[BaseModel]] = {
    "connected": ConnectedFrame,
    "notification": NotificationFrame,
    "doctor_status": DoctorStatusFrame,
    "pong": PongFrame,
    "ack": NotificationAckFrame,
    "error": ErrorFrame,
}


def validate_notification_frame(frame: dict[str, Any]) -> None:
    """Raise ``UnknownServerFrame`` for a type the notifications socket never sends,
    ``pydantic.ValidationError`` (also a ``ValueError``) when the frame does not match its model."""
    frame_type = frame.get("type") if isinstance(frame, dict) else None
    model = NOTIFICATION_SERVER_FRAMES.get(frame_type) if isinstance(frame_type, str) else None
    if model is None:
        raise UnknownServerFrame(f"Unknown notifications frame type {frame_type!r}.")
    model.model_validate(frame)


# --- Examples (shapes of real frames; the tests validate each one) ------------------------------

_PATIENT = "5b0c1f8e-6d3a-4c2e-9a41-0f2b7d9e3c11"
_DOCTOR = "8a7e2d44-1b9c-4f3e-8d2a-6c5b4a3f2e10"
_CONSULTATION = "3f6c9a2e-8b1d-4e7f-a5c3-9d2e1f0b8a76"
_PREVIOUS = "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"
_PRESCRIPTION = "6e4d2c1b-0a9f-4e8d-b7c6-5a4b3c2d1e0f"
_PAYMENT = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
_REFUND = "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"
_START = "2026-03-02T10:00:00Z"


def _consultation(state: str = "scheduled", **extra: Any) -> dict[str, Any]:
    return {
        "consultation_id": _CONSULTATION,
        "scheduled_start": _START,
        "state": state,
        "room": f"/ws/consultations/{_CONSULTATION}/",
        **extra,
    }


# One ``data`` per kind, as ``telehealth.notifications.events`` builds it.
NOTIFICATION_DATA_EXAMPLES: dict[str, dict[str, Any]] = {
    "appointment_booked": _consultation("pending_payment"),
    "appointment_confirmed": _consultation(),
    "appointment_rescheduled": _consultation(
        previous_consultation_id=_PREVIOUS, previous_start="2026-03-01T09:30:00Z"
    ),
    "appointment_cancelled": _consultation("cancelled"),
    "appointment_reminder": _consultation(window="24h"),
    "consultation_starting_soon": _consultation(window="15m"),
    "consultation_no_show": _consultation("no_show", no_show_party="patient"),
    "doctor_ready": _consultation(),
    "patient_waiting": _consultation("waiting"),
    "prescription_issued": {
        "prescription_id": _PRESCRIPTION,
        "consultation_id": _CONSULTATION,
        "issued_at": "2026-03-02T10:29:12.406Z",
    },
    "medication_reminder": {
        "prescription_id": _PRESCRIPTION,
        "item_id": 311,
        "dose_at": "2026-03-03T08:00:00Z",
    },
    "payment_succeeded": {
        "payment_id": _PAYMENT,
        "consultation_id": _CONSULTATION,
        "amount": 50000,
        "currency": "INR",
    },
    "payment_refunded": {
        "payment_id": _PAYMENT,
        "consultation_id": _CONSULTATION,
        "amount": 50000,
        "currency": "INR",
        "refund_id": _REFUND,
        "refund_amount": 25000,
    },
    "chat_message": _consultation("in_progress", seq=7, sender_role="doctor"),
    "doctor_verification": {"doctor_id": _DOCTOR, "status": "verified"},
    "clinic_low_stock": {"clinic_id": 12, "inventory_item_id": 87, "stock": 9, "threshold": 10},
}
_TITLES = {
    "appointment_booked": "Appointment booked: awaiting payment",
    "appointment_confirmed": "Appointment confirmed",
    "appointment_rescheduled": "Appointment rescheduled",
    "appointment_cancelled": "Appointment cancelled",
    "appointment_reminder": "Appointment tomorrow",
    "consultation_starting_soon": "Your consultation starts soon",
    "consultation_no_show": "Consultation missed",
    "doctor_ready": "Your doctor is ready",
    "patient_waiting": "A patient is waiting",
    "prescription_issued": "New prescription",
    "medication_reminder": "Time for your medication",
    "payment_succeeded": "Payment received",
    "payment_refunded": "Refund issued",
    "chat_message": "New message in your consultation",
    "doctor_verification": "Your profile is verified",
    "clinic_low_stock": "Low stock at Clinic Indiranagar",
}
_BODIES = {"appointment_booked": "Your consultation is booked.", "doctor_ready": "Join the consultation now."}


def _notification_example(n: int, kind: str) -> dict[str, Any]:
    return {
        "type": "notification",
        "notification": {
            "id": 1040 + n,
            "kind": kind,
            "title": _TITLES[kind],
            "body": _BODIES.get(kind, ""),
            "data": NOTIFICATION_DATA_EXAMPLES[kind],
            "created_at": f"2026-03-02T09:{n:02d}:41.118Z",
            "read": False,
        },
    }


NOTIFICATION_SERVER_EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "connected": [
        {
            "type": "connected",
            "user_id": _PATIENT,
            "unread": 3,
            "latest_id": 1041,
            "heartbeat_seconds": 15,
            "idle_timeout_seconds": 45,
        }
    ],
    "notification": [_notification_example(n, kind) for n, kind in enumerate(NOTIFICATION_DATA_EXAMPLES, 1)],
    "doctor_status": [
        {
            "type": "doctor_status",
            "doctor_id": _DOCTOR,
            "status": "online",
            "since": "2026-03-02T09:41:07.552Z",
        },
        {"type": "doctor_status", "doctor_id": _DOCTOR, "status": "offline", "since": None},
    ],
    "pong": [{"type": "pong", "id": "hb-3", "ts": "2026-03-02T09:45:00.010Z"}],
    "ack": [
        {"type": "ack", "id": "r-1", "for": "resume", "replayed": 2, "latest_id": 1041},
        {"type": "ack", "id": "m-1", "for": "mark_read", "marked": 2, "unread": 1},
        {"type": "ack", "id": "s-1", "for": "subscribe_doctor_status", "doctor_id": _DOCTOR},
        {"type": "ack", "id": "u-1", "for": "unsubscribe_doctor_status", "doctor_id": _DOCTOR},
    ],
    "error": [
        {"type": "error", "id": "s-2", "code": "NOT_FOUND", "message": "No such doctor.", "details": {}},
        {
            "type": "error",
            "id": None,
            "code": "VALIDATION_ERROR",
            "message": "last_id must be a whole number; starting live instead.",
            "details": {"last_id": ["Must be a whole number >= 0."]},
        },
        {
            "type": "error",
            "id": "x-1",
            "code": "UNKNOWN_TYPE",
            "message": "Unknown frame type 'chat_message'.",
            "details": {
                "known_types": [
                    "mark_read",
                    "ping",
                    "resume",
                    "subscribe_doctor_status",
                    "unsubscribe_doctor_status",
                ]
            },
        },
    ],
}
