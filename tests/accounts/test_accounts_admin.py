"""Staff management of accounts at /api/users/: doctors and admins only ever come from here."""

from __future__ import annotations

import pytest
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from telehealth.accounts.models import User
from telehealth.accounts.services import issue_tokens
from tests.factories import phone_number

pytestmark = pytest.mark.django_db

USERS = "/api/users/"


def test_admin_creates_a_doctor(client_for, admin_user):
    response = client_for(admin_user).post(
        USERS, {"phone": phone_number(70_000_001), "role": "doctor", "first_name": "Grey"}
    )
    assert response.status_code == 201
    assert response.json()["data"]["role"] == "doctor"
    assert User.objects.get(phone=phone_number(70_000_001)).role == "doctor"


def test_admin_cannot_create_an_admin(client_for, admin_user):
    response = client_for(admin_user).post(USERS, {"phone": phone_number(70_000_002), "role": "admin"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"
    assert not User.objects.filter(phone=phone_number(70_000_002)).exists()


def test_superadmin_creates_an_admin(client_for, superadmin):
    response = client_for(superadmin).post(USERS, {"phone": phone_number(70_000_003), "role": "admin"})
    assert response.status_code == 201
    created = User.objects.get(phone=phone_number(70_000_003))
    assert created.is_staff
    assert not created.is_superuser


@pytest.mark.parametrize("role", ["patient", "doctor"])
def test_patients_and_doctors_cannot_manage_accounts(client_for, role, patient, doctor):
    actor = patient if role == "patient" else doctor
    client = client_for(actor)
    assert client.get(USERS).status_code == 403
    assert client.post(USERS, {"phone": phone_number(70_000_004), "role": "doctor"}).status_code == 403


def test_anonymous_cannot_list_accounts(api_client):
    assert api_client.get(USERS).status_code == 401


def test_duplicate_phone_is_a_conflict(client_for, admin_user, patient):
    response = client_for(admin_user).post(USERS, {"phone": patient.phone, "role": "doctor"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CONFLICT"


def test_admin_deactivates_a_patient_and_their_tokens_die(client_for, admin_user, patient, api_client):
    tokens = issue_tokens(patient)
    response = client_for(admin_user).patch(f"{USERS}{patient.pk}/", {"is_active": False})
    assert response.status_code == 200
    assert response.json()["data"]["is_active"] is False
    assert api_client.post("/api/auth/refresh/", {"refresh": tokens["refresh"]}).status_code == 401
    with pytest.raises(TokenError, match="blacklisted"):
        RefreshToken(tokens["refresh"])


def test_admin_cannot_touch_another_admin(client_for, admin_user, superadmin):
    other_admin = User.objects.create_user(phone_number(70_000_005), role="admin")
    response = client_for(admin_user).patch(f"{USERS}{other_admin.pk}/", {"is_active": False})
    assert response.status_code == 403
    other_admin.refresh_from_db()
    assert other_admin.is_active


def test_admin_cannot_promote_a_patient_to_admin(client_for, admin_user, patient):
    response = client_for(admin_user).patch(f"{USERS}{patient.pk}/", {"role": "admin"})
    assert response.status_code == 403
    patient.refresh_from_db()
    assert patient.role == "patient"


def test_superadmin_cannot_demote_themselves(client_for, superadmin):
    response = client_for(superadmin).patch(f"{USERS}{superadmin.pk}/", {"role": "patient"})
    assert response.status_code == 403


def test_invalid_role_is_a_validation_error(client_for, admin_user):
    response = client_for(admin_user).post(USERS, {"phone": phone_number(70_000_006), "role": "wizard"})
    assert response.status_code == 400
    assert "role" in response.json()["error"]["details"]
