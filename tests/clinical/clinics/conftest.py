"""The e-clinic cast, on top of the shared one: ``clinic_admin`` is a patient-role user who
registered ``clinic`` (so is its admin), ``clinic_staff`` works there, ``doctor`` is attached to it."""

from __future__ import annotations

import pytest

from tests.clinical.clinics.factories import ClinicFactory, ClinicMemberFactory
from tests.factories import UserFactory


@pytest.fixture
def clinic_admin(db):
    return UserFactory(role="patient", first_name="Carla")


@pytest.fixture
def clinic_staff_user(db):
    return UserFactory(role="patient", first_name="Stan")


@pytest.fixture
def pending_clinic(clinic_admin):
    clinic = ClinicFactory(name="Lakeside Clinic", created_by=clinic_admin, verification_status="pending")
    ClinicMemberFactory(clinic=clinic, user=clinic_admin, role="admin")
    return clinic


@pytest.fixture
def clinic(pending_clinic):
    pending_clinic.verification_status = "verified"
    pending_clinic.save()
    return pending_clinic


@pytest.fixture
def clinic_staff(clinic, clinic_staff_user):
    ClinicMemberFactory(clinic=clinic, user=clinic_staff_user, role="staff")
    return clinic_staff_user


@pytest.fixture
def clinic_doctor(clinic, doctor):
    ClinicMemberFactory(clinic=clinic, user=doctor, role="doctor")
    return doctor


@pytest.fixture
def users(
    patient, other_patient, doctor, other_doctor, admin_user, superadmin, clinic_admin, clinic_staff_user
):
    """Every member of the cast by name, for parametrised permission tests."""
    return {
        "patient": patient,
        "other_patient": other_patient,
        "doctor": doctor,
        "other_doctor": other_doctor,
        "admin_user": admin_user,
        "superadmin": superadmin,
        "clinic_admin": clinic_admin,
        "clinic_staff": clinic_staff_user,
        "anonymous": None,
    }


@pytest.fixture
def as_user(users, client_for, api_client):
    """``as_user("clinic_admin")``: an API client for that member of the cast (anonymous too)."""

    def make(name: str):
        user = users[name]
        return api_client if user is None else client_for(user)

    return make
