"""A doctor's earnings through the API: balances per currency and the ledger entries."""

from __future__ import annotations

import pytest

from payments import services
from tests.payments.api_helpers import BASE, data_of, error_of, money
from tests.payments.conftest import deliver

pytestmark = pytest.mark.django_db

EARNINGS = f"{BASE}earnings/"
ENTRIES = f"{BASE}earnings/entries/"


@pytest.fixture
def derek(client_for, other_doctor):
    return client_for(other_doctor)


@pytest.fixture
def books(paid, make_booking, patient, doctor, admin_user, fake_gateway, after_commit):
    """Dana earned from two payments (one in USD), had 100.00 INR refunded and was adjusted."""
    dollars, _ = services.start_payment(patient, make_booking(fee=4_000, fee_currency="USD"))
    deliver("payment.succeeded", dollars)
    with after_commit():
        services.refund_payment(admin_user, paid, amount=10_000, reason="Late", idempotency_key="r1")
    services.adjust_balance(admin_user, doctor, currency="INR", amount=-500, note="Fee correction")
    paid.refresh_from_db()
    dollars.refresh_from_db()
    return paid, dollars


def test_a_doctor_sees_their_balances_per_currency(dana, doctor, books):
    paid, dollars = books
    reversal = paid.doctor_share * 10_000 // paid.amount  # exact here: 85% of 100.00

    data = data_of(dana.get(EARNINGS))

    assert data["doctor"]["id"] == str(doctor.pk)
    inr, usd = data["balances"]
    assert inr["currency"] == "INR"
    assert inr["earned"] == money(paid.doctor_share)
    assert inr["refund_reversals"] == money(-reversal)
    assert inr["adjustments"] == money(-500)
    assert inr["balance"] == money(paid.doctor_share - reversal - 500)
    assert inr["entries"] == 3
    assert usd["balance"] == money(dollars.doctor_share, "USD")
    assert usd["earned"] == money(dollars.doctor_share, "USD")


def test_staff_name_the_doctor(ada, doctor, books):
    data = data_of(ada.get(f"{EARNINGS}?doctor={doctor.pk}"))

    assert [row["currency"] for row in data["balances"]] == ["INR", "USD"]


def test_staff_must_name_a_doctor(ada):
    response = ada.get(EARNINGS)

    assert response.status_code == 400
    assert "doctor" in error_of(response)["details"]


def test_an_unknown_doctor_is_not_found(ada, patient):
    assert ada.get(f"{EARNINGS}?doctor={patient.pk}").status_code == 404  # a patient is no doctor


def test_a_doctor_may_not_read_another_doctors_earnings(derek, doctor, books):
    response = derek.get(f"{EARNINGS}?doctor={doctor.pk}")

    assert response.status_code == 403
    assert error_of(response)["code"] == "PERMISSION_DENIED"


def test_a_doctor_without_earnings_has_no_balances(derek):
    assert data_of(derek.get(EARNINGS))["balances"] == []


@pytest.mark.parametrize("role", ["patient", "anonymous"])
def test_patients_and_anonymous_have_no_earnings(request, client_for, api_client, role):
    client = api_client if role == "anonymous" else client_for(request.getfixturevalue(role))

    assert client.get(EARNINGS).status_code == (401 if role == "anonymous" else 403)


def test_entries_newest_first_and_filtered(dana, books):
    paid, _ = books

    rows = data_of(dana.get(ENTRIES))["results"]
    assert [row["kind"] for row in rows] == ["adjustment", "refund_reversal", "earning", "earning"]
    inr_earnings = data_of(dana.get(f"{ENTRIES}?kind=earning&currency=inr"))["results"]
    assert [(row["amount"], row["payment"]) for row in inr_earnings] == [
        (money(paid.doctor_share), str(paid.pk))
    ]


def test_entries_of_another_doctor_are_refused(derek, doctor):
    assert derek.get(f"{ENTRIES}?doctor={doctor.pk}").status_code == 403
