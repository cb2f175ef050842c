"""Writes: drafting, issuing and correcting prescriptions.

Rules:
- only the consultation's doctor prescribes, and only once the consultation is under way or over
  (``in_progress`` or ``completed``): a prescription needs a consultation that actually happened;
- a draft is edited or deleted only by its doctor;
- issuing runs the interaction and allergy check; a severe finding blocks unless the doctor gives an
  override reason, which is stored with the findings; the prescription then gets its verification
  code and is locked for good;
- a correction is a new version (a draft copy linked to the old one); issuing it supersedes the old.

The lock is enforced twice: by these functions, and by ``pre_save``/``pre_delete`` receivers at the
bottom of this module, which refuse any ORM write to a locked prescription or its items, whatever
code path tries it. They are connected when this module is imported: the URLconf imports it through
the views, so every web process has them before it serves a request; code that writes prescriptions
outside the web (shell, tasks) goes through these services and imports it too.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models.signals import pre_delete, pre_save
from django.dispatch import receiver
from django.utils import timezone

from clinical import error_codes
from clinical.models import (
    Consultation,
    ConsultationState,
    Prescription,
    PrescriptionItem,
    PrescriptionStatus,
)
from clinical.prescriptions import interactions, selectors
from telehealth.accounts.models import Role, User
from telehealth.api import error_codes as api_codes
from telehealth.api.errors import ServiceError
from telehealth.notifications import events as notifications

PRESCRIBABLE_STATES = frozenset({ConsultationState.IN_PROGRESS, ConsultationState.COMPLETED})
OVERRIDE_REASON_MIN_LENGTH = 10
ITEM_FIELDS = ("medication", "dose", "route", "frequency", "duration_days", "quantity", "instructions")


class PrescriptionLocked(ServiceError):
    status_code = 409

    def __init__(self, message: str = "An issued prescription cannot be changed; revise it instead.") -> None:
        super().__init__(error_codes.PRESCRIPTION_LOCKED, message)


def _ensure_author(actor: User, prescription: Prescription) -> None:
    if prescription.doctor_id != actor.pk:
        raise ServiceError(
            api_codes.PERMISSION_DENIED,
            "Only the prescribing doctor may change this prescription.",
            status=403,
        )


def _ensure_draft(prescription: Prescription) -> None:
    if prescription.status != PrescriptionStatus.DRAFT:
        raise PrescriptionLocked()


def _lock(prescription: Prescription) -> Prescription:
    return Prescription.objects.select_for_update().get(pk=prescription.pk)


def _write_items(prescription: Prescription, items: list[dict[str, Any]]) -> None:
    PrescriptionItem.objects.bulk_create(
        PrescriptionItem(prescription=prescription, **{f: item[f] for f in ITEM_FIELDS if f in item})
        for item in items
    )


def create_prescription(
    actor: User, consultation: Consultation, *, notes: str = "", items: list[dict[str, Any]]
) -> Prescription:
    """A draft prescription for ``consultation``'s patient, written by its doctor."""
    if actor.role != Role.DOCTOR or consultation.doctor_id != actor.pk:
        raise ServiceError(
            api_codes.PERMISSION_DENIED, "Only the consultation's doctor may prescribe.", status=403
        )
    if consultation.state not in PRESCRIBABLE_STATES:
        raise ServiceError(
            api_codes.VALIDATION_ERROR,
            "The request contains invalid data.",
            details={
                "consultation": [
                    f"A {consultation.state} consultation cannot have prescriptions: "
                    "prescribe during or after the consultation (in progress or completed)."
                ]
            },
        )
    with transaction.atomic():
        prescription = Prescription.objects.create(
            consultation=consultation, doctor=actor, patient_id=consultation.patient_id, notes=notes
        )
        _write_items(prescription, items)
    return prescription


def update_prescription(
    actor: User,
    prescription: Prescription,
    *,
    notes: str | None = None,
    items: list[dict[str, Any]] | None = None,
) -> Prescription:
    """Change a draft: notes, and/or the whole list of items (replaced, not merged)."""
    with transaction.atomic():
        locked = _lock(prescription)
        _ensure_author(actor, locked)
        _ensure_draft(locked)
        if notes is not None:
            locked.notes = notes
            locked.save(update_fields=["notes"])
        if items is not None:
            locked.items.all().delete()
            _write_items(locked, items)
    return locked


def delete_prescription(actor: User, prescription: Prescription) -> None:
    """Throw a draft away. Issued prescriptions are records and stay."""
    with transaction.atomic():
        locked = _lock(prescription)
        _ensure_author(actor, locked)
        _ensure_draft(locked)
        locked.delete()


def check_prescription(actor: User, prescription: Prescription, *, now: datetime | None = None) -> list[dict]:
    """The interaction and allergy findings the draft would be issued with; changes nothing."""
    _ensure_author(actor, prescription)
    return [f.as_dict() for f in selectors.findings_for(prescription, now=now or timezone.now())]


def _new_code() -> str:
    return "".join(secrets.choice(selectors.CODE_ALPHABET) for _ in range(selectors.CODE_LENGTH))


def issue_prescription(
    actor: User,
    prescription: Prescription,
    *,
    override_reason: str = "",
    now: datetime | None = None,
) -> Prescription:
    """Check, then issue and lock the draft. Severe findings need ``override_reason``; it is stored
    with the findings. Issuing a correction supersedes the version it corrects. The patient is
    notified after commit (ids only: no medication names leave in the notification)."""
    now = now or timezone.now()
    override_reason = override_reason.strip()
    with transaction.atomic():
        locked = _lock(prescription)
        _ensure_author(actor, locked)
        _ensure_draft(locked)
        if not locked.items.exists():
            raise ServiceError(
                api_codes.VALIDATION_ERROR,
                "The request contains invalid data.",
                details={"items": ["Add at least one item before issuing."]},
            )
        findings = [f.as_dict() for f in selectors.findings_for(locked, now=now)]
        severe = interactions.is_blocking(findings)
        if severe and len(override_reason) < OVERRIDE_REASON_MIN_LENGTH:
            raise ServiceError(
                error_codes.INTERACTION_BLOCKED,
                "Severe interaction or allergy findings: issue again with an override_reason "
                f"of at least {OVERRIDE_REASON_MIN_LENGTH} characters to proceed.",
                status=409,
                details={"findings": findings, "override_reason_min_length": OVERRIDE_REASON_MIN_LENGTH},
            )
        if locked.previous_id is not None:
            previous = Prescription.objects.select_for_update().get(pk=locked.previous_id)
            if previous.status != PrescriptionStatus.ISSUED:
                raise ServiceError(
                    api_codes.CONFLICT, "The corrected version is no longer current.", status=409
                )
            previous.status = PrescriptionStatus.SUPERSEDED
            previous.save(update_fields=["status"])
        locked.status = PrescriptionStatus.ISSUED
        locked.issued_at = now
        locked.warnings = findings
        locked.override_reason = override_reason if severe else ""
        for _attempt in range(5):
            locked.verification_code = _new_code()
            try:
                with transaction.atomic():
                    locked.save()
                break
            except IntegrityError:  # a code collision (50 random bits): draw again
                continue
        else:  # pragma: no cover - would take astronomically bad luck
            raise ServiceError(api_codes.CONFLICT, "Could not allocate a verification code.", status=409)
        notifications.prescription_issued(locked)
    return locked


def revise_prescription(actor: User, prescription: Prescription) -> Prescription:
    """A correction: version n+1 as a draft copy of the issued prescription, linked to it. The old
    one stays valid until the correction is issued."""
    with transaction.atomic():
        old = _lock(prescription)
        _ensure_author(actor, old)
        if old.status == PrescriptionStatus.DRAFT:
            raise ServiceError(
                api_codes.CONFLICT,
                "A draft is edited directly; only issued prescriptions are revised.",
                status=409,
            )
        if old.status == PrescriptionStatus.SUPERSEDED:
            raise ServiceError(
                api_codes.CONFLICT, "This version has been superseded; revise the latest one.", status=409
            )
        existing = Prescription.objects.filter(previous=old).values_list("pk", flat=True).first()
        if existing is not None:
            raise ServiceError(
                api_codes.CONFLICT,
                "A correction of this prescription is already being drafted.",
                status=409,
                details={"correction": str(existing)},
            )
        new = Prescription.objects.create(
            consultation_id=old.consultation_id,
            doctor_id=old.doctor_id,
            patient_id=old.patient_id,
            version=old.version + 1,
            previous=old,
            notes=old.notes,
        )
        _write_items(
            new,
            [{f: getattr(item, f) for f in ITEM_FIELDS} for item in old.items.select_related("medication")],
        )
    return new


# --- The model-level lock ------------------------------------------------------------------------

_LOCKED_FIELDS = [
    f.attname for f in Prescription._meta.concrete_fields if not f.primary_key and f.attname != "status"
]


@receiver(pre_save, sender=Prescription, dispatch_uid="prescriptions_lock_prescription")
def _refuse_changes_to_issued(sender, instance: Prescription, raw: bool = False, **kwargs) -> None:
    """Once issued, a row may change in one way only: its status from issued to superseded."""
    if raw or instance._state.adding:
        return
    stored = Prescription.objects.filter(pk=instance.pk).values("status", *_LOCKED_FIELDS).first()
    if stored is None or stored["status"] == PrescriptionStatus.DRAFT:
        return
    changed = [name for name in _LOCKED_FIELDS if getattr(instance, name) != stored[name]]
    status_ok = instance.status == stored["status"] or (
        stored["status"] == PrescriptionStatus.ISSUED and instance.status == PrescriptionStatus.SUPERSEDED
    )
    if changed or not status_ok:
        raise PrescriptionLocked()


@receiver(pre_delete, sender=Prescription, dispatch_uid="prescriptions_lock_prescription_delete")
def _refuse_deleting_issued(sender, instance: Prescription, **kwargs) -> None:
    stored = Prescription.objects.filter(pk=instance.pk).values_list("status", flat=True).first()
    if stored not in (None, PrescriptionStatus.DRAFT):
        raise PrescriptionLocked("An issued prescription cannot be deleted.")


@receiver(pre_save, sender=PrescriptionItem, dispatch_uid="prescriptions_lock_item")
@receiver(pre_delete, sender=PrescriptionItem, dispatch_uid="prescriptions_lock_item_delete")
def _refuse_item_changes(sender, instance: PrescriptionItem, raw: bool = False, **kwargs) -> None:
    if raw:
        return
    status = Prescription.objects.filter(pk=instance.prescription_id).values_list("status", flat=True).first()
    if status not in (None, PrescriptionStatus.DRAFT):
        raise PrescriptionLocked()
