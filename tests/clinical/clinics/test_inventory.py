from __future__ import annotations

import re
import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clinical.clinics import services
from clinical.models import InventoryItem
from telehealth.api.errors import ServiceError
from tests.api.helpers import error_of, success_data
from tests.clinical.clinics.factories import (
    ClinicMemberFactory,
    InventoryItemFactory,
    MedicationFactory,
)

pytestmark = pytest.mark.django_db


def inventory_url(clinic) -> str:
    return f"/api/eclinic/{clinic.pk}/inventory/"


def item_url(item) -> str:
    return f"{inventory_url(item.clinic)}{item.pk}/"


@pytest.fixture
def paracetamol(clinic):
    return InventoryItemFactory(
        clinic=clinic,
        medication=MedicationFactory(generic_name="paracetamol"),
        stock=50,
        low_stock_threshold=20,
    )


@pytest.fixture
def amoxicillin(clinic):
    return InventoryItemFactory(
        clinic=clinic,
        medication=MedicationFactory(generic_name="amoxicillin"),
        stock=5,
        low_stock_threshold=10,
    )


# --- Reading ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["clinic_admin", "clinic_staff", "doctor", "admin_user", "superadmin"])
def test_members_and_platform_staff_read_the_stock(
    as_user, clinic, clinic_staff, clinic_doctor, paracetamol, amoxicillin, who
):
    data = success_data(as_user(who).get(inventory_url(clinic)))

    assert [
        (i["medication_detail"]["generic_name"], i["stock"], i["low_stock"]) for i in data["results"]
    ] == [
        ("amoxicillin", 5, True),
        ("paracetamol", 50, False),
    ]
    assert success_data(as_user(who).get(item_url(paracetamol)))["stock"] == 50


@pytest.mark.parametrize("who", ["patient", "other_patient", "other_doctor"])
def test_outsider_cannot_read_the_stock(as_user, clinic, paracetamol, who):
    error = error_of(as_user(who).get(inventory_url(clinic)), 403, "PERMISSION_DENIED")
    assert "paracetamol" not in str(error)
    error_of(as_user(who).get(item_url(paracetamol)), 403, "PERMISSION_DENIED")


def test_anonymous_cannot_read_the_stock(api_client, clinic, paracetamol):
    error_of(api_client.get(inventory_url(clinic)), 401, "AUTHENTICATION_FAILED")


def test_outsider_gets_404_for_a_pending_clinics_stock(client_for, patient, pending_clinic):
    error_of(client_for(patient).get(inventory_url(pending_clinic)), 404, "NOT_FOUND")


def test_low_stock_filter(client_for, clinic_admin, clinic, paracetamol, amoxicillin):
    client = client_for(clinic_admin)

    def names(**params):
        rows = success_data(client.get(inventory_url(clinic), params))["results"]
        return [r["medication_detail"]["generic_name"] for r in rows]

    assert names(low_stock="true") == ["amoxicillin"]
    assert names(low_stock="false") == ["paracetamol"]
    assert names(search="para") == ["paracetamol"]
    assert names(ordering="-stock") == ["paracetamol", "amoxicillin"]


def test_stock_at_the_threshold_is_low(client_for, clinic_admin, clinic):
    item = InventoryItemFactory(clinic=clinic, stock=10, low_stock_threshold=10)
    assert success_data(client_for(clinic_admin).get(item_url(item)))["low_stock"] is True


def test_inventory_list_runs_a_constant_number_of_queries(
    client_for, clinic_admin, clinic, django_assert_max_num_queries
):
    for _ in range(15):
        InventoryItemFactory(clinic=clinic)
    client = client_for(clinic_admin)
    # user, clinic, role, count, page (medication joined)
    with django_assert_max_num_queries(5):
        assert success_data(client.get(inventory_url(clinic)))["count"] == 15


# --- Writing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["clinic_admin", "clinic_staff"])
def test_clinic_admin_and_staff_manage_stock_lines(as_user, clinic, clinic_staff, who):
    client = as_user(who)
    medication = MedicationFactory()

    created = success_data(
        client.post(
            inventory_url(clinic),
            {"medication": medication.pk, "stock": 3, "low_stock_threshold": 5, "unit": "strips"},
        ),
        201,
    )
    assert (created["stock"], created["low_stock"], created["unit"]) == (3, True, "strips")
    url = f"{inventory_url(clinic)}{created['id']}/"
    changed = success_data(client.patch(url, {"low_stock_threshold": 2, "stock": 999}))
    assert (changed["low_stock_threshold"], changed["stock"], changed["low_stock"]) == (2, 3, False)
    assert success_data(client.delete(url)) is None
    assert not InventoryItem.objects.exists()


@pytest.mark.parametrize("who", ["doctor", "admin_user", "superadmin", "patient"])
def test_others_cannot_write_stock(as_user, clinic, clinic_doctor, paracetamol, who):
    client = as_user(who)

    error_of(
        client.post(inventory_url(clinic), {"medication": MedicationFactory().pk}), 403, "PERMISSION_DENIED"
    )
    error_of(client.patch(item_url(paracetamol), {"low_stock_threshold": 1}), 403, "PERMISSION_DENIED")
    error_of(
        client.post(f"{item_url(paracetamol)}adjust/", {"delta": -1, "reason": "x"}), 403, "PERMISSION_DENIED"
    )
    error_of(client.delete(item_url(paracetamol)), 403, "PERMISSION_DENIED")
    paracetamol.refresh_from_db()
    assert (paracetamol.stock, paracetamol.low_stock_threshold) == (50, 20)


@pytest.mark.parametrize("who", ["doctor", "patient", "admin_user"])
def test_outsider_sending_bad_input_is_refused_before_validation(
    as_user, clinic, clinic_doctor, paracetamol, who
):
    client = as_user(who)
    error_of(client.post(inventory_url(clinic), {"stock": -1}), 403, "PERMISSION_DENIED")
    error_of(client.post(f"{item_url(paracetamol)}adjust/", {"delta": 0}), 403, "PERMISSION_DENIED")


def test_a_medication_is_stocked_once(client_for, clinic_admin, clinic, paracetamol):
    error_of(
        client_for(clinic_admin).post(inventory_url(clinic), {"medication": paracetamol.medication_id}),
        409,
        "ALREADY_STOCKED",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "medication"),
        ({"medication": 999999}, "medication"),
        ({"stock": -1}, "stock"),
        ({"low_stock_threshold": -5}, "low_stock_threshold"),
    ],
)
def test_stock_line_input_is_validated(client_for, clinic_admin, clinic, body, field):
    body = {"medication": MedicationFactory().pk, **body} if field != "medication" else body
    error = error_of(client_for(clinic_admin).post(inventory_url(clinic), body), 400, "VALIDATION_ERROR")
    assert field in error["details"]


# --- Adjusting -------------------------------------------------------------------------------------


def test_adjust_adds_and_takes_stock(client_for, clinic_staff, paracetamol):
    client = client_for(clinic_staff)
    url = f"{item_url(paracetamol)}adjust/"

    assert success_data(client.post(url, {"delta": 25, "reason": "Delivery"}))["stock"] == 75
    taken = success_data(client.post(url, {"delta": -60, "reason": "Dispensed"}))
    assert (taken["stock"], taken["low_stock"]) == (15, True)


def test_adjust_never_goes_below_zero(client_for, clinic_admin, amoxicillin):
    url = f"{item_url(amoxicillin)}adjust/"
    error = error_of(
        client_for(clinic_admin).post(url, {"delta": -6, "reason": "Dispensed"}), 409, "INSUFFICIENT_STOCK"
    )

    assert error["details"] == {"stock": 5, "delta": -6}
    amoxicillin.refresh_from_db()
    assert amoxicillin.stock == 5
    assert (
        success_data(client_for(clinic_admin).post(url, {"delta": -5, "reason": "Dispensed"}))["stock"] == 0
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"delta": 0, "reason": "x"}, "delta"),
        ({"delta": "many", "reason": "x"}, "delta"),
        ({"delta": 1.5, "reason": "x"}, "delta"),
        ({"delta": 2_000_000, "reason": "x"}, "delta"),
        ({"delta": 1}, "reason"),
        ({"delta": 1, "reason": "   "}, "reason"),
    ],
)
def test_adjust_input_is_validated(client_for, clinic_admin, paracetamol, body, field):
    error = error_of(
        client_for(clinic_admin).post(f"{item_url(paracetamol)}adjust/", body), 400, "VALIDATION_ERROR"
    )
    assert field in error["details"]
    paracetamol.refresh_from_db()
    assert paracetamol.stock == 50


def test_adjust_uses_one_conditional_update(clinic_admin, paracetamol):
    # Read-modify-write in Python would lose concurrent updates; the arithmetic happens in SQL.
    with CaptureQueriesContext(connection) as captured:
        services.adjust_stock(clinic_admin, paracetamol, delta=-3, reason="Dispensed")

    updates = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1
    assert re.search(r'"stock" = \("clinical_inventoryitem"\."stock" \+\s*-3\)', updates[0])
    assert '"stock" >= 3' in updates[0]
    assert paracetamol.stock == 47


def test_stale_objects_do_not_overwrite_each_other(clinic_admin, paracetamol):
    stale = InventoryItem.objects.get(pk=paracetamol.pk)
    services.adjust_stock(clinic_admin, paracetamol, delta=-30, reason="a")
    services.adjust_stock(clinic_admin, stale, delta=-15, reason="b")

    paracetamol.refresh_from_db()
    assert paracetamol.stock == 5
    with pytest.raises(ServiceError) as refused:
        services.adjust_stock(clinic_admin, stale, delta=-6, reason="c")
    assert refused.value.code == "INSUFFICIENT_STOCK"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_adjustments_never_oversell():
    from tests.factories import UserFactory

    admin = UserFactory(role="patient")
    item = InventoryItemFactory(stock=10)
    ClinicMemberFactory(clinic=item.clinic, user=admin, role="admin")
    outcomes: list[str] = []
    barrier = threading.Barrier(16)

    def take_one():
        try:
            barrier.wait()
            services.adjust_stock(admin, InventoryItem.objects.get(pk=item.pk), delta=-1, reason="rush")
            outcomes.append("ok")
        except ServiceError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=take_one) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    item.refresh_from_db()
    assert item.stock == 0
    assert sorted(outcomes) == ["INSUFFICIENT_STOCK"] * 6 + ["ok"] * 10
