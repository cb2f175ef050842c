"""The verification workflow: pending → verified / rejected (admins), rejected → pending (the
doctor resubmits), verified → rejected (revocation). Everything else is INVALID_TRANSITION."""

from __future__ import annotations

import pytest

from clinical.models import DoctorProfile
from telehealth.audit.models import AuditEntry
from tests.api.helpers import error_of, success_data
from tests.clinical.doctors.conftest import DOCTORS, NOT_STAFF, STAFF, url

pytestmark = pytest.mark.django_db


def status_of(profile) -> str:
    return DoctorProfile.objects.get(pk=profile.pk).verification_status


@pytest.mark.parametrize("role", STAFF)
def test_staff_verify_a_pending_doctor_who_then_becomes_listed(role, as_role, api_client, pending_profile):
    actor, client = as_role(role)

    data = success_data(client.post(url(pending_profile.user_id, "verify")))

    assert data["verification_status"] == "verified"
    assert data["verified_by"] == str(actor.pk)
    assert data["verified_at"] is not None
    listed = [row["id"] for row in success_data(api_client.get(DOCTORS))["results"]]
    assert str(pending_profile.user_id) in listed
    entry = AuditEntry.objects.get(resource="doctor_verification")
    assert (entry.actor, entry.subject_id, entry.action) == (actor, pending_profile.user_id, "update")


@pytest.mark.parametrize("role", STAFF)
def test_staff_reject_a_pending_doctor_with_a_reason(role, as_role, client_for, pending_profile):
    _, client = as_role(role)

    data = success_data(client.post(url(pending_profile.user_id, "reject"), {"reason": "Licence unreadable"}))

    assert data["verification_status"] == "rejected"
    assert data["rejection_reason"] == "Licence unreadable"
    own = success_data(client_for(pending_profile.user).get(url("me")))
    assert own["rejection_reason"] == "Licence unreadable"


def test_admin_revokes_a_verified_doctor_who_disappears_from_the_directory(
    client_for, admin_user, api_client, doctor_profile
):
    data = success_data(
        client_for(admin_user).post(url(doctor_profile.user_id, "reject"), {"reason": "Licence suspended"})
    )
    assert data["verification_status"] == "rejected"
    assert data["verified_by"] is None
    assert success_data(api_client.get(DOCTORS))["count"] == 0
    error_of(api_client.get(url(doctor_profile.user_id)), 404, "NOT_FOUND")


def test_reject_needs_a_reason(client_for, admin_user, pending_profile):
    error = error_of(
        client_for(admin_user).post(url(pending_profile.user_id, "reject"), {}), 400, "VALIDATION_ERROR"
    )
    assert "reason" in error["details"]
    assert status_of(pending_profile) == "pending"


def test_rejected_doctor_resubmits_and_is_pending_again(client_for, pending_profile, admin_user):
    client_for(admin_user).post(url(pending_profile.user_id, "reject"), {"reason": "Blurry scan"})

    data = success_data(client_for(pending_profile.user).post(url("me", "resubmit")))

    assert data["verification_status"] == "pending"
    assert data["rejection_reason"] == ""
    success_data(client_for(admin_user).post(url(pending_profile.user_id, "verify")))
    assert status_of(pending_profile) == "verified"


@pytest.mark.parametrize(
    ("start", "action"),
    [
        ("verified", "verify"),
        ("rejected", "verify"),
        ("rejected", "reject"),
    ],
)
def test_illegal_admin_transitions_are_refused(start, action, client_for, admin_user, pending_profile):
    DoctorProfile.objects.filter(pk=pending_profile.pk).update(verification_status=start)
    response = client_for(admin_user).post(url(pending_profile.user_id, action), {"reason": "again"})
    error = error_of(response, 409, "INVALID_TRANSITION")
    assert error["details"]["current"] == start
    assert status_of(pending_profile) == start


@pytest.mark.parametrize("start", ["pending", "verified"])
def test_only_a_rejected_doctor_can_resubmit(start, client_for, pending_profile):
    DoctorProfile.objects.filter(pk=pending_profile.pk).update(verification_status=start)
    error_of(client_for(pending_profile.user).post(url("me", "resubmit")), 409, "INVALID_TRANSITION")
    assert status_of(pending_profile) == start


@pytest.mark.parametrize("role", NOT_STAFF)
@pytest.mark.parametrize("action", ["verify", "reject"])
def test_non_staff_cannot_decide_verification(role, action, as_role, pending_profile):
    _, client = as_role(role)
    response = client.post(url(pending_profile.user_id, action), {"reason": "x"})
    error = error_of(response, 403, "PERMISSION_DENIED")
    assert "NMC-3003" not in str(error)
    assert status_of(pending_profile) == "pending"


@pytest.mark.parametrize("action", ["verify", "reject"])
def test_anonymous_cannot_decide_verification(action, api_client, pending_profile):
    error_of(
        api_client.post(url(pending_profile.user_id, action), {"reason": "x"}), 401, "AUTHENTICATION_FAILED"
    )
    assert status_of(pending_profile) == "pending"


def test_deciding_on_a_missing_profile_is_not_found(client_for, admin_user, patient):
    error_of(client_for(admin_user).post(url(patient.pk, "verify")), 404, "NOT_FOUND")


@pytest.mark.parametrize("role", ["patient", "admin_user", "anonymous"])
def test_only_doctors_resubmit(role, as_role, pending_profile):
    _, client = as_role(role)
    response = client.post(url("me", "resubmit"))
    assert response.status_code == (401 if role == "anonymous" else 403)
