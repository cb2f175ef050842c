"""Write rules of the consultations area: booking, the lifecycle over REST, cancellation and
rescheduling policy, clinical documentation, notes and vitals.

Who may do what (a user who is none of these does not even see the consultation):

==================  =============================  ==============================  =================
action              patient (its own)              doctor (its own)                staff
==================  =============================  ==============================  =================
book                for themselves                 -                               for any patient
cancel, reschedule  until the cut-off              until the cut-off               any time
cancel unpaid       any time                       any time                        any time
→ scheduled         -                              -                               -
→ waiting           inside the room window         -                               -
→ in_progress       -                              from the room opening           -
→ completed         -                              yes                             yes
→ no_show           -                              after the start (the patient's) after the start
clinical fields     complaint+symptoms pre-start   all, unless voided              -
notes               -                              read, write                     read, write
vitals              record while waiting/in room   record in room and after        -
==================  =============================  ==============================  =================

The lifecycle with payments: a booking with a fee starts in ``pending_payment`` (it holds the slot,
its room is closed) and only a payment confirmed by the gateway moves it to ``scheduled``
(``confirm_paid_booking``, called by payments); a failed or expired payment cancels it
(``cancel_unpaid_booking``). Free bookings start ``scheduled``. Unpaid bookings cannot be
rescheduled, and cancelling one is never late: nothing was paid and the slot is freed.

Cancellations and no-shows are announced through ``clinical.hooks`` after commit, so payments can
refund without clinical knowing about money. A no-show records who did not come
(``no_show_party``): the doctor reporting one means the patient; staff may name either.

Patient and doctor are notified of bookings, confirmations, moves and cancellations
(``telehealth.notifications.events``) inside the transaction that makes the change: the
notification rolls back with it and is delivered only after commit.

Every state change goes through ``clinical.services.transition_consultation``, so the room log and
the REST history hold the same numbered events; connected room clients hear about it after commit.
"""

from __future__ import annotations

import logging
import zoneinfo
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinical import error_codes, hooks
from clinical import services as room
from clinical import vitals as vital_rules
from clinical.access import is_staff
from clinical.consultations import selectors
from clinical.doctors.availability import Slot, find_slot
from clinical.models import (
    ALLOWED_TRANSITIONS,
    Clinic,
    ClinicMember,
    ClinicRole,
    Consultation,
    ConsultationEvent,
    ConsultationNote,
    ConsultationState,
    ConsultationType,
    DoctorProfile,
    NoShowParty,
    VerificationStatus,
    VitalSign,
)
from telehealth.accounts.models import Role, User
from telehealth.api import error_codes as api_codes
from telehealth.api.errors import ServiceError
from telehealth.notifications import events as notifications

logger = logging.getLogger("clinical.consultations")

S = ConsultationState
SLOT_CONSTRAINT = "one_active_booking_per_doctor_slot"
# Bookings that may still be cancelled or moved.
CHANGEABLE_STATES = frozenset({S.SCHEDULED, S.WAITING})
# An unpaid booking may be cancelled (not moved: its price and payment belong to its slot).
CANCELLABLE_STATES = CHANGEABLE_STATES | {S.PENDING_PAYMENT}
# Not started yet: the patient may still describe why they come.
PRE_START_STATES = CHANGEABLE_STATES | {S.PENDING_PAYMENT}
# Consultations that never happened: nothing clinical is recorded on them.
VOID_STATES = frozenset({S.CANCELLED, S.NO_SHOW, S.RESCHEDULED})
PATIENT_FIELDS = frozenset({"chief_complaint", "symptoms"})
# Manual moves through POST /transition/ and who may make them (by role in the consultation).
TRANSITION_ROLES: dict[str, frozenset[str]] = {
    S.WAITING: frozenset({"patient"}),
    S.IN_PROGRESS: frozenset({"doctor"}),
    S.COMPLETED: frozenset({"doctor", "staff"}),
    S.NO_SHOW: frozenset({"doctor", "staff"}),
}
# Moves with their own endpoint, because they need more than a state.
DEDICATED_ENDPOINTS = {S.CANCELLED: "cancel", S.RESCHEDULED: "reschedule"}
# Readings during the visit by the patient; the doctor may also add them after it.
VITALS_STATES = {
    "patient": frozenset({S.WAITING, S.IN_PROGRESS}),
    "doctor": frozenset({S.IN_PROGRESS, S.COMPLETED}),
}
# Device clocks drift: a reading a little in the future is accepted.
MEASURED_AT_SKEW = timedelta(minutes=5)


# --- Errors ----------------------------------------------------------------------------------------


def invalid_input(field: str, message: str) -> ServiceError:
    """A field error in the same shape as serializer validation errors."""
    return ServiceError(
        api_codes.VALIDATION_ERROR, "The request contains invalid data.", details={field: [message]}
    )


def _denied(message: str, **details: Any) -> ServiceError:
    return ServiceError(api_codes.PERMISSION_DENIED, message, status=403, details=details)


def _invalid_transition(current: str, requested: str) -> ServiceError:
    return ServiceError(
        error_codes.INVALID_TRANSITION,
        f"A {current} consultation cannot become {requested}.",
        status=409,
        details={
            "current_state": current,
            "requested": requested,
            "allowed": sorted(ALLOWED_TRANSITIONS[current]),
        },
    )


def _policy(message: str, **details: Any) -> ServiceError:
    return ServiceError(error_codes.POLICY_VIOLATION, message, status=409, details=details)


def _slot_taken(doctor_id, start: datetime) -> ServiceError:
    return ServiceError(
        error_codes.SLOT_TAKEN,
        "Someone else has just booked this slot. Please choose another time.",
        status=409,
        details={"doctor": str(doctor_id), "scheduled_start": start.isoformat()},
    )


def role_in(actor: User, consultation: Consultation) -> str | None:
    """ "patient", "doctor" or "staff": the part ``actor`` plays in this consultation."""
    if actor.pk == consultation.patient_id:
        return "patient"
    if actor.pk == consultation.doctor_id:
        return "doctor"
    if is_staff(actor):
        return "staff"
    return None


# --- Booking ---------------------------------------------------------------------------------------


def book_consultation(
    actor: User,
    *,
    doctor_id,
    scheduled_start: datetime,
    consultation_type: str,
    patient_id=None,
    clinic_id: int | None = None,
    chief_complaint: str = "",
    symptoms: list[str] | None = None,
    now: datetime | None = None,
) -> Consultation:
    """Book one of the doctor's free future slots for a patient. The fee is frozen at booking; a
    booking with a fee starts ``pending_payment`` (holding the slot), a free one ``scheduled``.
    A patient books for themselves, staff for any patient; two bookings racing for a slot end with
    one booking and one ``SLOT_TAKEN``."""
    now = now or timezone.now()
    patient = _booking_patient(actor, patient_id)
    profile = _bookable(doctor_id)
    slot = _open_slot(profile, scheduled_start, now)
    clinic = _booking_clinic(profile, consultation_type, clinic_id, slot)
    consultation = Consultation(
        patient=patient,
        doctor_id=profile.user_id,
        type=consultation_type,
        scheduled_start=slot.start,
        duration_minutes=profile.slot_minutes,
        clinic=clinic,
        booked_by=actor,
        fee_amount=profile.fee_amount,
        fee_currency=profile.fee_currency,
        chief_complaint=chief_complaint,
        symptoms=symptoms or [],
        # A paid booking holds the slot but is confirmed only by its payment (payments app).
        state=S.PENDING_PAYMENT if profile.fee_amount > 0 else S.SCHEDULED,
    )
    with transaction.atomic():
        _insert_booking(consultation)
        notifications.appointment_booked(consultation)
    logger.info("consultation %s booked by %s", consultation.pk, actor.pk)
    return consultation


def _booking_patient(actor: User, patient_id) -> User:
    if is_staff(actor):
        if patient_id is None:
            raise invalid_input("patient", "Say which patient the booking is for.")
        patient = User.objects.filter(pk=patient_id, role=Role.PATIENT, is_active=True).first()
        if patient is None:
            raise invalid_input("patient", "No active patient has this id.")
        return patient
    if actor.role != Role.PATIENT:
        raise _denied("Only patients (for themselves) and staff may book consultations.")
    if patient_id is not None and str(patient_id) != str(actor.pk):
        raise invalid_input("patient", "Patients book for themselves: leave this out.")
    return actor


def _bookable(doctor_id) -> DoctorProfile:
    profile = selectors.bookable_doctor(doctor_id)
    if profile is None:
        raise ServiceError(
            error_codes.DOCTOR_NOT_BOOKABLE,
            "This doctor cannot be booked: not a verified, active doctor.",
            details={"doctor": str(doctor_id)},
        )
    return profile


def _open_slot(profile: DoctorProfile, start: datetime, now: datetime) -> Slot:
    slot = find_slot(profile, start)
    if slot is None or slot.start <= now:
        raise ServiceError(
            error_codes.SLOT_UNAVAILABLE,
            "That time is not one of the doctor's open future slots.",
            details={"doctor": str(profile.user_id), "scheduled_start": start.isoformat()},
        )
    return slot


def _booking_clinic(profile: DoctorProfile, type_: str, clinic_id: int | None, slot: Slot) -> Clinic | None:
    if clinic_id is None:
        if type_ == ConsultationType.IN_CLINIC:
            raise invalid_input("clinic", "An in-clinic consultation needs a clinic.")
        return None
    # Unknown and unverified clinics get the same answer: pending clinics are not public.
    clinic = Clinic.objects.filter(pk=clinic_id, verification_status=VerificationStatus.VERIFIED).first()
    if clinic is None:
        raise ServiceError(
            error_codes.CLINIC_NOT_VERIFIED,
            "No verified clinic has this id.",
            details={"clinic": ["No verified clinic has this id."]},
        )
    if not ClinicMember.objects.filter(
        clinic=clinic, user_id=profile.user_id, role=ClinicRole.DOCTOR
    ).exists():
        raise invalid_input("clinic", "The doctor does not practise at this clinic.")
    if slot.clinic_id is not None and slot.clinic_id != clinic.pk:
        raise ServiceError(
            error_codes.SLOT_UNAVAILABLE,
            "At that time the doctor is at another clinic.",
            details={
                "doctor": str(profile.user_id),
                "scheduled_start": slot.start.isoformat(),
                "clinic": slot.clinic_id,
            },
        )
    return clinic


def _is_slot_conflict(error: IntegrityError) -> bool:
    """Did the insert break the one-booking-per-slot constraint (and not something else)?"""
    diag = getattr(error.__cause__, "diag", None)  # psycopg names the constraint
    if diag is not None and getattr(diag, "constraint_name", None):
        return diag.constraint_name == SLOT_CONSTRAINT
    text = str(error)  # SQLite names the index or its columns
    return (
        SLOT_CONSTRAINT in text
        or "clinical_consultation.doctor_id, clinical_consultation.scheduled_start" in text
    )


def _insert_booking(consultation: Consultation) -> None:
    """Insert a booking. The pre-check gives the common case a quick answer; the constraint
    decides the race (the loser's insert waits for the winner's commit, then fails)."""
    if selectors.slot_is_taken(consultation.doctor_id, consultation.scheduled_start):
        raise _slot_taken(consultation.doctor_id, consultation.scheduled_start)
    try:
        with transaction.atomic():
            consultation.save(force_insert=True)
    except IntegrityError as error:
        if _is_slot_conflict(error):
            raise _slot_taken(consultation.doctor_id, consultation.scheduled_start) from None
        raise


# --- The lifecycle ---------------------------------------------------------------------------------


def _require_transition(consultation: Consultation, to_state: str, expected_from=None) -> None:
    if not consultation.can_transition(to_state) or (
        expected_from is not None and consultation.state not in expected_from
    ):
        raise _invalid_transition(consultation.state, to_state)


def _transition(
    consultation: Consultation, to_state: str, actor: User, expected_from: frozenset[str] | None = None
) -> ConsultationEvent:
    """The one way state changes: under a row lock, logged with the room's next ``seq``."""
    try:
        event = room.transition_consultation(
            str(consultation.pk), to_state, actor=actor, expected_from=expected_from
        )
    except room.InvalidTransition as error:  # someone else changed it since we read it
        raise _invalid_transition(error.current, error.requested) from error
    _announce_on_commit(consultation, [event])
    return event


def change_deadline(consultation: Consultation) -> datetime:
    """Until when patient and doctor may cancel or move the booking themselves."""
    return consultation.scheduled_start - timedelta(hours=settings.BOOKING_CHANGE_CUTOFF_HOURS)


def inside_change_window(consultation: Consultation, now: datetime) -> bool:
    """Is it still early enough to cancel or move the booking (the cut-off policy)?"""
    return now <= change_deadline(consultation)


def _enforce_cutoff(consultation: Consultation, action: str, now: datetime) -> None:
    hours = settings.BOOKING_CHANGE_CUTOFF_HOURS
    deadline = change_deadline(consultation)
    if not inside_change_window(consultation, now):
        raise _policy(
            f"Bookings can be {action}ed up to {hours} hours before the start; please contact support.",
            cutoff_hours=hours,
            deadline=deadline.isoformat(),
            scheduled_start=consultation.scheduled_start.isoformat(),
        )


def _require_change_rights(actor: User, consultation: Consultation, action: str, now: datetime) -> None:
    role = role_in(actor, consultation)
    if role is None:
        raise _denied(f"You may not {action} this consultation.")
    if role != "staff":
        _enforce_cutoff(consultation, action, now)


def cancel_consultation(
    actor: User, consultation: Consultation, *, reason: str, now: datetime | None = None
) -> Consultation:
    """Cancel a booking that has not started. Patient and doctor: up to the cut-off before the
    start; staff: any time; an unpaid booking: any time. The slot is free again at once, and the
    payments app hears about it after commit (refund or cancelled payment)."""
    now = now or timezone.now()
    _require_transition(consultation, S.CANCELLED, CANCELLABLE_STATES)
    unpaid = consultation.state == S.PENDING_PAYMENT
    if unpaid:
        if role_in(actor, consultation) is None:
            raise _denied("You may not cancel this consultation.")
    else:
        _require_change_rights(actor, consultation, "cancel", now)
    # The cut-off was waived because the booking was unpaid: if its payment has just been
    # confirmed, the cancellation must be asked for again under the paid rules.
    expected_from = frozenset({S.PENDING_PAYMENT}) if unpaid else CHANGEABLE_STATES
    with transaction.atomic():
        event = _transition(consultation, S.CANCELLED, actor, expected_from)
        Consultation.objects.filter(pk=consultation.pk).update(cancellation_reason=reason, cancelled_by=actor)
        consultation.refresh_from_db()
        _tell_voided(consultation, event, actor, now)
        notifications.appointment_cancelled(consultation, by=actor)
    logger.info("consultation %s cancelled by %s", consultation.pk, actor.pk)
    return consultation


def confirm_paid_booking(consultation_id, *, actor: User | None = None) -> bool:
    """``pending_payment`` → ``scheduled``, for payments once the gateway confirmed the money.
    False (and no change) when the booking is no longer awaiting payment, e.g. cancelled meanwhile."""
    with transaction.atomic():
        try:
            event = room.transition_consultation(
                str(consultation_id), S.SCHEDULED, actor=actor, expected_from=frozenset({S.PENDING_PAYMENT})
            )
        except room.InvalidTransition:
            return False
        consultation = Consultation.objects.get(pk=consultation_id)
        _announce_on_commit(consultation, [event])
        notifications.appointment_confirmed(consultation)
    logger.info("consultation %s paid and confirmed", consultation_id)
    return True


def cancel_unpaid_booking(consultation_id, *, reason: str, now: datetime | None = None) -> bool:
    """``pending_payment`` → ``cancelled`` by the system (payment failed, cancelled or expired):
    frees the slot. False (and no change) when the booking is no longer awaiting payment."""
    now = now or timezone.now()
    with transaction.atomic():
        try:
            event = room.transition_consultation(
                str(consultation_id), S.CANCELLED, actor=None, expected_from=frozenset({S.PENDING_PAYMENT})
            )
        except room.InvalidTransition:
            return False
        Consultation.objects.filter(pk=consultation_id).update(cancellation_reason=reason)
        consultation = Consultation.objects.get(pk=consultation_id)
        _announce_on_commit(consultation, [event])
        _tell_voided(consultation, event, None, now)
        notifications.appointment_cancelled(consultation, by=None)
    logger.info("unpaid consultation %s cancelled: %s", consultation_id, reason)
    return True


def record_system_no_show(
    consultation_id, *, party: str, expected_from: frozenset[str], now: datetime | None = None
) -> Consultation | None:
    """A consultation nobody started in time becomes ``no_show`` by the system (no actor), with
    ``party`` saying who did not come: the room hears it, payments applies its refund rule and
    both sides are notified, all after commit. None if it is no longer in ``expected_from``.
    Call inside the caller's transaction holding the row lock."""
    now = now or timezone.now()
    with transaction.atomic():
        try:
            event = room.transition_consultation(
                str(consultation_id), S.NO_SHOW, actor=None, expected_from=expected_from
            )
        except room.InvalidTransition:
            return None
        Consultation.objects.filter(pk=consultation_id).update(no_show_party=party)
        consultation = Consultation.objects.get(pk=consultation_id)
        _announce_on_commit(consultation, [event])
        _tell_voided(consultation, event, None, now)
        notifications.consultation_no_show(consultation)
    return consultation


def _tell_voided(
    consultation: Consultation, event: ConsultationEvent, actor: User | None, now: datetime
) -> None:
    """After commit, let other apps (payments: refunds) react to a booking that will not happen."""
    hooks.consultation_voided(
        hooks.ConsultationVoided(
            consultation_id=str(consultation.pk),
            state=event.payload["to"],
            previous_state=event.payload["from"],
            actor_id=str(actor.pk) if actor is not None else None,
            at=now,
            inside_change_window=inside_change_window(consultation, now),
            no_show_party=consultation.no_show_party,
        )
    )


def reschedule_consultation(
    actor: User, consultation: Consultation, *, scheduled_start: datetime, now: datetime | None = None
) -> Consultation:
    """Move a booking to another free slot of the same doctor, as one change: the old booking
    becomes ``rescheduled`` and a new one, pointing back at it, holds the new slot. If the new slot
    is taken meanwhile, nothing changes."""
    now = now or timezone.now()
    _require_transition(consultation, S.RESCHEDULED, CHANGEABLE_STATES)
    _require_change_rights(actor, consultation, "reschedule", now)
    if scheduled_start == consultation.scheduled_start:
        raise invalid_input("scheduled_start", "The booking is already at this time; choose another slot.")
    profile = _bookable(consultation.doctor_id)
    slot = _open_slot(profile, scheduled_start, now)
    if consultation.clinic_id and slot.clinic_id is not None and slot.clinic_id != consultation.clinic_id:
        raise ServiceError(
            error_codes.SLOT_UNAVAILABLE,
            "At that time the doctor is at another clinic.",
            details={"doctor": str(profile.user_id), "scheduled_start": slot.start.isoformat()},
        )
    replacement = Consultation(
        patient_id=consultation.patient_id,
        doctor_id=consultation.doctor_id,
        type=consultation.type,
        scheduled_start=slot.start,
        duration_minutes=profile.slot_minutes,
        clinic_id=consultation.clinic_id,
        booked_by=actor,
        # The patient keeps the price they booked at.
        fee_amount=consultation.fee_amount,
        fee_currency=consultation.fee_currency,
        chief_complaint=consultation.chief_complaint,
        symptoms=consultation.symptoms,
        rescheduled_from=consultation,
    )
    with transaction.atomic():
        _transition(consultation, S.RESCHEDULED, actor, CHANGEABLE_STATES)
        _insert_booking(replacement)
        notifications.appointment_rescheduled(consultation, replacement)
    logger.info("consultation %s rescheduled to %s by %s", consultation.pk, replacement.pk, actor.pk)
    return replacement


def change_consultation_state(
    actor: User,
    consultation: Consultation,
    to_state: str,
    *,
    no_show_party: str | None = None,
    now: datetime | None = None,
) -> Consultation:
    """The manual moves of the lifecycle (see ``TRANSITION_ROLES``), with their timing rules:
    check-in only while the room is open, starting not before it opens, no-show only after the start.
    A no-show names who did not come: the doctor reports the patient's; staff may name either
    (default: the patient)."""
    now = now or timezone.now()
    if to_state in DEDICATED_ENDPOINTS:
        raise invalid_input(
            "state",
            f"Use POST /api/consultations/{consultation.pk}/{DEDICATED_ENDPOINTS[to_state]}/ for this.",
        )
    if no_show_party is not None and to_state != S.NO_SHOW:
        raise invalid_input("no_show_party", "Only a no-show names who did not come.")
    _require_transition(consultation, to_state)
    role = role_in(actor, consultation)
    if to_state == S.SCHEDULED:
        raise _denied("A booking is confirmed only by its payment.")
    if role not in TRANSITION_ROLES.get(to_state, frozenset()):
        raise _denied(f"As {role or 'an outsider'} you may not mark this consultation {to_state}.")
    if to_state == S.NO_SHOW:
        no_show_party = no_show_party or NoShowParty.PATIENT
        if role == "doctor" and no_show_party != NoShowParty.PATIENT:
            raise _denied("A doctor reports the patient's no-show; staff record the doctor's.")
    _enforce_timing(consultation, to_state, now)
    with transaction.atomic():
        event = _transition(consultation, to_state, actor)
        if to_state == S.NO_SHOW:
            Consultation.objects.filter(pk=consultation.pk).update(no_show_party=no_show_party)
            consultation.no_show_party = no_show_party
            _tell_voided(consultation, event, actor, now)
    consultation.refresh_from_db()
    return consultation


def _enforce_timing(consultation: Consultation, to_state: str, now: datetime) -> None:
    opens = consultation.scheduled_start - timedelta(minutes=settings.ROOM_JOIN_EARLY_MINUTES)
    closes = consultation.scheduled_end + timedelta(minutes=settings.ROOM_JOIN_LATE_MINUTES)
    if to_state == S.WAITING and not opens <= now <= closes:
        raise _policy(
            "Check-in is possible only while the room is open.",
            opens_at=opens.isoformat(),
            closes_at=closes.isoformat(),
        )
    if to_state == S.IN_PROGRESS and now < opens:
        raise _policy("The consultation cannot start before its room opens.", opens_at=opens.isoformat())
    if to_state == S.NO_SHOW and now < consultation.scheduled_start:
        raise _policy(
            "A no-show can be recorded only after the start.",
            scheduled_start=consultation.scheduled_start.isoformat(),
        )


# --- Clinical documentation ------------------------------------------------------------------------


def local_today(user: User, now: datetime | None = None) -> date:
    """Today in the user's own time zone (a follow-up date is a date where they are)."""
    now = now or timezone.now()
    return now.astimezone(zoneinfo.ZoneInfo(user.timezone or "UTC")).date()


def update_clinical_details(actor: User, consultation: Consultation, **changes: Any) -> Consultation:
    """Record the clinical side. The doctor writes all of it unless the consultation never
    happened; the patient may describe their complaint and symptoms until it starts."""
    role = role_in(actor, consultation)
    if role == "doctor":
        if consultation.state in VOID_STATES:
            raise _policy(
                f"A {consultation.state} consultation cannot be documented.", state=consultation.state
            )
    elif role == "patient":
        if extra := sorted(set(changes) - PATIENT_FIELDS):
            raise _denied("Patients may only describe their complaint and symptoms.", fields=extra)
        if consultation.state not in PRE_START_STATES:
            raise _policy(
                "The complaint can be changed only before the consultation starts.", state=consultation.state
            )
    else:
        raise _denied("Only the consultation's doctor records clinical details.")
    follow_up = changes.get("follow_up_date")
    if follow_up is not None and follow_up < local_today(actor):
        raise invalid_input("follow_up_date", "The follow-up date cannot be in the past.")
    for field, value in changes.items():
        setattr(consultation, field, value)
    if changes:
        consultation.save(update_fields=[*changes, "updated_at"])
    return consultation


def add_note(actor: User, consultation: Consultation, *, text: str) -> ConsultationNote:
    """A private note of the care team (the consultation's doctor, or staff). Notes are never
    edited: a correction is another note."""
    if role_in(actor, consultation) not in {"doctor", "staff"}:
        raise _denied("Only the consultation's doctor and staff write notes.")
    return ConsultationNote.objects.create(consultation=consultation, author=actor, text=text)


# --- Vitals ----------------------------------------------------------------------------------------


def _reading_errors(kind: str, unit: str, value: float, value2: float | None) -> dict[str, list[str]]:
    """``clinical.vitals.validate_reading``'s verdict, as field errors."""
    problems = vital_rules.validate_reading(kind, unit, value, value2)
    if not problems:
        return {}
    rule = vital_rules.RULES[kind]
    if unit not in rule.units:
        return {"unit": problems}
    errors: dict[str, list[str]] = {}
    for problem in problems:
        second = "diastolic" in problem or "single value" in problem
        errors.setdefault("value2" if second else "value", []).append(problem)
    return errors


def record_vital(
    actor: User,
    consultation: Consultation,
    *,
    kind: str,
    unit: str,
    value: Decimal,
    value2: Decimal | None = None,
    measured_at: datetime | None = None,
    now: datetime | None = None,
) -> VitalSign:
    """Store one reading for the consultation's patient. Impossible values are refused; abnormal
    ones are flagged and raise a numbered alert in the room, as readings from devices do."""
    now = now or timezone.now()
    role = role_in(actor, consultation)
    if role not in VITALS_STATES:
        raise _denied("Only the consultation's patient and doctor record vitals.")
    if consultation.state not in VITALS_STATES[role]:
        raise _policy(
            f"A {role} records vitals while the consultation is "
            + " or ".join(sorted(VITALS_STATES[role]))
            + ".",
            state=consultation.state,
        )
    measured_at = measured_at or now
    if measured_at > now + MEASURED_AT_SKEW:
        raise invalid_input("measured_at", "A reading cannot be from the future.")
    if errors := _reading_errors(kind, unit, float(value), None if value2 is None else float(value2)):
        raise ServiceError(api_codes.VALIDATION_ERROR, "The request contains invalid data.", details=errors)
    reading = room.Reading(kind, unit, float(value), None if value2 is None else float(value2), measured_at)
    with transaction.atomic():
        rows, alerts = room.store_vitals(str(consultation.pk), consultation.patient, [reading])
        # store_vitals speaks for the patient's devices; here someone in particular recorded it.
        VitalSign.objects.filter(pk=rows[0].pk).update(recorded_by=actor)
        if alerts and actor.pk != consultation.patient_id:
            ConsultationEvent.objects.filter(pk__in=[a.pk for a in alerts]).update(actor=actor)
            for alert in alerts:
                alert.actor = actor
        _announce_on_commit(consultation, alerts)
    row = rows[0]
    row.recorded_by = actor
    return row


# --- Telling the room ------------------------------------------------------------------------------


def _announce_on_commit(consultation: Consultation, events: list[ConsultationEvent]) -> None:
    """After commit, hand the numbered events to clients connected to the room (the group the
    room consumer joins). Clients that miss it read it from the log on resume."""
    if not events:
        return
    roles = {str(consultation.patient_id): "patient", str(consultation.doctor_id): "doctor"}
    group = f"room.{consultation.pk}"

    def send() -> None:
        from signaling.frames import event_frame

        try:
            layer = get_channel_layer()
            for event in events:
                frame = event_frame(event, roles)
                async_to_sync(layer.group_send)(group, {"type": "room.sequenced", "frame": frame})
        except Exception:  # the change is committed; the room catches up from the log
            logger.exception("could not tell room %s about events", consultation.pk)

    transaction.on_commit(send)
