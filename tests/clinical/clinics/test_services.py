from __future__ import annotations

import pytest

from clinical.models import ClinicService
from tests.api.helpers import error_of, success_data
from tests.clinical.clinics.factories import ClinicServiceFactory

pytestmark = pytest.mark.django_db

NEW = {"name": "Blood test", "price_amount": 45_000, "price_currency": "INR", "duration_minutes": 20}


def services_url(clinic) -> str:
    return f"/api/eclinic/{clinic.pk}/services/"


@pytest.fixture
def xray(clinic):
    return ClinicServiceFactory(clinic=clinic, name="X-ray", price_amount=120_000)


@pytest.fixture
def retired(clinic):
    return ClinicServiceFactory(clinic=clinic, name="Retired", active=False)


@pytest.mark.parametrize("who", ["anonymous", "patient", "doctor", "other_doctor"])
def test_anyone_reads_active_services_of_a_verified_clinic(as_user, clinic, xray, retired, who):
    data = success_data(as_user(who).get(services_url(clinic)))

    assert [(s["name"], s["price_amount"], s["price_currency"]) for s in data["results"]] == [
        ("X-ray", 120_000, "INR")
    ]
    success_data(as_user(who).get(f"{services_url(clinic)}{xray.pk}/"))
    error_of(as_user(who).get(f"{services_url(clinic)}{retired.pk}/"), 404, "NOT_FOUND")


@pytest.mark.parametrize("who", ["clinic_admin", "clinic_staff", "admin_user"])
def test_members_and_staff_also_see_inactive_services(as_user, clinic, clinic_staff, xray, retired, who):
    data = success_data(as_user(who).get(services_url(clinic), {"active": "false"}))
    assert [s["name"] for s in data["results"]] == ["Retired"]


@pytest.mark.parametrize("who", ["anonymous", "patient"])
def test_outsider_cannot_see_services_of_a_pending_clinic(as_user, pending_clinic, who):
    ClinicServiceFactory(clinic=pending_clinic, name="Secret")
    error = error_of(as_user(who).get(services_url(pending_clinic)), 404, "NOT_FOUND")
    assert "Secret" not in str(error)


def test_service_list_filters_and_orders(api_client, clinic, xray):
    ClinicServiceFactory(clinic=clinic, name="Consultation", price_amount=30_000)
    ClinicServiceFactory(clinic=clinic, name="MRI", price_amount=800_000)

    def names(**params):
        return [s["name"] for s in success_data(api_client.get(services_url(clinic), params))["results"]]

    assert names() == ["Consultation", "MRI", "X-ray"]
    assert names(price_max=150_000) == ["Consultation", "X-ray"]
    assert names(price_min=100_000, ordering="-price_amount") == ["MRI", "X-ray"]
    assert names(search="ray") == ["X-ray"]


def test_service_list_runs_a_constant_number_of_queries(api_client, clinic, django_assert_max_num_queries):
    for _ in range(15):
        ClinicServiceFactory(clinic=clinic)
    # clinic, count, page (anonymous: no role lookups)
    with django_assert_max_num_queries(3):
        assert success_data(api_client.get(services_url(clinic)))["count"] == 15


def test_clinic_admin_adds_changes_and_deletes_a_service(client_for, clinic_admin, clinic):
    client = client_for(clinic_admin)

    created = success_data(client.post(services_url(clinic), NEW), 201)
    assert (created["price_amount"], created["price_currency"], created["active"]) == (45_000, "INR", True)
    url = f"{services_url(clinic)}{created['id']}/"
    changed = success_data(client.patch(url, {"price_amount": 50_000, "active": False}))
    assert (changed["price_amount"], changed["active"]) == (50_000, False)
    assert success_data(client.delete(url)) is None
    assert not ClinicService.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"price_amount": -1}, "price_amount"),
        ({"price_amount": 10.5}, "price_amount"),
        ({"price_currency": "rupees"}, "price_currency"),
        ({"price_currency": "inr"}, "price_currency"),
        ({"duration_minutes": 0}, "duration_minutes"),
    ],
)
def test_service_input_is_validated(client_for, clinic_admin, clinic, change, field):
    error = error_of(
        client_for(clinic_admin).post(services_url(clinic), {**NEW, **change}), 400, "VALIDATION_ERROR"
    )
    assert field in error["details"]


@pytest.mark.parametrize("who", ["clinic_staff", "doctor", "patient", "admin_user", "superadmin"])
def test_only_clinic_admins_write_services(as_user, clinic, clinic_staff, clinic_doctor, xray, who):
    client = as_user(who)
    url = f"{services_url(clinic)}{xray.pk}/"

    error_of(client.post(services_url(clinic), NEW), 403, "PERMISSION_DENIED")
    error_of(client.patch(url, {"price_amount": 1}), 403, "PERMISSION_DENIED")
    error_of(client.delete(url), 403, "PERMISSION_DENIED")
    xray.refresh_from_db()
    assert xray.price_amount == 120_000
    assert ClinicService.objects.count() == 1


def test_anonymous_cannot_write_services(api_client, clinic, xray):
    error_of(api_client.post(services_url(clinic), NEW), 401, "AUTHENTICATION_FAILED")
    error_of(api_client.delete(f"{services_url(clinic)}{xray.pk}/"), 401, "AUTHENTICATION_FAILED")


def test_clinic_admin_manages_services_while_pending(client_for, clinic_admin, pending_clinic):
    success_data(client_for(clinic_admin).post(services_url(pending_clinic), NEW), 201)


def test_another_clinics_service_is_404(client_for, clinic_admin, clinic):
    elsewhere = ClinicServiceFactory()
    error_of(
        client_for(clinic_admin).patch(f"{services_url(clinic)}{elsewhere.pk}/", {"price_amount": 1}),
        404,
        "NOT_FOUND",
    )
