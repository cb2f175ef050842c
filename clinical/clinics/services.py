"""Write rules of the e-clinics area.

"Clinic admin" is not a platform role: it is whoever registered the clinic (or was made admin by
one), recorded as a ``ClinicMember`` with role ``admin``. Verification is the platform staff's.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from clinical import error_codes
from clinical.access import is_staff
from clinical.clinics.selectors import member_role
from clinical.models import (
    Clinic,
    ClinicMember,
    ClinicReview,
    ClinicRole,
    ClinicService,
    Consultation,
    ConsultationState,
    ConsultationType,
    InventoryItem,
    Medication,
    VerificationStatus,
)
from telehealth.accounts.models import Role, User
from telehealth.api import error_codes as api_codes
from telehealth.api.errors import ServiceError
from telehealth.notifications import events as notifications

logger = logging.getLogger("clinical.clinics")

INVENTORY_ROLES = frozenset({ClinicRole.ADMIN, ClinicRole.STAFF})

# Verification lifecycle. A rejected clinic goes back to pending when its admin edits it.
_VERIFY_FROM = frozenset({VerificationStatus.PENDING})
_REJECT_FROM = frozenset({VerificationStatus.PENDING, VerificationStatus.VERIFIED})


def _denied(message: str) -> ServiceError:
    return ServiceError(api_codes.PERMISSION_DENIED, message, status=403)


def require_clinic_role(actor: User, clinic: Clinic, roles: frozenset[str]) -> str:
    """The actor's role in the clinic if it is one of ``roles``; otherwise a 403."""
    role = member_role(actor, clinic)
    if role not in roles:
        raise _denied("Only the clinic's " + " or ".join(sorted(roles)) + " members may do this.")
    return role


def require_clinic_admin(actor: User, clinic: Clinic) -> None:
    require_clinic_role(actor, clinic, frozenset({ClinicRole.ADMIN}))


def require_member_or_staff(actor: User, clinic: Clinic) -> None:
    """Members (any role) and platform staff: who may see a clinic's members and stock."""
    if not is_staff(actor):
        require_clinic_role(actor, clinic, frozenset(ClinicRole))


def require_clinic_admin_or_staff(actor: User, clinic: Clinic) -> None:
    """Clinic admins and platform staff: who may see the clinic's appointments."""
    if not is_staff(actor):
        require_clinic_admin(actor, clinic)


def require_platform_staff(actor: User) -> None:
    if not is_staff(actor):
        raise _denied("Only platform admins may do this.")


# --- Clinics ---------------------------------------------------------------------------------------


@transaction.atomic
def register_clinic(actor: User, **fields: Any) -> Clinic:
    """Register a clinic; it starts pending and its registrant becomes its first admin."""
    clinic = Clinic.objects.create(created_by=actor, verification_status=VerificationStatus.PENDING, **fields)
    ClinicMember.objects.create(clinic=clinic, user=actor, role=ClinicRole.ADMIN)
    logger.info("clinic %s registered by %s", clinic.pk, actor.pk)
    return clinic


@transaction.atomic
def update_clinic(actor: User, clinic: Clinic, **fields: Any) -> Clinic:
    """Change a clinic's details (clinic admins). Editing a rejected clinic resubmits it."""
    require_clinic_admin(actor, clinic)
    for name, value in fields.items():
        setattr(clinic, name, value)
    changed = list(fields)
    if clinic.verification_status == VerificationStatus.REJECTED:
        clinic.verification_status = VerificationStatus.PENDING
        clinic.rejection_reason = ""
        changed += ["verification_status", "rejection_reason"]
    clinic.save(update_fields=changed or None)
    return clinic


def _move(clinic: Clinic, allowed_from: frozenset[str], to: str, **changes: Any) -> Clinic:
    # A conditional UPDATE: two admins racing cannot both apply a transition.
    moved = Clinic.objects.filter(pk=clinic.pk, verification_status__in=allowed_from).update(
        verification_status=to, **changes
    )
    if not moved:
        clinic.refresh_from_db(fields=["verification_status"])
        raise ServiceError(
            error_codes.INVALID_TRANSITION,
            f"A {clinic.verification_status} clinic cannot become {to}.",
            status=409,
            details={"current": clinic.verification_status, "requested": to},
        )
    clinic.refresh_from_db()
    return clinic


def verify_clinic(actor: User, clinic: Clinic) -> Clinic:
    """Platform staff approve a pending clinic; it then appears in the public directory."""
    require_platform_staff(actor)
    return _move(
        clinic,
        _VERIFY_FROM,
        VerificationStatus.VERIFIED,
        verified_by=actor,
        verified_at=timezone.now(),
        rejection_reason="",
    )


def reject_clinic(actor: User, clinic: Clinic, *, reason: str) -> Clinic:
    """Platform staff reject a pending clinic, or withdraw a verified one."""
    require_platform_staff(actor)
    return _move(
        clinic,
        _REJECT_FROM,
        VerificationStatus.REJECTED,
        rejection_reason=reason,
        verified_by=None,
        verified_at=None,
    )


# --- Members ---------------------------------------------------------------------------------------


def add_member(actor: User, clinic: Clinic, *, user: User, role: str) -> ClinicMember:
    """Clinic admins attach a user; only doctor accounts may join as doctors."""
    require_clinic_admin(actor, clinic)
    if role == ClinicRole.DOCTOR and user.role != Role.DOCTOR:
        raise ServiceError(
            api_codes.VALIDATION_ERROR,
            "The request contains invalid data.",
            details={"user": ["Only doctor accounts can join a clinic as doctors."]},
        )
    try:
        with transaction.atomic():
            return ClinicMember.objects.create(clinic=clinic, user=user, role=role)
    except IntegrityError:
        raise ServiceError(error_codes.ALREADY_MEMBER, "That user is already a member.", status=409) from None


@transaction.atomic
def remove_member(actor: User, clinic: Clinic, member: ClinicMember) -> None:
    """Clinic admins remove anyone; any member may leave. The last admin cannot go."""
    if member.user_id != actor.pk:
        require_clinic_admin(actor, clinic)
    if member.role == ClinicRole.ADMIN:
        # Lock the admins so two concurrent removals cannot leave the clinic with none.
        admins = list(
            ClinicMember.objects.select_for_update()
            .filter(clinic=clinic, role=ClinicRole.ADMIN)
            .values_list("pk", flat=True)
        )
        if admins == [member.pk]:
            raise ServiceError(
                error_codes.LAST_CLINIC_ADMIN, "A clinic must keep at least one admin.", status=409
            )
    member.delete()


# --- Services --------------------------------------------------------------------------------------


def create_service(actor: User, clinic: Clinic, **fields: Any) -> ClinicService:
    require_clinic_admin(actor, clinic)
    return ClinicService.objects.create(clinic=clinic, **fields)


def update_service(actor: User, service: ClinicService, **fields: Any) -> ClinicService:
    require_clinic_admin(actor, service.clinic)
    for name, value in fields.items():
        setattr(service, name, value)
    service.save(update_fields=list(fields) or None)
    return service


def delete_service(actor: User, service: ClinicService) -> None:
    require_clinic_admin(actor, service.clinic)
    service.delete()


# --- Inventory -------------------------------------------------------------------------------------


def add_inventory_item(
    actor: User, clinic: Clinic, *, medication: Medication, **fields: Any
) -> InventoryItem:
    """A new stock line (clinic admins and staff); one per medication."""
    require_clinic_role(actor, clinic, INVENTORY_ROLES)
    try:
        with transaction.atomic():
            return InventoryItem.objects.create(clinic=clinic, medication=medication, **fields)
    except IntegrityError:
        raise ServiceError(
            error_codes.ALREADY_STOCKED,
            "The clinic already stocks that medication; adjust its line instead.",
            status=409,
        ) from None


def update_inventory_item(actor: User, item: InventoryItem, **fields: Any) -> InventoryItem:
    """Change threshold or unit. Stock moves only through ``adjust_stock``."""
    require_clinic_role(actor, item.clinic, INVENTORY_ROLES)
    for name, value in fields.items():
        setattr(item, name, value)
    item.save(update_fields=[*fields, "updated_at"])
    return item


def delete_inventory_item(actor: User, item: InventoryItem) -> None:
    require_clinic_role(actor, item.clinic, INVENTORY_ROLES)
    item.delete()


def adjust_stock(actor: User, item: InventoryItem, *, delta: int, reason: str) -> InventoryItem:
    """Add (delta > 0) or take (delta < 0) stock in one conditional UPDATE.

    The database does the arithmetic (``F``) and refuses a result below zero, so concurrent
    adjustments never lose an update and never oversell. The adjustment that takes the stock from
    above its threshold to at or below it tells the clinic's admins (once, not on every later one).
    """
    require_clinic_role(actor, item.clinic, INVENTORY_ROLES)
    query = InventoryItem.objects.filter(pk=item.pk)
    if delta < 0:
        query = query.filter(stock__gte=-delta)
    # One transaction: the UPDATE's row lock holds until commit, so the stock read back is this
    # adjustment's result and ``stock - delta`` what it was just before.
    with transaction.atomic():
        if not query.update(stock=F("stock") + delta, updated_at=timezone.now()):
            item.refresh_from_db(fields=["stock"])
            raise ServiceError(
                error_codes.INSUFFICIENT_STOCK,
                f"Only {item.stock} {item.unit} in stock; cannot take {-delta}.",
                status=409,
                details={"stock": item.stock, "delta": delta},
            )
        item.refresh_from_db(fields=["stock", "low_stock_threshold", "updated_at"])
        if item.stock <= item.low_stock_threshold < item.stock - delta:
            admin_ids = list(
                ClinicMember.objects.filter(clinic_id=item.clinic_id, role=ClinicRole.ADMIN).values_list(
                    "user_id", flat=True
                )
            )
            notifications.clinic_low_stock(item.clinic, item, admin_ids)
    logger.info(
        "inventory %s of clinic %s adjusted by %+d to %d by %s: %s",
        item.pk,
        item.clinic_id,
        delta,
        item.stock,
        actor.pk,
        reason,
    )
    return item


# --- Reviews ---------------------------------------------------------------------------------------


def review_clinic(
    actor: User, clinic: Clinic, *, consultation_id: object, rating: int, comment: str = ""
) -> ClinicReview:
    """The patient of a completed in-clinic consultation at this clinic rates the clinic, once.

    A consultation that is someone else's, elsewhere, or not in-clinic gets the same answer as one
    that is not completed, so the endpoint reveals nothing about other people's consultations.
    """
    consultation = Consultation.objects.filter(
        pk=consultation_id, patient=actor, clinic=clinic, type=ConsultationType.IN_CLINIC
    ).first()
    if consultation is None or consultation.state != ConsultationState.COMPLETED:
        raise ServiceError(
            error_codes.REVIEW_NOT_ALLOWED,
            "Only the patient of a completed in-clinic consultation at this clinic may review it.",
            status=403,
        )
    try:
        with transaction.atomic():
            review = ClinicReview.objects.create(
                clinic=clinic, consultation=consultation, patient=actor, rating=rating, comment=comment
            )
            # F(): concurrent reviews of the same clinic never lose one.
            Clinic.objects.filter(pk=clinic.pk).update(
                rating_sum=F("rating_sum") + rating, rating_count=F("rating_count") + 1
            )
    except IntegrityError:
        raise ServiceError(
            error_codes.ALREADY_REVIEWED, "This consultation has already been reviewed.", status=409
        ) from None
    return review
