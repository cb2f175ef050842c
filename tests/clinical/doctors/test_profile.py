"""The doctor's own profile at /api/doctors/me/: created on first write, pending until verified,
and back to pending when verified credentials change."""

from __future__ import annotations

import pytest

from clinical.models import DoctorProfile
from tests.api.helpers import error_of, success_data
from tests.clinical.doctors.conftest import url

pytestmark = pytest.mark.django_db

ME = url("me")
NEW_PROFILE = {
    "registration_number": "KMC-4242",
    "council": "Karnataka Medical Council",
    "specialisations": ["cardiology", "general-medicine"],
    "languages": ["en", "kn"],
    "fee_amount": 70_000,
    "fee_currency": "INR",
    "bio": "Preventive cardiology.",
    "years_of_experience": 9,
    "slot_minutes": 20,
    "buffer_minutes": 5,
}


def test_doctor_creates_a_profile_with_first_put(client_for, doctor, reference_data):
    data = success_data(client_for(doctor).put(ME, NEW_PROFILE), 201)
    assert data["verification_status"] == "pending"
    assert sorted(s["slug"] for s in data["specialisations"]) == ["cardiology", "general-medicine"]
    assert sorted(lang["code"] for lang in data["languages"]) == ["en", "kn"]
    assert (data["slot_minutes"], data["buffer_minutes"]) == (20, 5)
    profile = DoctorProfile.objects.get(user=doctor)
    assert profile.registration_number == "KMC-4242"
    assert profile.fee_amount == 70_000


def test_patch_also_creates_but_needs_the_required_fields(client_for, doctor, reference_data):
    error = error_of(client_for(doctor).patch(ME, {"bio": "hello"}), 400, "VALIDATION_ERROR")
    assert {"registration_number", "council"} <= set(error["details"])
    assert not DoctorProfile.objects.filter(user=doctor).exists()


def test_doctor_without_profile_gets_404_on_read(client_for, doctor):
    error_of(client_for(doctor).get(ME), 404, "NOT_FOUND")


def test_doctor_reads_own_profile_with_its_state(client_for, doctor_profile):
    data = success_data(client_for(doctor_profile.user).get(ME))
    assert data["verification_status"] == "verified"
    assert data["registration_number"] == "NMC-1001"


@pytest.mark.parametrize("role", ["patient", "other_patient", "admin_user", "superadmin"])
def test_non_doctors_cannot_have_a_doctor_profile(role, as_role, reference_data):
    _, client = as_role(role)
    error_of(client.put(ME, NEW_PROFILE), 403, "PERMISSION_DENIED")
    error_of(client.get(ME), 403, "PERMISSION_DENIED")
    assert not DoctorProfile.objects.exists()


def test_anonymous_cannot_use_me(api_client):
    error_of(api_client.get(ME), 401, "AUTHENTICATION_FAILED")


def test_changing_the_fee_keeps_verification(client_for, doctor_profile):
    data = success_data(client_for(doctor_profile.user).patch(ME, {"fee_amount": 80_000}))
    assert data["fee_amount"] == 80_000
    assert data["verification_status"] == "verified"


@pytest.mark.parametrize(
    "change", [{"registration_number": "NMC-9999"}, {"council": "Delhi Medical Council"}]
)
def test_changing_verified_credentials_sends_the_profile_back_to_pending(
    change, client_for, doctor_profile, admin_user
):
    DoctorProfile.objects.filter(pk=doctor_profile.pk).update(verified_by=admin_user)
    data = success_data(client_for(doctor_profile.user).patch(ME, change))
    assert data["verification_status"] == "pending"
    assert data["verified_by"] is None
    assert data["verified_at"] is None


def test_resending_the_same_credentials_keeps_verification(client_for, doctor_profile):
    data = success_data(
        client_for(doctor_profile.user).patch(
            ME, {"registration_number": "NMC-1001", "council": doctor_profile.council}
        )
    )
    assert data["verification_status"] == "verified"


def test_specialisations_are_replaced_when_given(client_for, doctor_profile):
    data = success_data(client_for(doctor_profile.user).patch(ME, {"specialisations": ["neurology"]}))
    assert [s["slug"] for s in data["specialisations"]] == ["neurology"]
    assert sorted(lang["code"] for lang in data["languages"]) == ["en", "hi"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"fee_currency": "rupees"}, "fee_currency"),
        ({"fee_amount": -1}, "fee_amount"),
        ({"slot_minutes": 2}, "slot_minutes"),
        ({"slot_minutes": 300}, "slot_minutes"),
        ({"buffer_minutes": 121}, "buffer_minutes"),
        ({"years_of_experience": 81}, "years_of_experience"),
        ({"specialisations": ["astrology"]}, "specialisations"),
        ({"languages": ["xx"]}, "languages"),
        ({"registration_number": "  "}, "registration_number"),
    ],
)
def test_invalid_profile_fields_are_refused(change, field, client_for, doctor_profile):
    error = error_of(client_for(doctor_profile.user).patch(ME, change), 400, "VALIDATION_ERROR")
    assert field in error["details"]


def test_currency_is_normalised_to_upper_case(client_for, doctor_profile):
    assert (
        success_data(client_for(doctor_profile.user).patch(ME, {"fee_currency": "usd"}))["fee_currency"]
        == "USD"
    )


def test_registration_number_is_unique(client_for, doctor_profile, other_doctor_profile):
    response = client_for(other_doctor_profile.user).patch(ME, {"registration_number": "NMC-1001"})
    assert "registration_number" in error_of(response, 400, "VALIDATION_ERROR")["details"]
