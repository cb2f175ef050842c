"""Fixtures for the patient area: the cast around one patient's chart, files to upload, private
storage in a temporary directory."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from clinical.models import (
    Allergy,
    Condition,
    CurrentMedication,
    EmergencyContact,
    FamilyHistory,
    Insurance,
    MedicalRecord,
    PatientNote,
    PatientProfile,
    Surgery,
)
from clinical.models.patients import private_storage
from tests.factories import ConsultationFactory

ROLES = ["patient", "other_patient", "doctor", "other_doctor", "admin_user", "superadmin", "anonymous"]


def url(patient, collection: str = "", pk=None, suffix: str = "") -> str:
    """``/api/patients/<id>/<collection>/<pk>/<suffix>/`` with the empty parts left out."""
    parts = ["/api/patients", str(patient.pk), collection, str(pk) if pk is not None else "", suffix]
    return "/".join(p for p in parts if p) + "/"


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path) -> Iterator[Path]:
    """Documents go to a temporary MEDIA_ROOT/private. ``private_storage`` was built at import with
    an explicit location, so changing MEDIA_ROOT alone would not move it."""
    settings.MEDIA_ROOT = tmp_path / "media"
    original = private_storage._location

    def point_at(location: str) -> None:
        private_storage._location = location
        private_storage.__dict__.pop("base_location", None)
        private_storage.__dict__.pop("location", None)

    point_at(str(settings.MEDIA_ROOT / "private"))
    yield settings.MEDIA_ROOT
    point_at(original)


@pytest.fixture
def consultation(patient, doctor):
    """``doctor`` treats ``patient``; ``other_doctor`` has no consultation with them."""
    return ConsultationFactory(patient=patient, doctor=doctor)


@pytest.fixture
def cast(patient, other_patient, doctor, other_doctor, admin_user, superadmin, consultation) -> dict:
    return {
        "patient": patient,
        "other_patient": other_patient,
        "doctor": doctor,
        "other_doctor": other_doctor,
        "admin_user": admin_user,
        "superadmin": superadmin,
        "anonymous": None,
    }


@pytest.fixture
def as_role(cast, client_for, api_client) -> Callable[[str], APIClient]:
    """``as_role("doctor")``: a client for that member of the cast (``anonymous``: no token)."""

    def make(role: str) -> APIClient:
        user = cast[role]
        return api_client if user is None else client_for(user)

    return make


# --- One patient's chart ------------------------------------------------------------------------------

SECRET = "Zebra-fever"  # in every chart row: a denied answer must never contain it


@pytest.fixture
def chart(patient, doctor) -> dict:
    """One row of every collection in ``patient``'s chart, each carrying ``SECRET``."""
    return {
        "conditions": Condition.objects.create(
            patient=patient, name=f"{SECRET} diabetes", icd10_code="E11.9"
        ),
        "allergies": Allergy.objects.create(
            patient=patient, substance=f"{SECRET} penicillin", severity="severe"
        ),
        "surgeries": Surgery.objects.create(patient=patient, procedure=f"{SECRET} appendectomy"),
        "family-history": FamilyHistory.objects.create(
            patient=patient, relation="mother", condition=f"{SECRET} asthma"
        ),
        "medications": CurrentMedication.objects.create(patient=patient, name=f"{SECRET} metformin"),
        "insurance": Insurance.objects.create(
            patient=patient, provider=f"{SECRET} Care", policy_number="P-1"
        ),
        "emergency-contacts": EmergencyContact.objects.create(
            patient=patient, name=f"{SECRET} Carol", relation="sister", phone="+919800000099"
        ),
        "records": MedicalRecord.objects.create(
            patient=patient,
            record_type="lab_report",
            title=f"{SECRET} HbA1c",
            record_date="2024-01-02",
            authored_by=patient,
        ),
        "notes": PatientNote.objects.create(patient=patient, author=doctor, text=f"{SECRET} suspect anxiety"),
    }


@pytest.fixture
def profile(patient) -> PatientProfile:
    return PatientProfile.objects.create(
        user=patient, date_of_birth="1990-05-17", sex="female", blood_group="O+", city="Pune", country="IN"
    )


# --- Files ------------------------------------------------------------------------------------------


def image_bytes(fmt: str, size: tuple[int, int] = (4, 4), *, noise: bool = False) -> bytes:
    """A real image file; ``noise`` makes it incompressible, so its size follows ``size``."""
    if noise:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, (200, 30, 30))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def pdf_bytes() -> bytes:
    """A minimal valid one-page PDF, written by hand (offsets in the xref table are real)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 72 72] >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def upload(name: str, content: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.fixture
def png() -> bytes:
    return image_bytes("PNG")


@pytest.fixture
def jpeg() -> bytes:
    return image_bytes("JPEG")


@pytest.fixture
def pdf() -> bytes:
    return pdf_bytes()
