"""Coupons through the API: staff manage them, a patient checks one against their booking."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clinical.models import Specialisation
from payments import services
from payments.models import Coupon
from tests.payments.api_helpers import COUPONS, data_of, error_of, money
from tests.payments.conftest import FEE

pytestmark = pytest.mark.django_db


@pytest.fixture
def ten_off() -> Coupon:
    return Coupon.objects.create(code="TENOFF", kind="percent", value=10)


def coupon_url(coupon) -> str:
    return f"{COUPONS}{coupon.pk}/"


# --- Administration ------------------------------------------------------------------------------


def test_staff_create_a_percent_coupon(ada):
    response = ada.post(
        COUPONS, {"code": "WELCOME10", "kind": "percent", "value": 10, "max_uses": 100}, format="json"
    )

    assert response.status_code == 201
    data = data_of(response)
    assert data["code"] == "WELCOME10"
    assert data["uses"] == 0
    assert data["active"] is True
    assert data["scope"] == "all"
    assert Coupon.objects.get().max_uses == 100


def test_superadmins_create_a_fixed_coupon_for_a_specialisation(sam):
    cardio = Specialisation.objects.create(name="Cardiology", slug="cardiology")
    body = {
        "code": "HEART200",
        "kind": "fixed",
        "value": 20_000,
        "currency": "inr",
        "scope": "specialisation",
        "specialisation": cardio.pk,
        "valid_until": (timezone.now() + timedelta(days=30)).isoformat(),
    }

    data = data_of(sam.post(COUPONS, body, format="json"))

    assert data["currency"] == "INR"
    assert data["specialisation"] == cardio.pk


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "P", "kind": "percent", "value": 10}, "code"),
        ({"code": "BAD CODE", "kind": "percent", "value": 10}, "code"),
        ({"code": "HALF", "kind": "percent", "value": 150}, "value"),
        ({"code": "HALF", "kind": "percent", "value": 0}, "value"),
        ({"code": "FLAT", "kind": "fixed", "value": 500}, "currency"),
        ({"code": "FLAT", "kind": "fixed", "value": 500, "currency": "rupees"}, "currency"),
        ({"code": "MIN", "kind": "percent", "value": 5, "min_amount": 1000}, "currency"),
        ({"code": "CLINIC", "kind": "percent", "value": 5, "scope": "clinic"}, "clinic"),
        ({"code": "WHEN", "kind": "percent", "value": 5, "valid_from": "2030-01-01T00:00:00"}, "valid_from"),
        (
            {
                "code": "WHEN",
                "kind": "percent",
                "value": 5,
                "valid_from": "2030-01-02T00:00:00Z",
                "valid_until": "2030-01-01T00:00:00Z",
            },
            "valid_until",
        ),
        ({"kind": "percent", "value": 5}, "code"),
    ],
)
def test_invalid_coupons_are_refused(ada, body, field):
    response = ada.post(COUPONS, body, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]
    assert not Coupon.objects.exists()


def test_codes_are_unique_whatever_the_case(ada, ten_off):
    response = ada.post(COUPONS, {"code": "tenoff", "kind": "percent", "value": 5}, format="json")

    assert response.status_code == 400
    assert "code" in error_of(response)["details"]


def test_staff_list_search_and_filter_coupons(ada, ten_off):
    Coupon.objects.create(code="OLD", kind="percent", value=5, active=False)

    assert [c["code"] for c in data_of(ada.get(COUPONS))["results"]] == ["OLD", "TENOFF"]
    assert [c["code"] for c in data_of(ada.get(f"{COUPONS}?active=true"))["results"]] == ["TENOFF"]
    assert [c["code"] for c in data_of(ada.get(f"{COUPONS}?search=ten"))["results"]] == ["TENOFF"]
    assert data_of(ada.get(coupon_url(ten_off)))["value"] == 10


def test_staff_change_a_coupon_without_touching_its_uses(ada, ten_off):
    Coupon.objects.filter(pk=ten_off.pk).update(uses=3)  # redeemed meanwhile

    response = ada.patch(coupon_url(ten_off), {"value": 15, "uses": 0}, format="json")

    assert response.status_code == 200
    ten_off.refresh_from_db()
    assert (ten_off.value, ten_off.uses) == (15, 3)


def test_a_change_is_checked_against_the_whole_coupon(ada, ten_off):
    response = ada.patch(coupon_url(ten_off), {"kind": "fixed"}, format="json")  # no currency

    assert response.status_code == 400
    assert "currency" in error_of(response)["details"]


def test_deleting_deactivates(ada, ten_off):
    response = ada.delete(coupon_url(ten_off))

    assert response.status_code == 200
    assert data_of(response)["active"] is False
    assert Coupon.objects.get(pk=ten_off.pk).active is False


def test_an_unknown_coupon_is_not_found(ada):
    assert ada.get(f"{COUPONS}999999/").status_code == 404


@pytest.mark.parametrize("client", ["alice", "dana"])
def test_only_staff_manage_coupons(request, client, ten_off):
    caller = request.getfixturevalue(client)

    assert caller.get(COUPONS).status_code == 403
    assert (
        caller.post(COUPONS, {"code": "MINE", "kind": "percent", "value": 99}, format="json").status_code
        == 403
    )
    assert caller.patch(coupon_url(ten_off), {"value": 99}, format="json").status_code == 403
    assert caller.delete(coupon_url(ten_off)).status_code == 403
    assert Coupon.objects.get(pk=ten_off.pk).value == 10


def test_anonymous_manage_nothing(api_client):
    assert api_client.get(COUPONS).status_code == 401


# --- Checking a coupon ---------------------------------------------------------------------------


def check(client, code: str, consultation):
    return client.post(
        f"{COUPONS}check/", {"code": code, "consultation": str(consultation.pk)}, format="json"
    )


def test_a_patient_sees_what_a_coupon_would_take_off_without_using_it(alice, ten_off, awaiting_payment):
    response = check(alice, "tenoff", awaiting_payment)

    assert response.status_code == 200
    assert data_of(response) == {
        "code": "TENOFF",
        "kind": "percent",
        "value": 10,
        "price": money(FEE),
        "discount": money(FEE // 10),
        "total": money(FEE - FEE // 10),
    }
    ten_off.refresh_from_db()
    assert ten_off.uses == 0


def test_staff_may_check_for_a_patient(ada, ten_off, awaiting_payment):
    assert check(ada, "TENOFF", awaiting_payment).status_code == 200


@pytest.mark.parametrize(
    ("coupon", "message"),
    [
        ({"code": "GONE", "active": False}, "no longer active"),
        ({"code": "LATER", "valid_from": timezone.now() + timedelta(days=1)}, "not valid now"),
        ({"code": "DOLLARS", "kind": "fixed", "value": 500, "currency": "USD"}, "payments in USD"),
        ({"code": "BIGONLY", "min_amount": FEE + 1, "currency": "INR"}, "minimum"),
    ],
)
def test_a_coupon_that_does_not_apply_says_why(alice, awaiting_payment, coupon, message):
    Coupon.objects.create(**{"kind": "percent", "value": 10, **coupon})

    response = check(alice, coupon["code"], awaiting_payment)

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "COUPON_INVALID"
    assert message in error["message"]


def test_an_unknown_code_is_invalid(alice, awaiting_payment):
    response = check(alice, "NOSUCH", awaiting_payment)

    assert response.status_code == 400
    assert error_of(response)["code"] == "COUPON_INVALID"


def test_a_coupon_used_up_is_exhausted(alice, awaiting_payment, make_booking, patient, fake_gateway):
    once = Coupon.objects.create(code="ONCE", kind="percent", value=10, max_uses_per_user=1)
    services.start_payment(patient, make_booking(), coupon_code="ONCE")

    response = check(alice, "ONCE", awaiting_payment)

    assert response.status_code == 409
    assert error_of(response)["code"] == "COUPON_EXHAUSTED"
    once.refresh_from_db()
    assert once.uses == 1


def test_a_booking_not_awaiting_payment_needs_no_coupon(alice, ten_off, make_booking):
    response = check(alice, "TENOFF", make_booking(state="scheduled"))

    assert response.status_code == 409
    assert error_of(response)["code"] == "PAYMENT_NOT_REQUIRED"


def test_another_patients_booking_is_not_found(bob, ten_off, awaiting_payment):
    assert check(bob, "TENOFF", awaiting_payment).status_code == 404


def test_doctors_do_not_check_coupons(dana, ten_off, awaiting_payment):
    assert check(dana, "TENOFF", awaiting_payment).status_code == 403


def test_a_check_needs_a_code_and_a_consultation(alice):
    response = alice.post(f"{COUPONS}check/", {"consultation": "nope"}, format="json")

    assert response.status_code == 400
    assert set(error_of(response)["details"]) == {"code", "consultation"}
