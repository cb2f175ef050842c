from __future__ import annotations

import pytest

from clinical.models import ClinicMember
from tests.api.helpers import error_of, success_data
from tests.clinical.clinics.factories import ClinicMemberFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def members_url(clinic) -> str:
    return f"/api/eclinic/{clinic.pk}/members/"


def member_url(clinic, user) -> str:
    return f"{members_url(clinic)}{ClinicMember.objects.get(clinic=clinic, user=user).pk}/"


@pytest.mark.parametrize("who", ["clinic_admin", "clinic_staff", "doctor", "admin_user", "superadmin"])
def test_members_and_platform_staff_list_members(as_user, clinic, clinic_staff, clinic_doctor, who):
    data = success_data(as_user(who).get(members_url(clinic)))

    assert [(m["name"].split()[0], m["clinic_role"]) for m in data["results"]] == [
        ("Carla", "admin"),
        ("Stan", "staff"),
        ("Dana", "doctor"),
    ]
    assert data["results"][2]["account_role"] == "doctor"


@pytest.mark.parametrize("who", ["patient", "other_patient", "other_doctor"])
def test_outsider_cannot_list_members(as_user, clinic, clinic_staff, who):
    error = error_of(as_user(who).get(members_url(clinic)), 403, "PERMISSION_DENIED")
    assert "Stan" not in str(error)


def test_anonymous_cannot_list_members(api_client, clinic):
    error_of(api_client.get(members_url(clinic)), 401, "AUTHENTICATION_FAILED")


def test_outsider_gets_404_for_a_pending_clinics_members(client_for, patient, pending_clinic):
    error_of(client_for(patient).get(members_url(pending_clinic)), 404, "NOT_FOUND")


def test_member_list_filters_by_role(client_for, clinic_admin, clinic, clinic_staff, clinic_doctor):
    data = success_data(client_for(clinic_admin).get(members_url(clinic), {"clinic_role": "doctor"}))
    assert [m["user"] for m in data["results"]] == [str(clinic_doctor.pk)]


def test_member_list_runs_a_constant_number_of_queries(
    client_for, clinic_admin, clinic, django_assert_max_num_queries
):
    for _ in range(10):
        ClinicMemberFactory(clinic=clinic)
    client = client_for(clinic_admin)
    # user, clinic, my role, count, page
    with django_assert_max_num_queries(5):
        assert success_data(client.get(members_url(clinic)))["count"] == 11


def test_clinic_admin_attaches_a_doctor(client_for, clinic_admin, clinic, doctor):
    data = success_data(
        client_for(clinic_admin).post(members_url(clinic), {"user": str(doctor.pk), "clinic_role": "doctor"}),
        201,
    )

    assert data["clinic_role"] == "doctor"
    assert ClinicMember.objects.get(clinic=clinic, user=doctor).role == "doctor"


def test_only_doctor_accounts_join_as_doctors(client_for, clinic_admin, clinic, patient):
    error = error_of(
        client_for(clinic_admin).post(
            members_url(clinic), {"user": str(patient.pk), "clinic_role": "doctor"}
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert "user" in error["details"]
    assert not ClinicMember.objects.filter(user=patient).exists()


def test_clinic_admin_adds_staff_and_another_admin(client_for, clinic_admin, clinic, patient, other_patient):
    client = client_for(clinic_admin)
    success_data(client.post(members_url(clinic), {"user": str(patient.pk), "clinic_role": "staff"}), 201)
    success_data(
        client.post(members_url(clinic), {"user": str(other_patient.pk), "clinic_role": "admin"}), 201
    )

    # The new admin manages the clinic too.
    assert success_data(client_for(other_patient).patch(f"/api/eclinic/{clinic.pk}/", {"city": "Pune"}))


def test_adding_a_member_twice_conflicts(client_for, clinic_admin, clinic, clinic_doctor):
    error_of(
        client_for(clinic_admin).post(
            members_url(clinic), {"user": str(clinic_doctor.pk), "clinic_role": "doctor"}
        ),
        409,
        "ALREADY_MEMBER",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"clinic_role": "staff"}, "user"),
        ({"user": "not-a-uuid", "clinic_role": "staff"}, "user"),
        ({"user": "00000000-0000-0000-0000-000000000000", "clinic_role": "staff"}, "user"),
        ({"user": None, "clinic_role": "owner"}, "clinic_role"),
    ],
)
def test_member_input_is_validated(client_for, clinic_admin, clinic, body, field):
    error = error_of(client_for(clinic_admin).post(members_url(clinic), body), 400, "VALIDATION_ERROR")
    assert field in error["details"]


def test_inactive_accounts_cannot_be_added(client_for, clinic_admin, clinic):
    ghost = UserFactory(role="doctor", is_active=False)
    error = error_of(
        client_for(clinic_admin).post(members_url(clinic), {"user": str(ghost.pk), "clinic_role": "doctor"}),
        400,
        "VALIDATION_ERROR",
    )
    assert "user" in error["details"]


@pytest.mark.parametrize("who", ["clinic_staff", "doctor", "patient", "admin_user", "superadmin"])
def test_only_clinic_admins_add_members(as_user, clinic, clinic_staff, clinic_doctor, other_doctor, who):
    error_of(
        as_user(who).post(members_url(clinic), {"user": str(other_doctor.pk), "clinic_role": "doctor"}),
        403,
        "PERMISSION_DENIED",
    )
    assert not ClinicMember.objects.filter(user=other_doctor).exists()


def test_anonymous_cannot_add_members(api_client, clinic, doctor):
    error_of(
        api_client.post(members_url(clinic), {"user": str(doctor.pk), "clinic_role": "doctor"}),
        401,
        "AUTHENTICATION_FAILED",
    )


def test_clinic_admin_removes_a_member(client_for, clinic_admin, clinic, clinic_doctor):
    success_data(client_for(clinic_admin).delete(member_url(clinic, clinic_doctor)))
    assert not ClinicMember.objects.filter(user=clinic_doctor).exists()


def test_doctor_leaves_a_clinic(client_for, clinic, clinic_doctor):
    success_data(client_for(clinic_doctor).delete(member_url(clinic, clinic_doctor)))
    assert not ClinicMember.objects.filter(user=clinic_doctor).exists()


@pytest.mark.parametrize("who", ["clinic_staff", "other_doctor", "admin_user"])
def test_others_cannot_remove_a_doctor(as_user, clinic, clinic_staff, clinic_doctor, who):
    error_of(as_user(who).delete(member_url(clinic, clinic_doctor)), 403, "PERMISSION_DENIED")
    assert ClinicMember.objects.filter(user=clinic_doctor).exists()


def test_the_last_admin_cannot_leave(client_for, clinic_admin, clinic):
    error_of(client_for(clinic_admin).delete(member_url(clinic, clinic_admin)), 409, "LAST_CLINIC_ADMIN")
    assert ClinicMember.objects.filter(user=clinic_admin, role="admin").exists()


def test_an_admin_may_leave_when_another_remains(client_for, clinic_admin, clinic, other_patient):
    ClinicMemberFactory(clinic=clinic, user=other_patient, role="admin")
    success_data(client_for(clinic_admin).delete(member_url(clinic, clinic_admin)))
    assert list(ClinicMember.objects.filter(clinic=clinic).values_list("user", flat=True)) == [
        other_patient.pk
    ]


def test_member_of_another_clinic_is_404(client_for, clinic_admin, clinic, doctor):
    elsewhere = ClinicMemberFactory(user=doctor, role="doctor")
    error_of(client_for(clinic_admin).delete(f"{members_url(clinic)}{elsewhere.pk}/"), 404, "NOT_FOUND")
    assert ClinicMember.objects.filter(pk=elsewhere.pk).exists()
