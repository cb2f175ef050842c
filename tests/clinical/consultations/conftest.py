"""Fixtures of the consultations area, building on the shared cast: ``doctor`` gets a verified,
bookable profile (09:00-17:00 UTC every day, 30-minute slots), and consultations between
``patient`` and ``doctor`` are made at the times and in the states a test needs."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils import timezone

from clinical.models import AvailabilityRule, Clinic, ClinicMember
from tests.factories import ConsultationFactory, DoctorProfileFactory

URL = "/api/consultations/"
# A Monday far ahead: every slot of it is in the future whenever the suite runs.
SLOT = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
NEXT_SLOT = SLOT + timedelta(minutes=30)
ROLES = ["patient", "other_patient", "doctor", "other_doctor", "admin_user", "superadmin", "anonymous"]


def detail_url(consultation, suffix: str = "") -> str:
    return f"{URL}{consultation.pk}/{suffix}"


def error_of(response) -> dict:
    body = response.json()
    assert body["success"] is False, body
    return body["error"]


def data_of(response) -> dict:
    body = response.json()
    assert body["success"] is True, body
    return body["data"]


def with_hours(profile, start: time = time(9), end: time = time(17), clinic=None) -> None:
    for weekday in range(7):
        AvailabilityRule.objects.create(
            doctor=profile, weekday=weekday, start_time=start, end_time=end, clinic=clinic
        )


@pytest.fixture
def doctor_profile(doctor):
    profile = DoctorProfileFactory(user=doctor, slot_minutes=30, fee_amount=50_000, fee_currency="INR")
    with_hours(profile)
    return profile


@pytest.fixture
def other_doctor_profile(other_doctor):
    profile = DoctorProfileFactory(user=other_doctor, slot_minutes=30)
    with_hours(profile)
    return profile


@pytest.fixture
def clinic(admin_user):
    return Clinic.objects.create(
        name="Lakeside Clinic",
        created_by=admin_user,
        verification_status="verified",
        address_line="1 Lake Road",
        city="Pune",
        country="IN",
    )


@pytest.fixture
def clinic_doctor(doctor_profile, clinic):
    ClinicMember.objects.create(clinic=clinic, user=doctor_profile.user, role="doctor")
    return doctor_profile


@pytest.fixture
def make_consultation(patient, doctor):
    """``make_consultation(start=..., state=..., **fields)`` between ``patient`` and ``doctor``."""

    def make(start: datetime | None = None, state: str = "scheduled", **fields):
        fields.setdefault("patient", patient)
        fields.setdefault("doctor", doctor)
        return ConsultationFactory(scheduled_start=start or SLOT, state=state, duration_minutes=30, **fields)

    return make


@pytest.fixture
def booked(make_consultation):
    """A scheduled consultation far ahead: outside every cut-off window."""
    return make_consultation(SLOT)


@pytest.fixture
def soon(make_consultation):
    """A scheduled consultation an hour from now: inside the default 4-hour cut-off."""
    return make_consultation(timezone.now() + timedelta(hours=1))


@pytest.fixture
def started(make_consultation):
    """A consultation whose start was a minute ago (its room is open)."""

    def make(state: str = "scheduled", **fields):
        return make_consultation(timezone.now() - timedelta(minutes=1), state=state, **fields)

    return make


@pytest.fixture
def as_role(request, api_client, client_for):
    """``as_role("doctor")`` → an API client for that member of the cast ("anonymous": no token)."""

    def make(role: str):
        if role == "anonymous":
            return api_client
        return client_for(request.getfixturevalue(role))

    return make
