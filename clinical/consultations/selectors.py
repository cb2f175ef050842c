"""Reads of the consultations area. Every query that returns consultations starts from
``clinical.access.consultations_visible_to``: nobody sees a consultation they are not part of."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Prefetch, Q, QuerySet

from clinical.access import consultations_visible_to
from clinical.doctors.availability import prefetch_for_slots
from clinical.models import (
    ACTIVE_STATES,
    Consultation,
    ConsultationEvent,
    ConsultationNote,
    DoctorProfile,
    EventKind,
    PrescriptionStatus,
    VerificationStatus,
    VitalSign,
)
from telehealth.accounts.models import Role, User


def consultation_list(user: User) -> QuerySet[Consultation]:
    """The consultations ``user`` may see, with what the list shows, in a constant number of queries."""
    return consultations_visible_to(user).select_related("patient", "doctor", "clinic")


def consultation_detail(user: User, consultation_id) -> Consultation | None:
    """One consultation if ``user`` may see it, else None (whether or not it exists)."""
    return (
        consultations_visible_to(user)
        .select_related("patient", "doctor", "clinic", "rescheduled_to")
        .filter(pk=consultation_id)
        .first()
    )


def patient_of(consultation_id) -> User | None:
    """Whose consultation this is, for auditing a refused attempt; None when there is no such one."""
    consultation = Consultation.objects.select_related("patient").filter(pk=consultation_id).first()
    return consultation.patient if consultation else None


def bookable_doctor(doctor_id) -> DoctorProfile | None:
    """The doctor's profile, ready for slot computation, if the doctor may be booked: an active
    doctor account with a verified profile."""
    return (
        prefetch_for_slots(DoctorProfile.objects.all())
        .filter(
            user_id=doctor_id,
            user__role=Role.DOCTOR,
            user__is_active=True,
            verification_status=VerificationStatus.VERIFIED,
        )
        .first()
    )


def slot_is_taken(doctor_id, start: datetime) -> bool:
    """Is an active consultation already holding this slot? A fast, friendly pre-check only: the
    database constraint is what makes double booking impossible."""
    return Consultation.objects.filter(
        doctor_id=doctor_id, scheduled_start=start, state__in=ACTIVE_STATES
    ).exists()


def notes_of(consultation: Consultation) -> QuerySet[ConsultationNote]:
    return ConsultationNote.objects.filter(consultation=consultation).select_related("author")


def vitals_of(consultation: Consultation) -> QuerySet[VitalSign]:
    return VitalSign.objects.filter(consultation=consultation).select_related("recorded_by")


def timeline(user: User, patient_id) -> QuerySet[Consultation]:
    """The patient's consultations that ``user`` may see, oldest first, each with its current
    prescriptions counted and its vitals and state changes in order: four queries for any page."""
    current = Q(prescriptions__status=PrescriptionStatus.ISSUED)
    return (
        consultations_visible_to(user)
        .filter(patient_id=patient_id)
        .select_related("doctor", "clinic")
        .annotate(prescriptions_count=Count("prescriptions", filter=current))
        .prefetch_related(
            Prefetch("vitals", queryset=VitalSign.objects.order_by("measured_at", "pk")),
            Prefetch(
                "events",
                queryset=ConsultationEvent.objects.filter(kind=EventKind.STATE)
                .select_related("actor")
                .order_by("seq"),
                to_attr="state_events",
            ),
        )
        .order_by("scheduled_start", "created_at")
    )
