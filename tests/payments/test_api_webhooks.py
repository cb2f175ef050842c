"""The providers' webhooks through the HTTP endpoints: real gateway classes, real signatures (made
here the way each provider makes them), loopback fake provider APIs where a gateway talks HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from clinical.models import Consultation
from payments import services
from payments.gateways import override_gateway
from payments.gateways.payu import PayUGateway
from payments.gateways.razorpay_gateway import RazorpayGateway
from payments.gateways.stripe_gateway import StripeGateway
from payments.models import GatewayEvent, Payment, PayoutLedgerEntry
from tests.payments.api_helpers import (
    BASE,
    RAZORPAY_WEBHOOK_SECRET,
    STRIPE_WEBHOOK_SECRET,
    data_of,
    error_of,
    hmac_sha256,
    payu_post,
    razorpay_webhook,
    stripe_event,
    stripe_intent,
    stripe_signed,
)
from tests.payments.conftest import FEE
from tests.payments.fakes.payu_server import MERCHANT_KEY, MERCHANT_SALT, FakePayU, running_fake_payu
from tests.payments.fakes.razorpay_server import KEY_ID, KEY_SECRET, FakeRazorpay, running_fake_razorpay
from tests.payments.fakes.stripe_server import FakeStripe, running_fake_stripe

pytestmark = pytest.mark.django_db

STRIPE_HOOK = f"{BASE}webhooks/stripe/"
RAZORPAY_HOOK = f"{BASE}webhooks/razorpay/"
PAYU_HOOK = f"{BASE}webhooks/payu/"


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with running_fake_stripe() as fake:
        yield fake


@pytest.fixture
def stripe_gateway(fake_stripe) -> Iterator[StripeGateway]:
    gateway = StripeGateway(
        api_key=fake_stripe.api_key,
        api_base=fake_stripe.url,
        webhook_secret=STRIPE_WEBHOOK_SECRET,
        max_network_retries=0,
    )
    with override_gateway("stripe", gateway):
        yield gateway


@pytest.fixture
def stripe_payment(patient, awaiting_payment, stripe_gateway) -> Payment:
    """Alice's pending payment, a PaymentIntent at the fake Stripe."""
    payment, _ = services.start_payment(patient, awaiting_payment, gateway="stripe")
    assert payment.reference.startswith("pi_")
    return payment


def post_stripe(client, event: dict, **extra):
    body, headers = stripe_signed(event)
    return client.post(STRIPE_HOOK, body, content_type="application/json", **headers, **extra)


# --- Stripe --------------------------------------------------------------------------------------


def test_a_signed_payment_succeeded_confirms_the_booking(api_client, stripe_payment, after_commit):
    event = stripe_event("payment_intent.succeeded", stripe_intent(stripe_payment.reference, FEE))

    with after_commit():
        response = post_stripe(api_client, event)

    assert response.status_code == 200
    assert data_of(response) == {"outcome": "applied"}
    stripe_payment.refresh_from_db()
    assert stripe_payment.status == "succeeded"
    assert stripe_payment.provider_payment_id == f"ch_{stripe_payment.reference}"
    assert Consultation.objects.get(pk=stripe_payment.consultation_id).state == "scheduled"
    assert PayoutLedgerEntry.objects.get(payment=stripe_payment).amount == stripe_payment.doctor_share


def test_a_redelivery_answers_duplicate_and_changes_nothing(api_client, stripe_payment):
    event = stripe_event("payment_intent.succeeded", stripe_intent(stripe_payment.reference, FEE))
    post_stripe(api_client, event)
    stripe_payment.refresh_from_db()
    receipt = stripe_payment.receipt_number

    again = post_stripe(api_client, event)  # signed afresh, same event id

    assert again.status_code == 200
    assert data_of(again) == {"outcome": "duplicate"}
    stripe_payment.refresh_from_db()
    assert stripe_payment.receipt_number == receipt
    assert PayoutLedgerEntry.objects.filter(payment=stripe_payment).count() == 1
    assert GatewayEvent.objects.filter(gateway="stripe").count() == 1


def test_a_tampered_body_is_refused_and_nothing_is_stored(api_client, stripe_payment):
    event = stripe_event("payment_intent.succeeded", stripe_intent(stripe_payment.reference, FEE))
    body, headers = stripe_signed(event)
    tampered = body.replace(b'"amount": 50000', b'"amount": 1')

    response = api_client.post(STRIPE_HOOK, tampered, content_type="application/json", **headers)

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "WEBHOOK_SIGNATURE_INVALID"
    assert error["details"]["gateway"] == "stripe"
    assert not GatewayEvent.objects.exists()
    stripe_payment.refresh_from_db()
    assert stripe_payment.status == "pending"


@pytest.mark.parametrize(
    "headers",
    [{}, {"HTTP_STRIPE_SIGNATURE": "garbage"}, {"HTTP_STRIPE_SIGNATURE": "t=1,v1=" + "0" * 64}],
    ids=["missing", "malformed", "stale-and-wrong"],
)
def test_unsigned_or_badly_signed_events_are_400(api_client, stripe_gateway, headers):
    body = b'{"id": "evt_1", "type": "payment_intent.succeeded"}'

    response = api_client.post(STRIPE_HOOK, body, content_type="application/json", **headers)

    assert response.status_code == 400
    assert error_of(response)["code"] == "WEBHOOK_SIGNATURE_INVALID"


def test_a_webhook_signed_with_another_secret_is_refused(api_client, stripe_payment):
    event = stripe_event("payment_intent.succeeded", stripe_intent(stripe_payment.reference, FEE))
    body, headers = stripe_signed(event, secret="whsec_someone_else")

    response = api_client.post(STRIPE_HOOK, body, content_type="application/json", **headers)

    assert response.status_code == 400


def test_an_amount_that_does_not_match_is_refused_as_an_outcome(api_client, stripe_payment):
    event = stripe_event("payment_intent.succeeded", stripe_intent(stripe_payment.reference, FEE - 1))

    response = post_stripe(api_client, event)

    assert response.status_code == 200  # the provider must not retry it
    assert data_of(response) == {"outcome": "refused_mismatch"}
    stripe_payment.refresh_from_db()
    assert stripe_payment.status == "pending"


def test_events_about_unknown_payments_and_kinds_we_ignore_answer_200(api_client, stripe_gateway):
    unknown = stripe_event("payment_intent.succeeded", stripe_intent("pi_nobody", FEE))
    ignored = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})

    assert data_of(post_stripe(api_client, unknown)) == {"outcome": "unknown_payment"}
    assert data_of(post_stripe(api_client, ignored)) == {"outcome": "ignored"}


def test_a_failed_payment_lets_the_slot_go(api_client, stripe_payment, after_commit):
    intent = stripe_intent(stripe_payment.reference, FEE, status="requires_payment_method")
    with after_commit():
        response = post_stripe(api_client, stripe_event("payment_intent.payment_failed", intent))

    assert data_of(response) == {"outcome": "applied"}
    stripe_payment.refresh_from_db()
    assert stripe_payment.status == "failed"
    assert Consultation.objects.get(pk=stripe_payment.consultation_id).state == "cancelled"


def test_webhooks_need_no_login_and_ignore_a_bad_token(api_client, stripe_payment):
    event = stripe_event("payment_intent.succeeded", stripe_intent(stripe_payment.reference, FEE))

    response = post_stripe(api_client, event, HTTP_AUTHORIZATION="Bearer not-a-token")

    assert response.status_code == 200


def test_webhooks_have_their_own_throttle(api_client, stripe_gateway, settings):
    current = settings.REST_FRAMEWORK
    settings.REST_FRAMEWORK = {
        **current,
        "DEFAULT_THROTTLE_RATES": {**current["DEFAULT_THROTTLE_RATES"], "payment_webhooks": "2/min"},
    }
    ignored = [stripe_event("customer.created", {"id": f"cus_{n}"}) for n in range(3)]

    statuses = [post_stripe(api_client, event).status_code for event in ignored]

    assert statuses == [200, 200, 429]


# --- Razorpay ------------------------------------------------------------------------------------


@pytest.fixture
def fake_razorpay() -> Iterator[FakeRazorpay]:
    with running_fake_razorpay() as fake:
        yield fake


@pytest.fixture
def razorpay_payment(patient, awaiting_payment, fake_razorpay) -> Iterator[Payment]:
    gateway = RazorpayGateway(
        key_id=KEY_ID,
        key_secret=KEY_SECRET,
        webhook_secret=RAZORPAY_WEBHOOK_SECRET,
        api_base=fake_razorpay.url,
        timeout=5,
    )
    with override_gateway("razorpay", gateway):
        payment, _ = services.start_payment(patient, awaiting_payment, gateway="razorpay")
        assert payment.reference.startswith("order_")
        yield payment


def post_razorpay(client, body: bytes, *, event_id: str = "evt_rzp_1", secret: str = RAZORPAY_WEBHOOK_SECRET):
    return client.post(
        RAZORPAY_HOOK,
        body,
        content_type="application/json",
        HTTP_X_RAZORPAY_SIGNATURE=hmac_sha256(secret, body),
        HTTP_X_RAZORPAY_EVENT_ID=event_id,
    )


def test_razorpay_payment_captured_confirms_the_booking(api_client, razorpay_payment, fake_razorpay):
    attempt = fake_razorpay.add_payment(razorpay_payment.reference)
    body = razorpay_webhook("payment.captured", {"payment": attempt})

    response = post_razorpay(api_client, body)

    assert data_of(response) == {"outcome": "applied"}
    razorpay_payment.refresh_from_db()
    assert razorpay_payment.status == "succeeded"
    assert razorpay_payment.provider_payment_id == attempt["id"]
    assert data_of(post_razorpay(api_client, body)) == {"outcome": "duplicate"}


def test_razorpay_webhook_with_a_wrong_signature_is_refused(api_client, razorpay_payment, fake_razorpay):
    attempt = fake_razorpay.add_payment(razorpay_payment.reference)
    body = razorpay_webhook("payment.captured", {"payment": attempt})

    response = post_razorpay(api_client, body, secret="not-the-webhook-secret")

    assert response.status_code == 400
    assert error_of(response)["code"] == "WEBHOOK_SIGNATURE_INVALID"
    razorpay_payment.refresh_from_db()
    assert razorpay_payment.status == "pending"


# --- PayU ----------------------------------------------------------------------------------------


@pytest.fixture
def fake_payu() -> Iterator[FakePayU]:
    with running_fake_payu() as fake:
        yield fake


@pytest.fixture
def payu_checkout(patient, awaiting_payment, fake_payu) -> Iterator[tuple[Payment, dict]]:
    patient.email = "alice@example.com"
    patient.save(update_fields=["email"])
    gateway = PayUGateway(
        merchant_key=MERCHANT_KEY,
        merchant_salt=MERCHANT_SALT,
        api_base=fake_payu.url,
        success_url="https://app.example.com/paid",
        failure_url="https://app.example.com/failed",
        timeout=5,
    )
    with override_gateway("payu", gateway):
        payment, checkout = services.start_payment(patient, awaiting_payment, gateway="payu")
        yield payment, checkout.client_data["fields"]


def test_payu_webhook_with_a_valid_hash_confirms_the_booking(api_client, payu_checkout):
    payment, fields = payu_checkout
    form = urlencode(payu_post(fields, MERCHANT_SALT))

    response = api_client.post(PAYU_HOOK, form, content_type="application/x-www-form-urlencoded")

    assert data_of(response) == {"outcome": "applied"}
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert payment.provider_payment_id == "403993715521000001"


def test_payu_webhook_with_a_forged_hash_is_refused(api_client, payu_checkout):
    payment, fields = payu_checkout
    posted = payu_post(fields, "not-the-salt")

    response = api_client.post(PAYU_HOOK, urlencode(posted), content_type="application/x-www-form-urlencoded")

    assert response.status_code == 400
    assert error_of(response)["code"] == "WEBHOOK_SIGNATURE_INVALID"
    payment.refresh_from_db()
    assert payment.status == "pending"


def test_payu_return_post_relayed_to_verify_confirms_the_payment(client_for, patient, payu_checkout):
    payment, fields = payu_checkout

    response = client_for(patient).post(
        f"{BASE}payments/{payment.pk}/verify/", payu_post(fields, MERCHANT_SALT), format="json"
    )

    assert data_of(response)["status"] == "succeeded"
