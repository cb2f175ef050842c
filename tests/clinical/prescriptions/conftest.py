"""Fixtures for prescriptions: the shipped catalogue, a consultation under way between ``doctor`` and
``patient``, and prescriptions in each state built on each other (draft → issued → revision)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from clinical.models import Medication, Prescription
from clinical.prescriptions import services
from clinical.prescriptions.catalogue import ensure_catalogue
from tests.factories import ConsultationFactory, DoctorProfileFactory

ROLES = ["patient", "other_patient", "doctor", "other_doctor", "admin_user", "superadmin", "anonymous"]


def url(prescription=None, suffix: str = "") -> str:
    parts = ["/api/prescriptions", str(prescription.pk) if prescription is not None else "", suffix]
    return "/".join(p for p in parts if p) + "/"


def item(medication: Medication, **overrides) -> dict:
    """An item as the API takes it (medication id) ..."""
    return {
        "medication": medication.pk,
        "dose": "1 tablet",
        "route": "oral",
        "frequency": "BD",
        "duration_days": 5,
        "quantity": 10,
        "instructions": "After food",
        **overrides,
    }


def service_item(medication: Medication, **overrides) -> dict:
    """... and as the services take it (the instance)."""
    return {**item(medication, **overrides), "medication": medication}


@pytest.fixture(autouse=True)
def catalogue(db):
    ensure_catalogue()


@pytest.fixture
def med() -> Callable[[str], Medication]:
    """``med("warfarin")``: the first catalogue row with that generic name."""

    def get(generic_name: str) -> Medication:
        return Medication.objects.filter(generic_name=generic_name).order_by("id").first()

    return get


@pytest.fixture
def as_role(request, client_for, api_client):
    """``as_role("doctor")``: a client for one of the cast, or an anonymous one."""

    def make(role: str):
        if role == "anonymous":
            return api_client
        return client_for(request.getfixturevalue(role))

    return make


@pytest.fixture
def consultation(patient, doctor):
    """``doctor`` is seeing ``patient`` right now; ``other_doctor`` has nothing to do with them."""
    return ConsultationFactory(patient=patient, doctor=doctor, state="in_progress")


@pytest.fixture
def doctor_profile(doctor):
    return DoctorProfileFactory(
        user=doctor, registration_number="MH-12345", council="Maharashtra Medical Council"
    )


@pytest.fixture
def draft(doctor, consultation, med) -> Prescription:
    return services.create_prescription(
        doctor,
        consultation,
        notes="Rest and fluids.",
        items=[
            service_item(med("amoxicillin")),
            service_item(med("paracetamol"), frequency="PRN", quantity=6),
        ],
    )


@pytest.fixture
def issued(doctor, draft) -> Prescription:
    return services.issue_prescription(doctor, draft)


@pytest.fixture
def revision(doctor, issued) -> Prescription:
    return services.revise_prescription(doctor, issued)


@pytest.fixture
def other_prescription(other_patient, other_doctor, med) -> Prescription:
    """Issued, between two people unrelated to the cast's consultation."""
    consultation = ConsultationFactory(patient=other_patient, doctor=other_doctor, state="completed")
    draft = services.create_prescription(other_doctor, consultation, items=[service_item(med("metformin"))])
    return services.issue_prescription(other_doctor, draft)
