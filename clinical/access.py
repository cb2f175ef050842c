"""Who may see whose health data. One place, used by every clinical endpoint.

- a patient: only themselves;
- a doctor: patients they have (or had) a consultation with;
- admins and superadmins: everyone.
"""

from __future__ import annotations

from django.db.models import QuerySet

from clinical.models import Consultation
from telehealth.accounts.models import Role, User


def is_staff(user: User) -> bool:
    return user.is_authenticated and user.is_admin_role


def patient_ids_visible_to(user: User) -> QuerySet | None:
    """The patient ids ``user`` may see, as a subquery; None means all (staff)."""
    if is_staff(user):
        return None
    if user.role == Role.DOCTOR:
        return Consultation.objects.filter(doctor=user).values("patient_id")
    return User.objects.filter(pk=user.pk).values("pk")


def can_view_patient(user: User, patient_id) -> bool:
    if not user.is_authenticated:
        return False
    if is_staff(user) or str(user.pk) == str(patient_id):
        return True
    if user.role == Role.DOCTOR:
        return Consultation.objects.filter(doctor=user, patient_id=patient_id).exists()
    return False


def is_care_team(user: User, patient_id) -> bool:
    """Doctors treating the patient, and staff: who may read and write doctors' private notes."""
    return user.is_authenticated and user.role != Role.PATIENT and can_view_patient(user, patient_id)


def consultations_visible_to(user: User) -> QuerySet:
    qs = Consultation.objects.all()
    if is_staff(user):
        return qs
    if user.role == Role.DOCTOR:
        return qs.filter(doctor=user)
    return qs.filter(patient=user)
