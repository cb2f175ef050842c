from __future__ import annotations

import pytest

from clinical.models import Clinic, ClinicMember
from tests.api.helpers import error_of, success_data
from tests.clinical.clinics.factories import ClinicFactory, ClinicMemberFactory, ClinicServiceFactory
from tests.factories import DoctorProfileFactory

pytestmark = pytest.mark.django_db

URL = "/api/eclinic/"
NEW_CLINIC = {
    "name": "Sunrise Health",
    "description": "Family practice",
    "phone": "+14155552671",
    "email": "desk@sunrise.example",
    "address_line": "1 MG Road",
    "city": "Bengaluru",
    "state": "KA",
    "country": "IN",
    "postal_code": "560001",
    "latitude": 12.9716,
    "longitude": 77.5946,
}


def detail(clinic) -> str:
    return f"{URL}{clinic.pk}/"


# --- Registration ----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["patient", "doctor", "admin_user", "clinic_admin"])
def test_any_account_registers_a_clinic_and_becomes_its_admin(as_user, users, who):
    data = success_data(as_user(who).post(URL, NEW_CLINIC), 201)

    assert data["verification_status"] == "pending"
    assert data["latitude"] == 12.9716
    assert data["services"] == []
    clinic = Clinic.objects.get(pk=data["id"])
    assert clinic.created_by == users[who]
    assert ClinicMember.objects.get(clinic=clinic).user == users[who]
    assert ClinicMember.objects.get(clinic=clinic).role == "admin"


def test_anonymous_cannot_register_a_clinic(api_client):
    error_of(api_client.post(URL, NEW_CLINIC), 401, "AUTHENTICATION_FAILED")
    assert not Clinic.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"latitude": 91}, "latitude"),
        ({"longitude": -180.5}, "longitude"),
        ({"country": "India"}, "country"),
        ({"country": "in"}, "country"),
        ({"phone": "12"}, "phone"),
        ({"email": "nope"}, "email"),
        ({"longitude": None}, "longitude"),
    ],
)
def test_registration_validates_every_field(client_for, patient, change, field):
    error = error_of(client_for(patient).post(URL, {**NEW_CLINIC, **change}), 400, "VALIDATION_ERROR")
    assert field in error["details"]
    assert not Clinic.objects.exists()


def test_coordinates_with_more_than_six_decimals_are_rounded(client_for, patient):
    data = success_data(
        client_for(patient).post(URL, {**NEW_CLINIC, "latitude": 12.97159876, "longitude": 77.5}), 201
    )
    assert data["latitude"] == 12.971599


# --- Directory and detail --------------------------------------------------------------------------


def test_directory_lists_only_verified_clinics_for_anyone(api_client, clinic):
    ClinicFactory(name="Pending", verification_status="pending")
    ClinicFactory(name="Rejected", verification_status="rejected")

    data = success_data(api_client.get(URL))

    assert [c["name"] for c in data["results"]] == ["Lakeside Clinic"]
    assert data["results"][0]["distance_km"] is None


def test_directory_shows_active_services_and_doctors(api_client, clinic, clinic_doctor, clinic_staff):
    ClinicServiceFactory(clinic=clinic, name="X-ray", price_amount=120_000)
    ClinicServiceFactory(clinic=clinic, name="Old", active=False)
    profile = DoctorProfileFactory(user=clinic_doctor)
    profile.specialisations.create(name="Cardiology", slug="cardiology")

    [row] = success_data(api_client.get(URL))["results"]

    assert [(s["name"], s["price_amount"], s["price_currency"]) for s in row["services"]] == [
        ("X-ray", 120_000, "INR")
    ]
    assert [d["user_id"] for d in row["doctors"]] == [str(clinic_doctor.pk)]
    assert row["doctors"][0]["specialisations"] == [{"slug": "cardiology", "name": "Cardiology"}]


def test_directory_filters(api_client, clinic, doctor):
    other = ClinicFactory(name="Harbour Clinic", city="Mumbai", rating_sum=9, rating_count=2)
    ClinicServiceFactory(clinic=other, name="Dental cleaning")
    ClinicServiceFactory(clinic=clinic, name="Dental implant", active=False)
    DoctorProfileFactory(user=doctor).specialisations.create(name="Dermatology", slug="dermatology")
    ClinicMemberFactory(clinic=other, user=doctor, role="doctor")

    def names(**params):
        return [c["name"] for c in success_data(api_client.get(URL, params))["results"]]

    assert names(city="mumbai") == ["Harbour Clinic"]
    assert names(country="IN") == ["Harbour Clinic", "Lakeside Clinic"]
    assert names(service="dental") == ["Harbour Clinic"]
    assert names(specialisation="dermatology") == ["Harbour Clinic"]
    assert names(rating_min="4.5") == ["Harbour Clinic"]
    assert names(rating_min="4.51") == []
    assert names(search="lake") == ["Lakeside Clinic"]
    assert names(ordering="-name") == ["Lakeside Clinic", "Harbour Clinic"]
    assert names(ordering="-rating_avg") == ["Harbour Clinic", "Lakeside Clinic"]
    assert names(ordering="rating_avg") == ["Lakeside Clinic", "Harbour Clinic"]


def test_directory_rejects_a_bad_rating_min(api_client, db):
    error = error_of(api_client.get(URL, {"rating_min": 6}), 400, "VALIDATION_ERROR")
    assert "rating_min" in error["details"]


def test_directory_runs_a_constant_number_of_queries(api_client, django_assert_max_num_queries):
    for n in range(12):
        clinic = ClinicFactory()
        ClinicServiceFactory(clinic=clinic)
        profile = DoctorProfileFactory()
        profile.specialisations.create(name=f"S{n}", slug=f"s{n}")
        ClinicMemberFactory(clinic=clinic, user=profile.user, role="doctor")

    # count, page, services, doctors with profiles, specialisations
    with django_assert_max_num_queries(5):
        data = success_data(api_client.get(URL, {"page_size": 12}))
    assert len(data["results"]) == 12
    with django_assert_max_num_queries(5):
        success_data(api_client.get(URL, {"page_size": 3, "lat": 12.97, "lng": 77.59, "radius_km": 5}))


@pytest.mark.parametrize("who", ["anonymous", "patient", "doctor", "admin_user"])
def test_anyone_reads_a_verified_clinic(as_user, clinic, who):
    assert success_data(as_user(who).get(detail(clinic)))["name"] == "Lakeside Clinic"


@pytest.mark.parametrize("who", ["anonymous", "patient", "other_patient", "doctor", "other_doctor"])
def test_outsider_cannot_read_a_pending_clinic(as_user, pending_clinic, who):
    error = error_of(as_user(who).get(detail(pending_clinic)), 404, "NOT_FOUND")
    assert "Lakeside" not in str(error)


@pytest.mark.parametrize("who", ["clinic_admin", "admin_user", "superadmin"])
def test_members_and_platform_staff_read_a_pending_clinic(as_user, pending_clinic, who):
    assert success_data(as_user(who).get(detail(pending_clinic)))["verification_status"] == "pending"


def test_clinic_staff_member_reads_a_pending_clinic(client_for, pending_clinic, clinic_staff_user):
    ClinicMemberFactory(clinic=pending_clinic, user=clinic_staff_user, role="staff")
    assert success_data(client_for(clinic_staff_user).get(detail(pending_clinic)))["id"] == pending_clinic.pk


def test_unknown_clinic_is_404(api_client, db):
    error_of(api_client.get(f"{URL}999999/"), 404, "NOT_FOUND")


# --- Editing ---------------------------------------------------------------------------------------


def test_clinic_admin_edits_the_clinic(client_for, clinic_admin, clinic):
    data = success_data(
        client_for(clinic_admin).patch(detail(clinic), {"name": "Lakeside Care", "city": "Mysuru"})
    )

    assert (data["name"], data["city"]) == ("Lakeside Care", "Mysuru")
    assert data["verification_status"] == "verified"
    clinic.refresh_from_db()
    assert clinic.name == "Lakeside Care"


@pytest.mark.parametrize("who", ["patient", "doctor", "admin_user", "superadmin", "clinic_staff"])
def test_others_cannot_edit_a_clinic(as_user, clinic, clinic_staff, clinic_doctor, who):
    error_of(as_user(who).patch(detail(clinic), {"name": "Hijacked"}), 403, "PERMISSION_DENIED")
    clinic.refresh_from_db()
    assert clinic.name == "Lakeside Clinic"


def test_outsider_sending_bad_input_is_refused_before_validation(client_for, patient, clinic):
    error_of(client_for(patient).patch(detail(clinic), {"latitude": 300}), 403, "PERMISSION_DENIED")


def test_anonymous_cannot_edit_a_clinic(api_client, clinic):
    error_of(api_client.patch(detail(clinic), {"name": "Hijacked"}), 401, "AUTHENTICATION_FAILED")


def test_outsider_editing_a_pending_clinic_gets_404(client_for, other_patient, pending_clinic):
    error_of(client_for(other_patient).patch(detail(pending_clinic), {"name": "x"}), 404, "NOT_FOUND")


def test_edit_validates_coordinates_together(client_for, clinic_admin, db):
    clinic = ClinicFactory(created_by=clinic_admin, latitude=None, longitude=None)
    ClinicMemberFactory(clinic=clinic, user=clinic_admin, role="admin")

    error = error_of(
        client_for(clinic_admin).patch(detail(clinic), {"latitude": 10}), 400, "VALIDATION_ERROR"
    )
    assert "longitude" in error["details"]


def test_put_is_not_allowed(client_for, clinic_admin, clinic):
    error_of(client_for(clinic_admin).put(detail(clinic), NEW_CLINIC), 405, "METHOD_NOT_ALLOWED")


# --- Verification ----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin_user", "superadmin"])
def test_platform_admin_verifies_a_pending_clinic(as_user, users, pending_clinic, who):
    data = success_data(as_user(who).post(f"{detail(pending_clinic)}verify/"))

    assert data["verification_status"] == "verified"
    assert data["verified_at"] is not None
    pending_clinic.refresh_from_db()
    assert pending_clinic.verified_by == users[who]


@pytest.mark.parametrize("who", ["patient", "doctor", "clinic_admin"])
def test_non_staff_cannot_verify(as_user, pending_clinic, who):
    error_of(as_user(who).post(f"{detail(pending_clinic)}verify/"), 403, "PERMISSION_DENIED")
    pending_clinic.refresh_from_db()
    assert pending_clinic.verification_status == "pending"


def test_anonymous_cannot_verify(api_client, pending_clinic):
    error_of(api_client.post(f"{detail(pending_clinic)}verify/"), 401, "AUTHENTICATION_FAILED")


def test_verifying_twice_is_an_invalid_transition(client_for, admin_user, clinic):
    error = error_of(client_for(admin_user).post(f"{detail(clinic)}verify/"), 409, "INVALID_TRANSITION")
    assert error["details"] == {"current": "verified", "requested": "verified"}


def test_reject_needs_a_reason(client_for, admin_user, pending_clinic):
    error = error_of(
        client_for(admin_user).post(f"{detail(pending_clinic)}reject/", {}), 400, "VALIDATION_ERROR"
    )
    assert "reason" in error["details"]


def test_rejected_clinic_cannot_be_verified_until_resubmitted(
    client_for, admin_user, clinic_admin, pending_clinic
):
    staff = client_for(admin_user)
    rejected = success_data(staff.post(f"{detail(pending_clinic)}reject/", {"reason": "Licence unreadable"}))
    assert (rejected["verification_status"], rejected["rejection_reason"]) == (
        "rejected",
        "Licence unreadable",
    )

    error_of(staff.post(f"{detail(pending_clinic)}verify/"), 409, "INVALID_TRANSITION")
    error_of(staff.post(f"{detail(pending_clinic)}reject/", {"reason": "again"}), 409, "INVALID_TRANSITION")

    # The clinic admin fixes the details: back to pending, then verifiable.
    resubmitted = success_data(
        client_for(clinic_admin).patch(detail(pending_clinic), {"description": "Licence attached"})
    )
    assert (resubmitted["verification_status"], resubmitted["rejection_reason"]) == ("pending", "")
    assert success_data(staff.post(f"{detail(pending_clinic)}verify/"))["verification_status"] == "verified"


def test_verified_clinic_can_be_withdrawn_and_leaves_the_directory(
    client_for, api_client, admin_user, clinic
):
    success_data(client_for(admin_user).post(f"{detail(clinic)}reject/", {"reason": "Licence expired"}))

    assert success_data(api_client.get(URL))["results"] == []
    error_of(api_client.get(detail(clinic)), 404, "NOT_FOUND")


def test_verify_unknown_clinic_is_404(client_for, admin_user):
    error_of(client_for(admin_user).post(f"{URL}999999/verify/"), 404, "NOT_FOUND")


# --- Mine ------------------------------------------------------------------------------------------


def test_mine_lists_my_clinics_with_my_role(client_for, clinic_admin, doctor, pending_clinic):
    other = ClinicFactory(name="Another")
    ClinicMemberFactory(clinic=other, user=clinic_admin, role="staff")
    ClinicFactory(name="Not mine")

    data = success_data(client_for(clinic_admin).get(f"{URL}mine/"))

    assert [(c["name"], c["clinic_role"], c["verification_status"]) for c in data["results"]] == [
        ("Another", "staff", "verified"),
        ("Lakeside Clinic", "admin", "pending"),
    ]
    only_admin = success_data(client_for(clinic_admin).get(f"{URL}mine/", {"clinic_role": "admin"}))
    assert [c["name"] for c in only_admin["results"]] == ["Lakeside Clinic"]
    assert success_data(client_for(doctor).get(f"{URL}mine/"))["results"] == []


def test_mine_needs_login(api_client):
    error_of(api_client.get(f"{URL}mine/"), 401, "AUTHENTICATION_FAILED")


def test_mine_runs_a_constant_number_of_queries(client_for, clinic_admin, django_assert_max_num_queries):
    for _ in range(8):
        ClinicMemberFactory(clinic=ClinicFactory(), user=clinic_admin, role="admin")
    client = client_for(clinic_admin)
    # user, count, page, services, doctors (no doctor has a profile: no specialisation query)
    with django_assert_max_num_queries(5):
        assert len(success_data(client.get(f"{URL}mine/"))["results"]) == 8
