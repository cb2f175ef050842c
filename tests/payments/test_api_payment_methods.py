"""Saved cards through the API: the real Stripe gateway against the loopback fake Stripe."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from payments.gateways import override_gateway
from payments.gateways.stripe_gateway import StripeGateway
from payments.models import StripeCustomer
from tests.payments.api_helpers import BASE, data_of, error_of
from tests.payments.fakes.stripe_server import FakeStripe, running_fake_stripe

pytestmark = pytest.mark.django_db

CARDS = f"{BASE}payment-methods/"


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with running_fake_stripe() as fake:
        yield fake


@pytest.fixture
def stripe_gateway(fake_stripe) -> Iterator[StripeGateway]:
    gateway = StripeGateway(api_key=fake_stripe.api_key, api_base=fake_stripe.url, max_network_retries=0)
    with override_gateway("stripe", gateway):
        yield gateway


@pytest.fixture
def alices_cards(patient, fake_stripe) -> tuple[str, str]:
    customer = fake_stripe.add_customer(name="Alice")
    StripeCustomer.objects.create(user=patient, customer_id=customer)
    visa = fake_stripe.add_payment_method(customer, brand="visa", last4="4242")
    master = fake_stripe.add_payment_method(customer, brand="mastercard", last4="5454", exp_year=2031)
    return visa, master


@pytest.fixture
def bobs_card(other_patient, fake_stripe) -> str:
    customer = fake_stripe.add_customer(name="Bob")
    StripeCustomer.objects.create(user=other_patient, customer_id=customer)
    return fake_stripe.add_payment_method(customer)


def test_a_patient_lists_their_saved_cards(alice, stripe_gateway, alices_cards):
    visa, master = alices_cards

    cards = data_of(alice.get(CARDS))

    assert sorted(cards, key=lambda c: c["id"]) == sorted(
        [
            {
                "id": visa,
                "brand": "visa",
                "last4": "4242",
                "exp_month": 12,
                "exp_year": 2034,
                "is_default": False,
            },
            {
                "id": master,
                "brand": "mastercard",
                "last4": "5454",
                "exp_month": 12,
                "exp_year": 2031,
                "is_default": False,
            },
        ],
        key=lambda c: c["id"],
    )


def test_a_patient_without_a_stripe_customer_has_no_cards_and_stripe_is_not_asked(
    alice, stripe_gateway, fake_stripe
):
    assert data_of(alice.get(CARDS)) == []
    assert fake_stripe.requests == []


def test_a_patient_makes_a_card_the_default(alice, stripe_gateway, alices_cards):
    visa, master = alices_cards

    response = alice.post(f"{CARDS}{master}/default/")

    assert response.status_code == 200
    assert {c["id"]: c["is_default"] for c in data_of(response)} == {visa: False, master: True}


def test_a_patient_removes_a_card(alice, stripe_gateway, alices_cards, fake_stripe):
    visa, master = alices_cards

    response = alice.delete(f"{CARDS}{visa}/")

    assert response.status_code == 200
    assert [c["id"] for c in data_of(response)] == [master]
    assert fake_stripe.payment_methods[visa]["customer"] is None


@pytest.mark.parametrize("method", ["post", "delete"])
def test_another_patients_card_is_not_found(
    alice, stripe_gateway, alices_cards, bobs_card, fake_stripe, method
):
    url = f"{CARDS}{bobs_card}/default/" if method == "post" else f"{CARDS}{bobs_card}/"

    response = getattr(alice, method)(url)

    assert response.status_code == 404
    assert fake_stripe.payment_methods[bobs_card]["customer"] is not None


def test_without_a_stripe_customer_no_card_is_yours(alice, stripe_gateway, bobs_card):
    assert alice.delete(f"{CARDS}{bobs_card}/").status_code == 404


def test_stripe_not_configured_is_a_clear_400(alice, patient, settings):
    settings.STRIPE_SECRET_KEY = ""
    StripeCustomer.objects.create(user=patient, customer_id="cus_configured_elsewhere")

    for response in (alice.get(CARDS), alice.post(f"{CARDS}pm_1/default/"), alice.delete(f"{CARDS}pm_1/")):
        assert response.status_code == 400
        error = error_of(response)
        assert error["code"] == "STRIPE_NOT_CONFIGURED"
        assert "Stripe" in error["message"]


def test_stripe_failing_is_a_502(alice, stripe_gateway, alices_cards, fake_stripe):
    fake_stripe.inject_error(
        "/v1/customers/" + StripeCustomer.objects.get().customer_id, status=500, error_type="api_error"
    )

    response = alice.get(CARDS)

    assert response.status_code == 502
    assert error_of(response)["code"] == "GATEWAY_UNAVAILABLE"


@pytest.mark.parametrize("role", ["doctor", "admin_user"])
def test_saved_cards_are_for_patients(request, client_for, role, stripe_gateway):
    client = client_for(request.getfixturevalue(role))

    assert client.get(CARDS).status_code == 403
    assert client.delete(f"{CARDS}pm_1/").status_code == 403


def test_anonymous_has_no_cards(api_client):
    assert api_client.get(CARDS).status_code == 401
