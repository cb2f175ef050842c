"""Fixtures for the doctors area: the cast's doctors with profiles, a fixed clock, completed
consultations to review, files to upload, private storage in a temporary directory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from clinical.doctors.reference_data import ensure_reference_data
from clinical.models import AvailabilityRule, Language, Specialisation
from clinical.models.patients import private_storage
from tests.factories import ConsultationFactory, DoctorProfileFactory, UserFactory

DOCTORS = "/api/doctors/"
ROLES = ["patient", "other_patient", "doctor", "other_doctor", "admin_user", "superadmin", "anonymous"]
STAFF = ["admin_user", "superadmin"]
NOT_STAFF = ["patient", "other_patient", "doctor", "other_doctor"]
# A Monday. Tests that depend on "now" run at this instant.
NOW = datetime(2030, 1, 7, 0, 0, tzinfo=UTC)
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def url(*parts) -> str:
    """``/api/doctors/<part>/<part>/`` with the parts as strings."""
    return DOCTORS + "".join(f"{part}/" for part in parts)


@pytest.fixture
def as_role(request, api_client, client_for) -> Callable[[str], tuple[object, APIClient]]:
    """``as_role("other_doctor")`` → (that user or None, a client acting as them)."""

    def make(role: str):
        if role == "anonymous":
            return None, api_client
        user = request.getfixturevalue(role)
        return user, client_for(user)

    return make


@pytest.fixture
def frozen_now(monkeypatch) -> datetime:
    """``timezone.now()`` answers NOW (model defaults captured the real one and keep it)."""
    monkeypatch.setattr("django.utils.timezone.now", lambda: NOW)
    return NOW


@pytest.fixture
def reference_data(db) -> None:
    ensure_reference_data()


@pytest.fixture
def doctor_profile(doctor, reference_data):
    """The cast's ``doctor``, verified, in Kolkata, cardiology, Hindi and English, ₹500."""
    doctor.timezone = "Asia/Kolkata"
    doctor.save()
    profile = DoctorProfileFactory(user=doctor, registration_number="NMC-1001", years_of_experience=12)
    profile.specialisations.set(Specialisation.objects.filter(slug="cardiology"))
    profile.languages.set(Language.objects.filter(code__in=["hi", "en"]))
    return profile


@pytest.fixture
def other_doctor_profile(other_doctor, reference_data):
    """The cast's ``other_doctor``, verified, in UTC, dermatology, English, ₹300."""
    profile = DoctorProfileFactory(
        user=other_doctor, registration_number="NMC-2002", fee_amount=30_000, years_of_experience=3
    )
    profile.specialisations.set(Specialisation.objects.filter(slug="dermatology"))
    profile.languages.set(Language.objects.filter(code="en"))
    return profile


@pytest.fixture
def pending_profile(doctor, reference_data):
    """The cast's ``doctor`` with a profile waiting for verification."""
    return DoctorProfileFactory(user=doctor, registration_number="NMC-3003", verification_status="pending")


@pytest.fixture
def weekday_hours() -> Callable:
    """``weekday_hours(profile, weekday, "09:00", "11:00")``: a weekly window."""

    def make(profile, weekday: int, start: str, end: str) -> AvailabilityRule:
        return AvailabilityRule.objects.create(
            doctor=profile,
            weekday=weekday,
            start_time=time.fromisoformat(start),
            end_time=time.fromisoformat(end),
        )

    return make


@pytest.fixture
def completed_consultation() -> Callable:
    """``completed_consultation(patient, doctor, fee_amount=..., start=...)``."""
    counter = iter(range(10_000))

    def make(patient, doctor, **fields):
        fields.setdefault("scheduled_start", NOW - timedelta(days=30, hours=next(counter)))
        fields.setdefault("state", "completed")
        return ConsultationFactory(patient=patient, doctor=doctor, **fields)

    return make


@pytest.fixture
def make_doctor(reference_data) -> Callable:
    """``make_doctor(**profile_fields)``: another verified doctor with a fresh account."""

    def make(*, timezone: str = "UTC", specialisations=(), languages=(), **fields):
        user = UserFactory(role="doctor", timezone=timezone)
        profile = DoctorProfileFactory(user=user, **fields)
        profile.specialisations.set(Specialisation.objects.filter(slug__in=specialisations))
        profile.languages.set(Language.objects.filter(code__in=languages))
        return profile

    return make


@pytest.fixture
def pdf_upload() -> Callable[..., SimpleUploadedFile]:
    def make(name: str = "licence.pdf") -> SimpleUploadedFile:
        return SimpleUploadedFile(name, PDF, content_type="application/pdf")

    return make


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path) -> Iterator[Path]:
    """Documents go to a temporary directory; ``private_storage`` was built at import with an
    explicit location, so moving MEDIA_ROOT alone would not move it."""
    settings.MEDIA_ROOT = tmp_path / "media"
    original = private_storage._location

    def point_at(location: str) -> None:
        private_storage._location = location
        private_storage.__dict__.pop("base_location", None)
        private_storage.__dict__.pop("location", None)

    point_at(str(settings.MEDIA_ROOT / "private"))
    yield settings.MEDIA_ROOT
    point_at(original)
