"""Reads of patients' health data. Who may see whom is decided in ``clinical.access`` only."""

from __future__ import annotations

from datetime import date

from django.db.models import F, OuterRef, QuerySet, Subquery
from django.utils import timezone

from clinical.access import can_view_patient, patient_ids_visible_to
from clinical.models import Consultation, ConsultationState, PatientProfile
from telehealth.accounts.models import Role, User

# Consultations that never happened do not count as a patient's "last consultation".
_NOT_HELD = [ConsultationState.CANCELLED, ConsultationState.RESCHEDULED, ConsultationState.NO_SHOW]


def last_consultation_subquery(viewer: User) -> Subquery:
    """Start of the patient's latest consultation that has begun or was due (not cancelled,
    rescheduled or missed). A doctor only sees consultations of their own."""
    consultations = Consultation.objects.filter(
        patient=OuterRef("pk"), scheduled_start__lte=timezone.now()
    ).exclude(state__in=_NOT_HELD)
    if viewer.role == Role.DOCTOR:
        consultations = consultations.filter(doctor=viewer)
    return Subquery(consultations.order_by("-scheduled_start").values("scheduled_start")[:1])


def visible_patients(viewer: User) -> QuerySet[User]:
    """Patient accounts ``viewer`` may see, with the profile joined and the columns lists sort on."""
    patients = User.objects.filter(role=Role.PATIENT)
    ids = patient_ids_visible_to(viewer)
    if ids is not None:
        patients = patients.filter(pk__in=ids)
    return patients.select_related("patient_profile").annotate(
        last_consultation=last_consultation_subquery(viewer),
        date_of_birth=F("patient_profile__date_of_birth"),
        city=F("patient_profile__city"),
    )


def find_patient(patient_id) -> User | None:
    """The patient account with this id, whoever asks (callers check access themselves)."""
    return User.objects.filter(pk=patient_id, role=Role.PATIENT).first()


def visible_patient(viewer: User, patient_id) -> User | None:
    """The patient, if ``viewer`` may see them; None otherwise (callers answer 404 either way)."""
    patient = find_patient(patient_id)
    if patient is None or not can_view_patient(viewer, patient.pk):
        return None
    return patient


def profile_of(patient: User) -> PatientProfile:
    """The patient's profile, or an empty unsaved one: reading never creates rows."""
    profile = PatientProfile.objects.filter(user=patient).first()
    if profile is None:
        profile = PatientProfile(user=patient)
    profile.user = patient
    return profile


def years_before(today: date, years: int) -> date:
    """The same calendar day ``years`` earlier; 29 February becomes 28 February."""
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return today.replace(year=today.year - years, day=28)


def age_on(date_of_birth: date | None, today: date) -> int | None:
    if date_of_birth is None:
        return None
    return (
        today.year
        - date_of_birth.year
        - ((today.month, today.day) < (date_of_birth.month, date_of_birth.day))
    )
