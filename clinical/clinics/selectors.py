"""Reads of the e-clinics area: who sees which clinic, and the querysets the endpoints list."""

from __future__ import annotations

from django.db.models import (
    Case,
    F,
    FloatField,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast
from django.http import Http404

from clinical.access import is_staff
from clinical.models import (
    Clinic,
    ClinicMember,
    ClinicReview,
    ClinicRole,
    ClinicService,
    Consultation,
    InventoryItem,
    VerificationStatus,
)
from telehealth.accounts.models import User


def _with_details(qs: QuerySet[Clinic]) -> QuerySet[Clinic]:
    """What the clinic serializer shows, in a fixed number of queries whatever the page size."""
    doctors = (
        ClinicMember.objects.filter(role=ClinicRole.DOCTOR)
        .select_related("user__doctor_profile")
        .prefetch_related("user__doctor_profile__specialisations")
        .order_by("joined_at", "pk")
    )
    # For ``?ordering=rating_avg``: unrated clinics count as 0 so every database sorts them alike.
    return qs.annotate(
        rating_avg=Case(
            When(rating_count__gt=0, then=Cast("rating_sum", FloatField()) / F("rating_count")),
            default=Value(0.0),
            output_field=FloatField(),
        )
    ).prefetch_related(
        Prefetch("services", queryset=ClinicService.objects.filter(active=True), to_attr="active_services"),
        Prefetch("members", queryset=doctors, to_attr="doctor_members"),
    )


def public_clinics() -> QuerySet[Clinic]:
    """The public directory: verified clinics only."""
    return _with_details(Clinic.objects.filter(verification_status=VerificationStatus.VERIFIED))


def clinic_with_details(pk: object) -> Clinic:
    return _with_details(Clinic.objects.all()).get(pk=pk)


def member_role(user: User, clinic: Clinic) -> str | None:
    """The user's role in the clinic (admin, doctor, staff), or None."""
    if not user.is_authenticated:
        return None
    return ClinicMember.objects.filter(clinic=clinic, user=user).values_list("role", flat=True).first()


def get_visible_clinic(user: User, pk: object, *, details: bool = False) -> Clinic:
    """A verified clinic for anyone; an unverified one only for its members and platform staff.

    Anyone else gets a 404, so the existence of a pending clinic does not leak.
    """
    qs = _with_details(Clinic.objects.all()) if details else Clinic.objects.all()
    clinic = qs.filter(pk=pk).first()
    if clinic is None:
        raise Http404
    if clinic.verification_status == VerificationStatus.VERIFIED or is_staff(user):
        return clinic
    if member_role(user, clinic) is None:
        raise Http404
    return clinic


def my_clinics(user: User) -> QuerySet[Clinic]:
    """Every clinic the user belongs to, whatever its status, with ``my_role``."""
    role = ClinicMember.objects.filter(clinic=OuterRef("pk"), user=user).values("role")[:1]
    return _with_details(Clinic.objects.filter(members__user=user)).annotate(my_role=Subquery(role))


def clinic_members(clinic: Clinic) -> QuerySet[ClinicMember]:
    return ClinicMember.objects.filter(clinic=clinic).select_related("user").order_by("joined_at", "pk")


def clinic_services(clinic: Clinic, *, include_inactive: bool) -> QuerySet[ClinicService]:
    qs = ClinicService.objects.filter(clinic=clinic)
    return qs if include_inactive else qs.filter(active=True)


def clinic_inventory(clinic: Clinic) -> QuerySet[InventoryItem]:
    return InventoryItem.objects.filter(clinic=clinic).select_related("medication")


def clinic_reviews(clinic: Clinic) -> QuerySet[ClinicReview]:
    return ClinicReview.objects.filter(clinic=clinic)


def clinic_appointments(clinic: Clinic) -> QuerySet[Consultation]:
    """The clinic's in-clinic consultations, booked through ``POST /api/consultations/``."""
    return Consultation.objects.filter(clinic=clinic).select_related("patient", "doctor")
