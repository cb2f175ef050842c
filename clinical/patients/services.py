"""Writes to a patient's health data, and who may make them.

Reading follows ``clinical.access`` (the patient, their doctors, staff). Writing is narrower:

- the patient edits their own profile, medical history, insurance, emergency contacts, records and
  documents; never the doctors' private notes, which they cannot even read;
- a treating doctor (one with a consultation with the patient) adds conditions, allergies, records,
  documents and notes, and may update conditions and allergies (the shared problem list);
- records, documents and notes are changed or deleted only by whoever wrote or uploaded them;
- staff (admin, superadmin) read everything and may correct the profile; they do not write clinical
  content.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import models, transaction

from clinical.access import can_view_patient, is_staff
from clinical.documents import store_document
from clinical.models import (
    Allergy,
    Condition,
    Consultation,
    CurrentMedication,
    Document,
    DocumentKind,
    EmergencyContact,
    FamilyHistory,
    Insurance,
    MedicalRecord,
    PatientNote,
    PatientProfile,
    Surgery,
)
from telehealth.accounts.models import Role, User
from telehealth.api import error_codes
from telehealth.api.errors import ServiceError

logger = logging.getLogger(__name__)

# Resource names: the audit log's ``resource`` and the key of every write rule.
PATIENT_PROFILE = "patient_profile"
CONDITION = "condition"
ALLERGY = "allergy"
SURGERY = "surgery"
FAMILY_HISTORY = "family_history"
MEDICATION = "medication"
INSURANCE = "insurance"
EMERGENCY_CONTACT = "emergency_contact"
MEDICAL_RECORD = "medical_record"
DOCUMENT = "document"
PATIENT_NOTE = "patient_note"

MODELS: dict[str, type[models.Model]] = {
    CONDITION: Condition,
    ALLERGY: Allergy,
    SURGERY: Surgery,
    FAMILY_HISTORY: FamilyHistory,
    MEDICATION: CurrentMedication,
    INSURANCE: Insurance,
    EMERGENCY_CONTACT: EmergencyContact,
    MEDICAL_RECORD: MedicalRecord,
    PATIENT_NOTE: PatientNote,
}

CREATE, UPDATE, DELETE = "create", "update", "delete"

_PATIENT_WRITES = frozenset(
    {
        CONDITION,
        ALLERGY,
        SURGERY,
        FAMILY_HISTORY,
        MEDICATION,
        INSURANCE,
        EMERGENCY_CONTACT,
        MEDICAL_RECORD,
        DOCUMENT,
    }
)
_DOCTOR_CREATES = frozenset({CONDITION, ALLERGY, MEDICAL_RECORD, DOCUMENT, PATIENT_NOTE})
_DOCTOR_UPDATES = frozenset({CONDITION, ALLERGY})
# Only the author changes these, whoever else may read them.
_AUTHOR_FIELD = {MEDICAL_RECORD: "authored_by_id", DOCUMENT: "uploaded_by_id", PATIENT_NOTE: "author_id"}
# Only the care team may read these (never the patient).
CARE_TEAM_ONLY = frozenset({PATIENT_NOTE})


def may_write(actor: User, patient: User, resource: str, verb: str, obj: models.Model | None = None) -> bool:
    """Whether ``actor`` may ``verb`` (create, update, delete) ``patient``'s ``resource``."""
    if not can_view_patient(actor, patient.pk):
        return False
    if verb != CREATE and resource in _AUTHOR_FIELD:
        return obj is not None and getattr(obj, _AUTHOR_FIELD[resource]) == actor.pk
    if actor.pk == patient.pk:
        return resource in _PATIENT_WRITES
    if actor.role == Role.DOCTOR:
        allowed = _DOCTOR_CREATES if verb == CREATE else _DOCTOR_UPDATES if verb == UPDATE else frozenset()
        return resource in allowed
    return False


def may_read(actor: User, patient: User, resource: str) -> bool:
    return can_view_patient(actor, patient.pk) and role_may_read(actor, resource)


def role_may_read(actor: User, resource: str) -> bool:
    """The part of ``may_read`` beyond seeing the patient: patients never read care-team notes."""
    return resource not in CARE_TEAM_ONLY or actor.role != Role.PATIENT


def _refuse(message: str) -> ServiceError:
    return ServiceError(error_codes.PERMISSION_DENIED, message, status=403)


def check_may_write(
    actor: User, patient: User, resource: str, verb: str, obj: models.Model | None = None
) -> None:
    """Raise ``ServiceError`` (403 ``PERMISSION_DENIED``) unless ``may_write``."""
    if not may_write(actor, patient, resource, verb, obj):
        if verb != CREATE and resource in _AUTHOR_FIELD:
            raise _refuse("Only the author may change or delete this.")
        raise _refuse(f"Your role may not {verb} this patient's {resource.replace('_', ' ')}.")


# --- Profile --------------------------------------------------------------------------------------


def may_update_profile(actor: User, patient: User) -> bool:
    return actor.pk == patient.pk or is_staff(actor)


@transaction.atomic
def update_patient_profile(
    actor: User, patient: User, *, language: str | None = None, **fields
) -> PatientProfile:
    """Change the patient's profile (created on first write). The patient and staff may."""
    if not may_update_profile(actor, patient):
        raise _refuse("Only the patient and staff may change a patient's profile.")
    profile, _ = PatientProfile.objects.select_for_update().get_or_create(user=patient)
    for name, value in fields.items():
        setattr(profile, name, value)
    profile.full_clean(exclude=["user"])
    profile.save()
    if language is not None and language != patient.language:
        patient.language = language
        patient.save(update_fields=["language"])
    profile.user = patient
    return profile


def ensure_patient_profile(patient: User) -> PatientProfile:
    """The patient's own profile, created empty the first time they look at it."""
    profile, _ = PatientProfile.objects.get_or_create(user=patient)
    profile.user = patient
    return profile


# --- Medical history, insurance, contacts, records, notes -----------------------------------------


def create_patient_item(actor: User, patient: User, resource: str, **fields: Any) -> models.Model:
    """Add one row of ``resource`` to the patient's chart; records and notes get their author."""
    check_may_write(actor, patient, resource, CREATE)
    if resource == MEDICAL_RECORD:
        fields["authored_by"] = actor
    elif resource == PATIENT_NOTE:
        fields["author"] = actor
    item = MODELS[resource](patient=patient, **fields)
    item.full_clean()
    item.save()
    return item


def update_patient_item(actor: User, item: models.Model, resource: str, **fields: Any) -> models.Model:
    check_may_write(actor, item.patient, resource, UPDATE, item)
    for name, value in fields.items():
        setattr(item, name, value)
    item.full_clean()
    item.save()
    return item


def delete_patient_item(actor: User, item: models.Model, resource: str) -> None:
    check_may_write(actor, item.patient, resource, DELETE, item)
    item.delete()


# --- Documents ------------------------------------------------------------------------------------


def upload_patient_document(
    actor: User, patient: User, upload: UploadedFile, *, consultation: Consultation | None = None
) -> Document:
    """Store a medical document in the patient's chart (sniffed, allow-listed, size-limited)."""
    check_may_write(actor, patient, DOCUMENT, CREATE)
    if consultation is not None and consultation.patient_id != patient.pk:
        raise ServiceError(
            error_codes.VALIDATION_ERROR,
            "The request contains invalid data.",
            details={"consultation": ["Not a consultation of this patient."]},
        )
    return store_document(
        owner=patient, uploaded_by=actor, upload=upload, kind=DocumentKind.MEDICAL, consultation=consultation
    )


def delete_patient_document(actor: User, document: Document) -> None:
    """Delete the document and, once that is committed, its file."""
    check_may_write(actor, document.owner, DOCUMENT, DELETE, document)
    storage, name = document.file.storage, document.file.name
    with transaction.atomic():
        document.delete()
        transaction.on_commit(lambda: storage.delete(name))
