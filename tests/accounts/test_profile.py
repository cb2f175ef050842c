from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

PROFILE = "/api/auth/profile/"


def test_profile_shows_own_account(client_for, patient):
    response = client_for(patient).get(PROFILE)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["id"] == str(patient.pk)
    assert data["phone"] == patient.phone
    assert data["role"] == "patient"


def test_profile_needs_authentication(api_client):
    response = api_client.get(PROFILE)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"


def test_patch_updates_only_given_fields(client_for, patient):
    response = client_for(patient).patch(PROFILE, {"first_name": "Alicia", "timezone": "Asia/Kolkata"})
    assert response.status_code == 200
    patient.refresh_from_db()
    assert patient.first_name == "Alicia"
    assert patient.timezone == "Asia/Kolkata"
    assert response.json()["data"]["first_name"] == "Alicia"


def test_put_replaces_the_editable_fields(client_for, patient):
    body = {
        "first_name": "A",
        "last_name": "B",
        "email": "a@example.com",
        "timezone": "UTC",
        "language": "hi",
    }
    response = client_for(patient).put(PROFILE, body)
    assert response.status_code == 200
    patient.refresh_from_db()
    assert (patient.first_name, patient.last_name, patient.email, patient.language) == (
        "A",
        "B",
        "a@example.com",
        "hi",
    )


def test_role_and_phone_cannot_be_changed_through_profile(client_for, patient):
    original_phone = patient.phone
    client_for(patient).patch(PROFILE, {"role": "admin", "phone": "+14155552671"})
    patient.refresh_from_db()
    assert patient.role == "patient"
    assert patient.phone == original_phone


@pytest.mark.parametrize(
    ("field", "value"),
    [("timezone", "Mars/Olympus"), ("email", "not-an-email"), ("first_name", "x" * 151)],
)
def test_invalid_profile_values_are_refused(client_for, patient, field, value):
    response = client_for(patient).patch(PROFILE, {field: value})
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]
