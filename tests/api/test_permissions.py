"""Role permissions, alone and combined with ``|``, against every member of the cast."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from telehealth.api.permissions import IsAdmin, IsDoctor, IsPatient, IsSuperAdmin, has_role
from tests.factories import UserFactory

CAST = ["anonymous", "patient", "doctor", "admin", "superadmin", "inactive_patient", "inactive_admin"]

# Which members of the cast each permission lets through; everyone else is refused.
ALLOWED = {
    "IsPatient": {"patient"},
    "IsDoctor": {"doctor"},
    "IsAdmin": {"admin", "superadmin"},
    "IsSuperAdmin": {"superadmin"},
    "has_role(doctor)": {"doctor"},
    "has_role(doctor, admin)": {"doctor", "admin"},
    "IsDoctor | IsAdmin": {"doctor", "admin", "superadmin"},
    "IsPatient | IsDoctor": {"patient", "doctor"},
    "has_role(patient) | IsSuperAdmin": {"patient", "superadmin"},
}

PERMISSIONS = {
    "IsPatient": IsPatient,
    "IsDoctor": IsDoctor,
    "IsAdmin": IsAdmin,
    "IsSuperAdmin": IsSuperAdmin,
    "has_role(doctor)": has_role("doctor"),
    "has_role(doctor, admin)": has_role("doctor", "admin"),
    "IsDoctor | IsAdmin": IsDoctor | IsAdmin,
    "IsPatient | IsDoctor": IsPatient | IsDoctor,
    "has_role(patient) | IsSuperAdmin": has_role("patient") | IsSuperAdmin,
}

MATRIX = [(perm, who, who in ALLOWED[perm]) for perm in PERMISSIONS for who in CAST]


@pytest.fixture
def cast(patient, doctor, admin_user, superadmin):
    return {
        "anonymous": AnonymousUser(),
        "patient": patient,
        "doctor": doctor,
        "admin": admin_user,
        "superadmin": superadmin,
        "inactive_patient": UserFactory(role="patient", is_active=False),
        "inactive_admin": UserFactory(role="admin", is_active=False),
    }


def _view_guarded_by(permission_class):
    class Guarded(APIView):
        permission_classes = [permission_class]

        def get(self, request):
            return Response({"ok": True})

    return Guarded.as_view()


@pytest.mark.parametrize(("perm", "who", "allowed"), MATRIX)
def test_has_permission_matrix(cast, perm, who, allowed):
    request = SimpleNamespace(user=cast[who])

    assert bool(PERMISSIONS[perm]().has_permission(request, None)) is allowed


@pytest.mark.parametrize(("perm", "who", "allowed"), MATRIX)
def test_guarded_view_matrix(cast, perm, who, allowed):
    request = APIRequestFactory().get("/guarded/")
    if who != "anonymous":
        force_authenticate(request, user=cast[who])

    response = _view_guarded_by(PERMISSIONS[perm])(request)

    if allowed:
        assert response.status_code == 200
        assert response.data == {"ok": True}
    elif who == "anonymous":
        assert response.status_code == 401
        assert response.data["error"]["code"] == "AUTHENTICATION_FAILED"
    else:
        assert response.status_code == 403
        assert response.data["error"]["code"] == "PERMISSION_DENIED"


def test_refusal_by_role_permission_explains_the_role(doctor):
    request = APIRequestFactory().get("/guarded/")
    force_authenticate(request, user=doctor)

    response = _view_guarded_by(IsPatient)(request)

    assert response.status_code == 403
    assert response.data["error"]["message"] == "Your role may not perform this action."


def test_has_role_names_its_class_after_the_roles():
    permission = has_role("doctor", "admin")

    assert permission.__name__ == "HasRole_doctor_admin"
    assert permission.roles == frozenset({"doctor", "admin"})


def test_has_role_classes_are_independent():
    doctors, patients = has_role("doctor"), has_role("patient")

    assert doctors.roles == frozenset({"doctor"})
    assert patients.roles == frozenset({"patient"})
    assert IsPatient.roles == frozenset({"patient"})


def test_request_without_user_is_refused():
    assert IsAdmin().has_permission(SimpleNamespace(user=None), None) is False
