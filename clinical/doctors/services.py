"""Writes of the doctors area: profile, credentials, the verification workflow, availability and
reviews. Each function takes the acting user first; permission to call it is checked by the view,
the rules of the domain are checked here."""

from __future__ import annotations

import logging
import zoneinfo
from datetime import date, time
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F, Model
from django.utils import timezone

from clinical import error_codes
from clinical.documents import store_document
from clinical.models import (
    AvailabilityException,
    AvailabilityRule,
    ClinicMember,
    Consultation,
    ConsultationState,
    DoctorProfile,
    Document,
    DocumentKind,
    Education,
    ExceptionKind,
    Experience,
    Review,
    VerificationStatus,
)
from signaling import revocation
from telehealth.accounts.models import User
from telehealth.api import error_codes as api_codes
from telehealth.api.errors import ServiceError
from telehealth.notifications import events as notifications

logger = logging.getLogger("clinical.doctors")

# The verification workflow. Anything not listed is refused with INVALID_TRANSITION.
#   pending  -> verified  admin approves
#   pending  -> rejected  admin refuses, with a reason
#   verified -> rejected  admin revokes, with a reason
#   rejected -> pending   the doctor resubmits (after fixing details or uploading documents)
#   verified -> pending   the doctor changed the registration number or council: the verified
#                         credentials no longer match, so an admin has to look again
VERIFICATION_TRANSITIONS: dict[str, frozenset[str]] = {
    VerificationStatus.PENDING: frozenset({VerificationStatus.VERIFIED, VerificationStatus.REJECTED}),
    VerificationStatus.VERIFIED: frozenset({VerificationStatus.REJECTED, VerificationStatus.PENDING}),
    VerificationStatus.REJECTED: frozenset({VerificationStatus.PENDING}),
}
# Editing these after verification sends the profile back to pending.
CREDENTIAL_FIELDS = ("registration_number", "council")
_PROFILE_FIELDS = (
    "registration_number",
    "council",
    "fee_amount",
    "fee_currency",
    "bio",
    "years_of_experience",
    "slot_minutes",
    "buffer_minutes",
)


def _invalid_transition(current: str, requested: str) -> ServiceError:
    return ServiceError(
        error_codes.INVALID_TRANSITION,
        f"A {current} doctor profile cannot become {requested}.",
        status=409,
        details={"current": current, "requested": requested},
    )


def _validation(field: str, message: str) -> ServiceError:
    return ServiceError(api_codes.VALIDATION_ERROR, message, status=400, details={field: [message]})


def _locked(profile: DoctorProfile) -> DoctorProfile:
    return DoctorProfile.objects.select_for_update().get(pk=profile.pk)


# --- Profile and verification --------------------------------------------------------------------


def save_doctor_profile(
    actor: User, profile: DoctorProfile | None, **data: Any
) -> tuple[DoctorProfile, bool]:
    """Create the actor's profile (first write) or change it. ``specialisations`` and
    ``languages``, when given, replace the current sets. Changing the registration number or the
    council of a verified profile sends it back to pending. Returns ``(profile, created)``."""
    specialisations = data.pop("specialisations", None)
    languages = data.pop("languages", None)
    with transaction.atomic():
        created = profile is None
        profile = DoctorProfile(user=actor) if created else _locked(profile)
        changed_credentials = not created and any(
            field in data and data[field] != getattr(profile, field) for field in CREDENTIAL_FIELDS
        )
        for name in _PROFILE_FIELDS:
            if name in data:
                setattr(profile, name, data[name])
        if changed_credentials and profile.verification_status == VerificationStatus.VERIFIED:
            profile.verification_status = VerificationStatus.PENDING
            profile.verified_by = None
            profile.verified_at = None
            logger.info("Doctor %s changed credentials: verification back to pending", actor.pk)
        try:
            with transaction.atomic():
                profile.save()
        except IntegrityError as exc:
            if created and DoctorProfile.objects.filter(user=actor).exists():  # a parallel first write
                raise ServiceError(
                    api_codes.CONFLICT, "Your profile was just created by another request; retry.", status=409
                ) from exc
            # The same registration number won a race past the serializer's uniqueness check.
            raise ServiceError(
                api_codes.CONFLICT,
                "A doctor with this registration number already exists.",
                status=409,
                details={"registration_number": ["A doctor with this registration number already exists."]},
            ) from exc
        if specialisations is not None:
            profile.specialisations.set(specialisations)
        if languages is not None:
            profile.languages.set(languages)
    return profile, created


def _move_verification(
    profile: DoctorProfile, to_state: str, *, expected_from: frozenset[str], **changes: Any
) -> DoctorProfile:
    """Move along the workflow from one of ``expected_from`` (this action's precondition), under a
    row lock so two admins deciding at once cannot both win."""
    with transaction.atomic():
        locked = _locked(profile)
        current = locked.verification_status
        if current not in expected_from or to_state not in VERIFICATION_TRANSITIONS[current]:
            raise _invalid_transition(current, to_state)
        locked.verification_status = to_state
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.save(update_fields=["verification_status", *changes, "updated_at"])
    return locked


def _decide(
    profile: DoctorProfile, to_state: str, *, expected_from: frozenset[str], **changes: Any
) -> DoctorProfile:
    """An admin's decision: the move, and the doctor told about it after commit."""
    with transaction.atomic():
        decided = _move_verification(profile, to_state, expected_from=expected_from, **changes)
        notifications.doctor_verification(decided)
    return decided


def verify_doctor(actor: User, profile: DoctorProfile) -> DoctorProfile:
    """An admin approves a pending profile: the doctor becomes listed and bookable."""
    return _decide(
        profile,
        VerificationStatus.VERIFIED,
        expected_from=frozenset({VerificationStatus.PENDING}),
        verified_by=actor,
        verified_at=timezone.now(),
        rejection_reason="",
    )


def reject_doctor(actor: User, profile: DoctorProfile, *, reason: str) -> DoctorProfile:
    """An admin refuses a pending profile, or revokes a verified one. The doctor sees the reason.
    ``verified_by``/``verified_at`` are cleared: no verification stands any more (who decided is
    in the audit log). The doctor's open consultation-room sockets close with 4403; their
    notifications socket stays open, to hear the decision."""
    decided = _decide(
        profile,
        VerificationStatus.REJECTED,
        expected_from=frozenset({VerificationStatus.PENDING, VerificationStatus.VERIFIED}),
        rejection_reason=reason,
        verified_by=None,
        verified_at=None,
    )
    revocation.close_user_sockets_on_commit(
        decided.user_id, revocation.CLOSE_NOT_VERIFIED, kinds={revocation.ROOM_SOCKETS}
    )
    return decided


def resubmit_verification(actor: User, profile: DoctorProfile) -> DoctorProfile:
    """The doctor asks for another review after a rejection."""
    return _move_verification(
        profile,
        VerificationStatus.PENDING,
        expected_from=frozenset({VerificationStatus.REJECTED}),
        rejection_reason="",
    )


def upload_verification_document(actor: User, profile: DoctorProfile, upload: UploadedFile) -> Document:
    """Store a licence, degree certificate or ID for the admins who verify the doctor."""
    return store_document(owner=actor, uploaded_by=actor, upload=upload, kind=DocumentKind.VERIFICATION)


# --- Education and experience --------------------------------------------------------------------


def save_education(
    actor: User, profile: DoctorProfile, instance: Education | None = None, **data: Any
) -> Education:
    entry = instance or Education(doctor=profile)
    for name, value in data.items():
        setattr(entry, name, value)
    entry.save()
    return entry


def save_experience(
    actor: User, profile: DoctorProfile, instance: Experience | None = None, **data: Any
) -> Experience:
    entry = instance or Experience(doctor=profile)
    for name, value in data.items():
        setattr(entry, name, value)
    entry.save()
    return entry


def delete_entry(actor: User, entry: Model) -> None:
    """Remove one of the actor's own education, experience or availability entries."""
    entry.delete()


# --- Availability --------------------------------------------------------------------------------


def _overlaps(start: time, end: time, other_start: time, other_end: time) -> bool:
    return start < other_end and other_start < end


def _local_today(profile: DoctorProfile) -> date:
    return timezone.now().astimezone(zoneinfo.ZoneInfo(profile.user.timezone or "UTC")).date()


def _future_extras(profile: DoctorProfile, *, exclude_pk: int | None = None) -> list[AvailabilityException]:
    extras = AvailabilityException.objects.filter(
        doctor=profile, kind=ExceptionKind.EXTRA, date__gte=_local_today(profile)
    ).exclude(pk=exclude_pk)
    return [e for e in extras if e.start_time is not None and e.end_time is not None]


def save_availability_rule(
    actor: User,
    profile: DoctorProfile,
    instance: AvailabilityRule | None = None,
    *,
    weekday: int,
    start_time: time,
    end_time: time,
    clinic=None,
) -> AvailabilityRule:
    """Add or change a weekly window. Windows of one weekday may not overlap each other, nor the
    extra hours already planned on a future date of that weekday (overlapping windows would offer
    the same time twice)."""
    if clinic is not None and not ClinicMember.objects.filter(clinic=clinic, user=actor).exists():
        raise _validation("clinic", "You are not a member of this clinic.")
    with transaction.atomic():
        _locked(profile)  # serialises availability writes of this doctor: overlap checks hold
        pk = instance.pk if instance else None
        siblings = AvailabilityRule.objects.filter(doctor=profile, weekday=weekday).exclude(pk=pk)
        for rule in siblings:
            if _overlaps(start_time, end_time, rule.start_time, rule.end_time):
                raise _validation(
                    "start_time",
                    f"Overlaps your {rule.start_time:%H:%M}-{rule.end_time:%H:%M} window on this weekday.",
                )
        for extra in _future_extras(profile):
            if extra.date.weekday() == weekday and _overlaps(
                start_time, end_time, extra.start_time, extra.end_time
            ):
                raise _validation(
                    "start_time",
                    f"Overlaps the extra hours planned on {extra.date.isoformat()}; change those first.",
                )
        rule = instance or AvailabilityRule(doctor=profile)
        rule.weekday, rule.start_time, rule.end_time, rule.clinic = weekday, start_time, end_time, clinic
        rule.save()
    return rule


def save_availability_exception(
    actor: User,
    profile: DoctorProfile,
    instance: AvailabilityException | None = None,
    *,
    date: date,
    kind: str,
    start_time: time | None = None,
    end_time: time | None = None,
    reason: str = "",
) -> AvailabilityException:
    """Add or change a date's leave or extra hours. Dates before today (in the doctor's zone) are
    history and refused. Extra hours may not overlap the weekly windows of that weekday or other
    extra hours of that date."""
    if date < _local_today(profile):
        raise _validation("date", "The date is in the past.")
    if (start_time is None) != (end_time is None):
        raise _validation("end_time", "Give both start_time and end_time, or neither.")
    if start_time is not None and end_time is not None and start_time >= end_time:
        raise _validation("end_time", "end_time must be after start_time.")
    if kind == ExceptionKind.EXTRA and start_time is None:
        raise _validation("start_time", "Extra hours need a start_time and an end_time.")
    with transaction.atomic():
        _locked(profile)
        pk = instance.pk if instance else None
        if kind == ExceptionKind.EXTRA and start_time is not None and end_time is not None:
            for rule in AvailabilityRule.objects.filter(doctor=profile, weekday=date.weekday()):
                if _overlaps(start_time, end_time, rule.start_time, rule.end_time):
                    raise _validation(
                        "start_time",
                        f"You already work {rule.start_time:%H:%M}-{rule.end_time:%H:%M} on that weekday.",
                    )
            for extra in _future_extras(profile, exclude_pk=pk):
                if extra.date == date and _overlaps(start_time, end_time, extra.start_time, extra.end_time):
                    raise _validation(
                        "start_time",
                        f"Overlaps extra hours {extra.start_time:%H:%M}-{extra.end_time:%H:%M} that day.",
                    )
        exception = instance or AvailabilityException(doctor=profile)
        exception.date, exception.kind, exception.reason = date, kind, reason
        exception.start_time, exception.end_time = start_time, end_time
        exception.save()
    return exception


# --- Reviews -------------------------------------------------------------------------------------


def submit_review(
    actor: User, profile: DoctorProfile, *, consultation_id, rating: int, comment: str = ""
) -> Review:
    """A patient rates a completed consultation with this doctor, once. The doctor's rating sum and
    count move with ``F()`` in the same transaction as the review row: concurrent reviews never
    lose an update, and a review that rolls back leaves the average untouched."""
    consultation = Consultation.objects.filter(
        pk=consultation_id, patient=actor, doctor_id=profile.user_id
    ).first()
    if consultation is None:
        raise ServiceError(
            error_codes.REVIEW_NOT_ALLOWED,
            "You can only review your own consultations with this doctor.",
            status=403,
        )
    if consultation.state != ConsultationState.COMPLETED:
        raise ServiceError(
            error_codes.REVIEW_NOT_ALLOWED,
            "Only a completed consultation can be reviewed.",
            status=409,
            details={"state": consultation.state},
        )
    already = ServiceError(
        error_codes.ALREADY_REVIEWED, "This consultation has already been reviewed.", status=409
    )
    if Review.objects.filter(consultation=consultation).exists():
        raise already
    try:
        with transaction.atomic():
            review = Review.objects.create(
                consultation=consultation,
                patient=actor,
                doctor_id=profile.user_id,
                rating=rating,
                comment=comment,
            )
            DoctorProfile.objects.filter(pk=profile.pk).update(
                rating_sum=F("rating_sum") + rating, rating_count=F("rating_count") + 1
            )
    except IntegrityError as exc:  # the same consultation reviewed concurrently
        raise already from exc
    return review
