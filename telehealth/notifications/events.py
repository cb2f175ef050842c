"""One function per event the platform tells users about. Each decides the recipients and the
payload and calls ``services.notify`` inside the caller's transaction (sent after commit).

Payloads carry ids, times, amounts and links, never clinical content (no complaint, diagnosis,
medication names or chat text): they also travel through FCM, APNs and Web Push.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from telehealth.notifications.models import Notification
from telehealth.notifications.models import NotificationKind as Kind
from telehealth.notifications.services import notify

if TYPE_CHECKING:
    from clinical.models import Clinic, Consultation, DoctorProfile, InventoryItem, Prescription
    from payments.models import Payment, Refund


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def room_link(consultation_id: Any) -> str:
    return f"/ws/consultations/{consultation_id}/"


def _consultation_data(consultation: Consultation, **extra: Any) -> dict[str, Any]:
    return {
        "consultation_id": str(consultation.pk),
        "scheduled_start": _iso(consultation.scheduled_start),
        "state": consultation.state,
        "room": room_link(consultation.pk),
        **extra,
    }


def _both(consultation: Consultation) -> tuple[Any, Any]:
    return consultation.patient_id, consultation.doctor_id


def appointment_booked(consultation: Consultation) -> list[Notification]:
    data = _consultation_data(consultation)
    awaiting = consultation.state == "pending_payment"
    return [
        notify(
            consultation.patient_id,
            Kind.APPOINTMENT_BOOKED,
            title="Appointment booked" + (": awaiting payment" if awaiting else ""),
            body="Your consultation is booked.",
            data=data,
        ),
        notify(consultation.doctor_id, Kind.APPOINTMENT_BOOKED, title="New appointment", data=data),
    ]


def appointment_confirmed(consultation: Consultation) -> list[Notification]:
    data = _consultation_data(consultation)
    return [
        notify(recipient, Kind.APPOINTMENT_CONFIRMED, title="Appointment confirmed", data=data)
        for recipient in _both(consultation)
    ]


def appointment_rescheduled(old: Consultation, new: Consultation) -> list[Notification]:
    data = _consultation_data(
        new, previous_consultation_id=str(old.pk), previous_start=_iso(old.scheduled_start)
    )
    return [
        notify(recipient, Kind.APPOINTMENT_RESCHEDULED, title="Appointment rescheduled", data=data)
        for recipient in _both(new)
    ]


def appointment_cancelled(consultation: Consultation, *, by: Any = None) -> list[Notification]:
    """Tells both sides except the one who cancelled (``by``: a user or user id, None = system)."""
    actor_id = getattr(by, "pk", by)
    data = _consultation_data(consultation)
    return [
        notify(recipient, Kind.APPOINTMENT_CANCELLED, title="Appointment cancelled", data=data)
        for recipient in _both(consultation)
        if str(recipient) != str(actor_id)
    ]


def appointment_reminder(consultation: Consultation, *, window: str) -> list[Notification]:
    """``window`` is ``"24h"`` or ``"15m"``; each is sent once per consultation and recipient."""
    kind = Kind.APPOINTMENT_REMINDER if window == "24h" else Kind.CONSULTATION_STARTING_SOON
    title = "Appointment tomorrow" if window == "24h" else "Your consultation starts soon"
    data = _consultation_data(consultation, window=window)
    sent = [
        notify(recipient, kind, title=title, data=data, dedupe_key=f"reminder-{window}:{consultation.pk}")
        for recipient in _both(consultation)
    ]
    return [n for n in sent if n is not None]


def consultation_no_show(consultation: Consultation) -> list[Notification]:
    data = _consultation_data(consultation, no_show_party=consultation.no_show_party)
    return [
        notify(
            recipient,
            Kind.CONSULTATION_NO_SHOW,
            title="Consultation missed",
            data=data,
            dedupe_key=f"no-show:{consultation.pk}",
        )
        for recipient in _both(consultation)
    ]


def doctor_ready(consultation: Consultation) -> Notification | None:
    """The doctor entered the room and the patient is not in it."""
    return notify(
        consultation.patient_id,
        Kind.DOCTOR_READY,
        title="Your doctor is ready",
        body="Join the consultation now.",
        data=_consultation_data(consultation),
    )


def patient_waiting(consultation: Consultation) -> Notification | None:
    """The patient is in the waiting room and the doctor is not in the room."""
    return notify(
        consultation.doctor_id,
        Kind.PATIENT_WAITING,
        title="A patient is waiting",
        data=_consultation_data(consultation),
    )


def chat_message(
    consultation: Consultation, *, recipient_id: Any, seq: int, sender_role: str
) -> Notification | None:
    return notify(
        recipient_id,
        Kind.CHAT_MESSAGE,
        title="New message in your consultation",
        data=_consultation_data(consultation, seq=seq, sender_role=sender_role),
    )


def prescription_issued(prescription: Prescription) -> Notification | None:
    return notify(
        prescription.patient_id,
        Kind.PRESCRIPTION_ISSUED,
        title="New prescription",
        data={
            "prescription_id": str(prescription.pk),
            "consultation_id": str(prescription.consultation_id),
            "issued_at": _iso(prescription.issued_at),
        },
    )


def medication_reminder(
    patient_id: Any, *, prescription_id: Any, item_id: Any, dose_at: datetime
) -> Notification | None:
    """Once per dose (the key is the dose's UTC time)."""
    return notify(
        patient_id,
        Kind.MEDICATION_REMINDER,
        title="Time for your medication",
        data={"prescription_id": str(prescription_id), "item_id": item_id, "dose_at": _iso(dose_at)},
        dedupe_key=f"medication:{item_id}:{dose_at.strftime('%Y%m%dT%H%MZ')}",
    )


def _payment_data(payment: Payment, **extra: Any) -> dict[str, Any]:
    return {
        "payment_id": str(payment.pk),
        "consultation_id": str(payment.consultation_id),
        "amount": payment.amount,
        "currency": payment.currency,
        **extra,
    }


def payment_succeeded(payment: Payment) -> Notification | None:
    return notify(
        payment.patient_id,
        Kind.PAYMENT_SUCCEEDED,
        title="Payment received",
        data=_payment_data(payment),
        dedupe_key=f"payment-succeeded:{payment.pk}",
    )


def payment_refunded(payment: Payment, refund: Refund) -> Notification | None:
    return notify(
        payment.patient_id,
        Kind.PAYMENT_REFUNDED,
        title="Refund issued",
        data=_payment_data(payment, refund_id=str(refund.pk), refund_amount=refund.amount),
        dedupe_key=f"payment-refunded:{refund.pk}",
    )


_VERIFICATION_TITLES = {
    "verified": "Your profile is verified",
    "rejected": "Your verification was not approved",
}


def doctor_verification(profile: DoctorProfile) -> Notification | None:
    """An admin's decision on the doctor's profile; the reason, if any, is on the profile."""
    status = profile.verification_status
    return notify(
        profile.user_id,
        Kind.DOCTOR_VERIFICATION,
        title=_VERIFICATION_TITLES.get(status, f"Verification {status}"),
        data={"doctor_id": str(profile.user_id), "status": profile.verification_status},
    )


def clinic_low_stock(clinic: Clinic, item: InventoryItem, admin_ids: list[Any]) -> list[Notification]:
    data = {
        "clinic_id": clinic.pk,
        "inventory_item_id": item.pk,
        "stock": item.stock,
        "threshold": item.low_stock_threshold,
    }
    return [
        notify(admin_id, Kind.CLINIC_LOW_STOCK, title=f"Low stock at {clinic.name}", data=data)
        for admin_id in admin_ids
    ]
