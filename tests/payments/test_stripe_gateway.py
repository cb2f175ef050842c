"""StripeGateway against a fake Stripe API on loopback, and webhooks signed the way Stripe signs them.

No test here reaches the internet: ``_loopback_only`` refuses any DNS lookup or connection that is
not to this machine, and the gateway under test points at ``FakeStripe``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import stripe
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from payments.gateways.base import Customer, GatewayError, WebhookError
from payments.gateways.stripe_gateway import StripeGateway
from tests.payments.fakes.stripe_server import FakeStripe, running_fake_stripe

WEBHOOK_SECRET = "whsec_test_fake_webhook_secret"
PUBLISHABLE_KEY = "pk_test_fake_publishable"


# --- fixtures ------------------------------------------------------------------------------------


def _is_loopback(host: Any) -> bool:
    if host is None or host == "localhost":
        return True
    if isinstance(host, bytes):
        host = host.decode()
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def blocked_hosts(monkeypatch) -> list[str]:
    """Refuse, and record, every DNS lookup or connection that would leave the machine."""
    blocked: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if not _is_loopback(host):
            blocked.append(str(host))
            raise socket.gaierror(f"test refused a lookup of {host!r}: tests stay on loopback")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock, address):
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            blocked.append(str(address[0]))
            raise ConnectionRefusedError(f"test refused a connection to {address!r}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return blocked


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with running_fake_stripe() as fake:
        yield fake


@pytest.fixture
def gateway(fake_stripe) -> StripeGateway:
    return StripeGateway(
        api_key=fake_stripe.api_key,
        publishable_key=PUBLISHABLE_KEY,
        api_base=fake_stripe.url,
        webhook_secret=WEBHOOK_SECRET,
        tolerance=300,
        max_network_retries=0,  # error tests want the first answer, not SDK retries
    )


@pytest.fixture
def payment_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def checkout(gateway, payment_id):
    return gateway.create_payment(amount=50000, currency="INR", payment_id=payment_id, description="Consult")


@pytest.fixture
def paid_intent(checkout, fake_stripe) -> dict[str, Any]:
    return fake_stripe.succeed_payment_intent(checkout.reference)


@pytest.fixture
def customer_id(fake_stripe) -> str:
    return fake_stripe.add_customer(name="Alice", phone="+919800000001")


@pytest.fixture
def other_customer_id(fake_stripe) -> str:
    return fake_stripe.add_customer(name="Bob", phone="+919800000002")


# --- create_payment ------------------------------------------------------------------------------


def test_create_payment_opens_a_payment_intent(gateway, fake_stripe, payment_id):
    result = gateway.create_payment(
        amount=50000, currency="INR", payment_id=payment_id, description="Consult"
    )

    [request] = fake_stripe.requests
    assert (request.method, request.path) == ("POST", "/v1/payment_intents")
    assert request.form == {
        "amount": "50000",
        "currency": "inr",
        "automatic_payment_methods[enabled]": "true",
        "metadata[payment_id]": payment_id,
        "description": "Consult",
    }
    assert request.headers["authorization"] == f"Bearer {fake_stripe.api_key}"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.idempotency_key == f"payment-intent-{payment_id}"

    intent = fake_stripe.payment_intents[result.reference]
    assert result.gateway == "stripe"
    assert result.reference.startswith("pi_")
    assert (result.amount, result.currency) == (50000, "INR")
    assert result.client_data == {
        "client_secret": intent["client_secret"],
        "publishable_key": PUBLISHABLE_KEY,
    }


def test_create_payment_for_a_customer_sends_the_customer(gateway, fake_stripe, payment_id, customer_id):
    result = gateway.create_payment(
        amount=1999, currency="usd", payment_id=payment_id, customer=Customer(customer_id=customer_id)
    )

    [request] = fake_stripe.requests
    assert request.form["customer"] == customer_id
    assert "description" not in request.form
    assert fake_stripe.payment_intents[result.reference]["customer"] == customer_id


def test_create_payment_twice_for_one_payment_replays_the_same_intent(gateway, fake_stripe, payment_id):
    first = gateway.create_payment(amount=50000, currency="INR", payment_id=payment_id)
    second = gateway.create_payment(amount=50000, currency="INR", payment_id=payment_id)

    assert second == first
    assert len(fake_stripe.payment_intents) == 1
    assert [r.replayed for r in fake_stripe.requests] == [False, True]
    assert {r.idempotency_key for r in fake_stripe.requests} == {f"payment-intent-{payment_id}"}


def test_create_payment_with_changed_amount_for_same_payment_is_an_idempotency_conflict(gateway, payment_id):
    gateway.create_payment(amount=50000, currency="INR", payment_id=payment_id)

    with pytest.raises(GatewayError) as caught:
        gateway.create_payment(amount=60000, currency="INR", payment_id=payment_id)
    assert (caught.value.code, caught.value.retryable) == ("GATEWAY_IDEMPOTENCY_CONFLICT", False)


@pytest.mark.parametrize("amount", [0, -100, 10.5, True])
def test_create_payment_refuses_an_amount_that_is_not_positive_minor_units(
    gateway, fake_stripe, payment_id, amount
):
    with pytest.raises(GatewayError) as caught:
        gateway.create_payment(amount=amount, currency="INR", payment_id=payment_id)
    assert caught.value.code == "GATEWAY_INVALID_REQUEST"
    assert fake_stripe.requests == []


# --- verify_payment ------------------------------------------------------------------------------


def test_verify_new_payment_is_pending(gateway, checkout, fake_stripe):
    result = gateway.verify_payment(reference=checkout.reference)

    assert (result.status, result.reference, result.provider_payment_id) == (
        "pending",
        checkout.reference,
        "",
    )
    assert (result.amount, result.currency) == (50000, "INR")
    request = fake_stripe.last_request()
    assert (request.method, request.path) == ("GET", f"/v1/payment_intents/{checkout.reference}")
    assert request.idempotency_key is None


def test_verify_paid_payment_is_succeeded_with_the_charge(gateway, checkout, paid_intent):
    result = gateway.verify_payment(reference=checkout.reference)

    assert result.status == "succeeded"
    assert result.provider_payment_id == paid_intent["latest_charge"]
    assert result.provider_payment_id.startswith("ch_")
    assert (result.amount, result.currency) == (50000, "INR")
    assert result.raw["id"] == checkout.reference
    assert "client_secret" not in result.raw


def test_verify_declined_payment_is_failed(gateway, checkout, fake_stripe):
    fake_stripe.fail_payment_intent(
        checkout.reference, code="card_declined", decline_code="insufficient_funds"
    )

    result = gateway.verify_payment(reference=checkout.reference)

    assert result.status == "failed"
    assert result.raw["last_payment_error"]["decline_code"] == "insufficient_funds"


@pytest.mark.parametrize(
    ("stripe_status", "expected"),
    [
        ("requires_payment_method", "pending"),
        ("requires_confirmation", "pending"),
        ("requires_action", "pending"),
        ("processing", "pending"),
        ("requires_capture", "pending"),
        ("canceled", "cancelled"),
        ("succeeded", "succeeded"),
    ],
)
def test_verify_maps_payment_intent_status(gateway, checkout, fake_stripe, stripe_status, expected):
    fake_stripe.set_payment_intent_status(checkout.reference, stripe_status)

    assert gateway.verify_payment(reference=checkout.reference).status == expected


def test_verify_ignores_what_the_client_claims(gateway, checkout):
    result = gateway.verify_payment(reference=checkout.reference, data={"status": "succeeded"})

    assert result.status == "pending"


def test_verify_unknown_reference_is_an_invalid_request(gateway):
    with pytest.raises(GatewayError) as caught:
        gateway.verify_payment(reference="pi_doesnotexist")
    assert (caught.value.code, caught.value.retryable) == ("GATEWAY_INVALID_REQUEST", False)


# --- refund --------------------------------------------------------------------------------------


def test_refund_posts_payment_intent_amount_and_our_key(gateway, checkout, paid_intent, fake_stripe):
    result = gateway.refund(
        reference=checkout.reference,
        provider_payment_id=paid_intent["latest_charge"],
        amount=20000,
        currency="INR",
        idempotency_key="refund-key-1",
    )

    request = fake_stripe.last_request()
    assert (request.method, request.path) == ("POST", "/v1/refunds")
    assert request.form == {"payment_intent": checkout.reference, "amount": "20000"}
    assert request.idempotency_key == "refund-key-1"
    assert request.headers["authorization"] == f"Bearer {fake_stripe.api_key}"
    assert result.refund_id.startswith("re_")
    assert (result.status, result.amount) == ("succeeded", 20000)
    assert fake_stripe.refunds[result.refund_id]["payment_intent"] == checkout.reference


def test_refund_retried_with_the_same_key_refunds_once(gateway, checkout, paid_intent, fake_stripe):
    args = {
        "reference": checkout.reference,
        "provider_payment_id": paid_intent["latest_charge"],
        "amount": 20000,
        "currency": "INR",
        "idempotency_key": "refund-key-1",
    }
    first = gateway.refund(**args)
    second = gateway.refund(**args)

    assert second.refund_id == first.refund_id
    assert len(fake_stripe.refunds) == 1
    assert fake_stripe.last_request().replayed


def test_pending_refund_is_pending(gateway, checkout, paid_intent, fake_stripe):
    fake_stripe.refund_status = "pending"

    result = gateway.refund(
        reference=checkout.reference, provider_payment_id="", amount=100, currency="INR", idempotency_key="k"
    )

    assert result.status == "pending"


def test_refund_above_what_was_paid_is_an_invalid_request(gateway, checkout, paid_intent):
    with pytest.raises(GatewayError) as caught:
        gateway.refund(
            reference=checkout.reference,
            provider_payment_id="",
            amount=50001,
            currency="INR",
            idempotency_key="k",
        )
    assert (caught.value.code, caught.value.retryable) == ("GATEWAY_INVALID_REQUEST", False)


def test_refund_without_idempotency_key_is_refused_before_calling_stripe(gateway, checkout, fake_stripe):
    sent = len(fake_stripe.requests)

    with pytest.raises(ValueError, match="idempotency_key"):
        gateway.refund(
            reference=checkout.reference,
            provider_payment_id="",
            amount=100,
            currency="INR",
            idempotency_key="",
        )
    assert len(fake_stripe.requests) == sent


# --- error mapping -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type", "code", "expected_code", "retryable"),
    [
        (402, "card_error", "card_declined", "CARD_DECLINED", False),
        (402, "card_error", "expired_card", "CARD_DECLINED", False),
        (400, "invalid_request_error", "parameter_invalid_integer", "GATEWAY_INVALID_REQUEST", False),
        (404, "invalid_request_error", "resource_missing", "GATEWAY_INVALID_REQUEST", False),
        (400, "idempotency_error", "", "GATEWAY_IDEMPOTENCY_CONFLICT", False),
        (403, "invalid_request_error", "", "GATEWAY_AUTH_FAILED", False),
        (429, "invalid_request_error", "rate_limit", "GATEWAY_RATE_LIMITED", True),
        (409, "invalid_request_error", "lock_timeout", "GATEWAY_UNAVAILABLE", True),
        (500, "api_error", "", "GATEWAY_UNAVAILABLE", True),
        (503, "api_error", "", "GATEWAY_UNAVAILABLE", True),
    ],
)
def test_stripe_errors_map_to_gateway_errors(
    gateway, fake_stripe, payment_id, status, error_type, code, expected_code, retryable
):
    fake_stripe.inject_error(
        "/v1/payment_intents", status=status, error_type=error_type, code=code, message="Nope."
    )

    with pytest.raises(GatewayError) as caught:
        gateway.create_payment(amount=50000, currency="INR", payment_id=payment_id)

    assert (caught.value.code, caught.value.retryable) == (expected_code, retryable)
    assert "Nope." in str(caught.value)
    assert isinstance(caught.value.__cause__, stripe.StripeError)
    assert [r.status for r in fake_stripe.requests] == [status]


def test_card_error_keeps_stripes_message_for_the_payer(gateway, fake_stripe, payment_id):
    fake_stripe.inject_error(
        "/v1/payment_intents",
        status=402,
        error_type="card_error",
        code="card_declined",
        decline_code="insufficient_funds",
        message="Your card has insufficient funds.",
    )

    with pytest.raises(GatewayError, match="Your card has insufficient funds") as caught:
        gateway.create_payment(amount=50000, currency="INR", payment_id=payment_id)
    assert caught.value.code == "CARD_DECLINED"


def test_wrong_secret_key_is_an_auth_failure(fake_stripe, payment_id):
    gateway = StripeGateway(api_key="sk_test_wrong", api_base=fake_stripe.url, max_network_retries=0)

    with pytest.raises(GatewayError) as caught:
        gateway.create_payment(amount=50000, currency="INR", payment_id=payment_id)

    assert (caught.value.code, caught.value.retryable) == ("GATEWAY_AUTH_FAILED", False)
    assert fake_stripe.requests[0].authorization == "Bearer sk_test_wrong"


def test_unreachable_stripe_is_retryable(payment_id):
    with running_fake_stripe() as fake:
        url = fake.url  # nothing listens there any more
    gateway = StripeGateway(api_key="sk_test_x", api_base=url, max_network_retries=0)

    with pytest.raises(GatewayError) as caught:
        gateway.create_payment(amount=50000, currency="INR", payment_id=payment_id)
    assert (caught.value.code, caught.value.retryable) == ("GATEWAY_UNAVAILABLE", True)


def test_sdk_retries_a_500_with_the_same_idempotency_key(fake_stripe, payment_id):
    gateway = StripeGateway(api_key=fake_stripe.api_key, api_base=fake_stripe.url, max_network_retries=1)
    fake_stripe.inject_error("/v1/payment_intents", status=500, error_type="api_error", times=1)

    result = gateway.create_payment(amount=50000, currency="INR", payment_id=payment_id)

    assert [r.status for r in fake_stripe.requests] == [500, 200]
    assert {r.idempotency_key for r in fake_stripe.requests} == {f"payment-intent-{payment_id}"}
    assert result.reference in fake_stripe.payment_intents


def test_without_a_secret_key_nothing_is_sent(fake_stripe, payment_id):
    gateway = StripeGateway(api_key="", api_base=fake_stripe.url)

    with pytest.raises(GatewayError) as caught:
        gateway.create_payment(amount=50000, currency="INR", payment_id=payment_id)

    assert (caught.value.code, caught.value.retryable) == ("GATEWAY_NOT_CONFIGURED", False)
    assert fake_stripe.requests == []


# --- customers and saved cards -------------------------------------------------------------------


def test_ensure_customer_creates_one_keyed_by_user(gateway, fake_stripe):
    user_id = str(uuid.uuid4())

    customer = gateway.ensure_customer(user_id=user_id, name="Alice", phone="+919800000001")

    [request] = fake_stripe.requests
    assert (request.method, request.path) == ("POST", "/v1/customers")
    assert request.form == {"metadata[user_id]": user_id, "name": "Alice", "phone": "+919800000001"}
    assert request.idempotency_key == f"customer-{user_id}"
    assert fake_stripe.customers[customer.customer_id]["metadata"] == {"user_id": user_id}


def test_ensure_customer_keeps_a_live_customer(gateway, fake_stripe, customer_id):
    customer = gateway.ensure_customer(
        user_id=str(uuid.uuid4()), name="Alice", phone="", existing_customer_id=customer_id
    )

    assert customer.customer_id == customer_id
    assert [(r.method, r.path) for r in fake_stripe.requests] == [("GET", f"/v1/customers/{customer_id}")]


def test_ensure_customer_replaces_a_deleted_customer(gateway, fake_stripe, customer_id):
    fake_stripe.delete_customer(customer_id)
    user_id = str(uuid.uuid4())

    customer = gateway.ensure_customer(
        user_id=user_id, name="Alice", phone="", existing_customer_id=customer_id
    )

    assert customer.customer_id != customer_id
    assert fake_stripe.last_request().idempotency_key == f"customer-{user_id}-replaces-{customer_id}"


def test_ensure_customer_replaces_a_missing_customer(gateway, fake_stripe):
    customer = gateway.ensure_customer(
        user_id=str(uuid.uuid4()), name="Alice", phone="", existing_customer_id="cus_gone"
    )

    assert customer.customer_id in fake_stripe.customers


def test_list_payment_methods_flags_the_default(gateway, fake_stripe, customer_id, other_customer_id):
    visa = fake_stripe.add_payment_method(customer_id, brand="visa", last4="4242", exp_month=4, exp_year=2031)
    amex = fake_stripe.add_payment_method(customer_id, brand="amex", last4="0005", exp_month=9, exp_year=2030)
    fake_stripe.add_payment_method(other_customer_id, brand="mastercard", last4="4444")
    fake_stripe.customers[customer_id]["invoice_settings"]["default_payment_method"] = visa

    methods = gateway.list_payment_methods(customer_id)

    assert {m.method_id: (m.brand, m.last4, m.exp_month, m.exp_year, m.is_default) for m in methods} == {
        visa: ("visa", "4242", 4, 2031, True),
        amex: ("amex", "0005", 9, 2030, False),
    }
    listing = fake_stripe.requests_to("GET", f"/v1/customers/{customer_id}/payment_methods")
    assert listing[0].query == {"type": "card", "limit": "100"}


def test_list_payment_methods_without_default(gateway, fake_stripe, customer_id):
    fake_stripe.add_payment_method(customer_id)

    [method] = gateway.list_payment_methods(customer_id)

    assert method.is_default is False


def test_list_payment_methods_follows_pages(gateway, fake_stripe, customer_id):
    added = {fake_stripe.add_payment_method(customer_id, last4=f"{i:04d}") for i in range(101)}

    methods = gateway.list_payment_methods(customer_id)

    assert {m.method_id for m in methods} == added
    pages = fake_stripe.requests_to("GET", f"/v1/customers/{customer_id}/payment_methods")
    assert len(pages) == 2
    assert pages[1].query["starting_after"] == methods[99].method_id


def test_list_payment_methods_of_deleted_customer_is_empty(gateway, fake_stripe, customer_id):
    fake_stripe.delete_customer(customer_id)

    assert gateway.list_payment_methods(customer_id) == []


def test_set_default_payment_method(gateway, fake_stripe, customer_id):
    fake_stripe.add_payment_method(customer_id)
    method_id = fake_stripe.add_payment_method(customer_id)

    gateway.set_default_payment_method(customer_id, method_id)

    [update] = fake_stripe.requests_to("POST", f"/v1/customers/{customer_id}")
    assert update.form == {"invoice_settings[default_payment_method]": method_id}
    assert update.idempotency_key.startswith("customer-default-")
    assert fake_stripe.customers[customer_id]["invoice_settings"]["default_payment_method"] == method_id
    assert [m.method_id for m in gateway.list_payment_methods(customer_id) if m.is_default] == [method_id]


def test_switching_default_back_and_forth_is_not_replayed(gateway, fake_stripe, customer_id):
    first = fake_stripe.add_payment_method(customer_id)
    second = fake_stripe.add_payment_method(customer_id)

    gateway.set_default_payment_method(customer_id, first)
    gateway.set_default_payment_method(customer_id, second)
    gateway.set_default_payment_method(customer_id, first)

    assert fake_stripe.customers[customer_id]["invoice_settings"]["default_payment_method"] == first
    assert not any(r.replayed for r in fake_stripe.requests)


def test_detach_payment_method(gateway, fake_stripe, customer_id):
    method_id = fake_stripe.add_payment_method(customer_id)
    fake_stripe.customers[customer_id]["invoice_settings"]["default_payment_method"] = method_id

    gateway.detach_payment_method(customer_id, method_id)

    [detach] = fake_stripe.requests_to("POST", f"/v1/payment_methods/{method_id}/detach")
    assert detach.idempotency_key == f"payment-method-detach-{method_id}"
    assert fake_stripe.payment_methods[method_id]["customer"] is None
    assert fake_stripe.customers[customer_id]["invoice_settings"]["default_payment_method"] is None
    assert gateway.list_payment_methods(customer_id) == []


@pytest.mark.parametrize("action", ["detach_payment_method", "set_default_payment_method"])
def test_someone_elses_payment_method_is_refused(
    gateway, fake_stripe, customer_id, other_customer_id, action
):
    theirs = fake_stripe.add_payment_method(other_customer_id)

    with pytest.raises(GatewayError) as caught:
        getattr(gateway, action)(customer_id, theirs)

    assert (caught.value.code, caught.value.retryable) == ("NOT_YOUR_PAYMENT_METHOD", False)
    assert [r.method for r in fake_stripe.requests] == ["GET"]
    assert fake_stripe.payment_methods[theirs]["customer"] == other_customer_id


@pytest.mark.parametrize("action", ["detach_payment_method", "set_default_payment_method"])
def test_unknown_payment_method_is_refused_the_same_way(gateway, customer_id, action):
    with pytest.raises(GatewayError) as caught:
        getattr(gateway, action)(customer_id, "pm_doesnotexist")

    assert caught.value.code == "NOT_YOUR_PAYMENT_METHOD"


def test_unattached_payment_method_is_refused_even_with_an_empty_customer(gateway, fake_stripe):
    loose = fake_stripe.add_payment_method(None)

    with pytest.raises(GatewayError) as caught:
        gateway.detach_payment_method("", loose)

    assert caught.value.code == "NOT_YOUR_PAYMENT_METHOD"
    assert fake_stripe.requests == []


# --- webhooks ------------------------------------------------------------------------------------


def _event(event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": 1_760_000_000,
        "data": data,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": "req_abc", "idempotency_key": "k"},
        "type": event_type,
    }


def _intent(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "pi_3Webhook",
        "object": "payment_intent",
        "amount": 50000,
        "amount_received": 50000 if status == "succeeded" else 0,
        "client_secret": "pi_3Webhook_secret_abc",
        "currency": "inr",
        "latest_charge": "ch_3Webhook",
        "last_payment_error": None,
        "metadata": {"payment_id": "9b1f6c1e-0000-4000-8000-000000000001"},
        "status": status,
        **extra,
    }


def _refund(status: str) -> dict[str, Any]:
    return {
        "id": "re_3Webhook",
        "object": "refund",
        "amount": 20000,
        "charge": "ch_3Webhook",
        "created": 1_760_000_000,
        "currency": "inr",
        "payment_intent": "pi_3Webhook",
        "status": status,
    }


def _charge(**extra: Any) -> dict[str, Any]:
    return {
        "id": "ch_3Webhook",
        "object": "charge",
        "amount": 50000,
        "amount_refunded": 30000,
        "currency": "inr",
        "payment_intent": "pi_3Webhook",
        "refunded": False,
        **extra,
    }


def _dispute(status: str) -> dict[str, Any]:
    return {
        "id": "dp_3Webhook",
        "object": "dispute",
        "amount": 50000,
        "charge": "ch_3Webhook",
        "currency": "inr",
        "payment_intent": "pi_3Webhook",
        "reason": "fraudulent",
        "status": status,
    }


def _signed(
    event: dict[str, Any] | str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    body = event if isinstance(event, str) else json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)
    return body.encode(), {"Stripe-Signature": header}


@pytest.mark.parametrize(
    ("event_type", "obj", "expected"),
    [
        (
            "payment_intent.succeeded",
            _intent("succeeded"),
            {"kind": "payment.succeeded", "provider_payment_id": "ch_3Webhook", "amount": 50000},
        ),
        (
            "payment_intent.payment_failed",
            _intent("requires_payment_method", last_payment_error={"code": "card_declined"}),
            {"kind": "payment.failed", "amount": 50000},
        ),
        ("payment_intent.canceled", _intent("canceled"), {"kind": "payment.cancelled"}),
        (
            "refund.created",
            _refund("succeeded"),
            {"kind": "refund.succeeded", "refund_id": "re_3Webhook", "amount": 20000},
        ),
        (
            "refund.updated",
            _refund("succeeded"),
            {"kind": "refund.succeeded", "refund_id": "re_3Webhook", "provider_payment_id": "ch_3Webhook"},
        ),
        ("refund.updated", _refund("failed"), {"kind": "refund.failed", "refund_id": "re_3Webhook"}),
        ("refund.updated", _refund("canceled"), {"kind": "refund.failed", "refund_id": "re_3Webhook"}),
        ("refund.failed", _refund("failed"), {"kind": "refund.failed", "refund_id": "re_3Webhook"}),
        (
            "charge.dispute.created",
            _dispute("needs_response"),
            {"kind": "dispute.opened", "dispute_id": "dp_3Webhook", "dispute_status": "needs_response"},
        ),
        (
            "charge.dispute.closed",
            _dispute("won"),
            {"kind": "dispute.closed", "dispute_id": "dp_3Webhook", "dispute_status": "won"},
        ),
        (
            "charge.dispute.closed",
            _dispute("lost"),
            {
                "kind": "dispute.closed",
                "dispute_id": "dp_3Webhook",
                "dispute_status": "lost",
                "amount": 50000,
            },
        ),
    ],
)
def test_signed_webhook_is_normalised(gateway, event_type, obj, expected):
    event = _event(event_type, obj)
    body, headers = _signed(event)

    result = gateway.parse_webhook(body=body, headers=headers)

    assert result.event_id == event["id"]
    assert result.created == event["created"]
    assert result.reference == "pi_3Webhook"
    assert result.currency == "INR"
    for name, value in expected.items():
        assert getattr(result, name) == value, name
    assert result.raw["type"] == event_type


def test_payment_webhook_raw_has_no_client_secret(gateway):
    body, headers = _signed(_event("payment_intent.succeeded", _intent("succeeded")))

    result = gateway.parse_webhook(body=body, headers=headers)

    assert "client_secret" not in result.raw["data"]["object"]


def test_charge_refunded_takes_this_refunds_amount_from_previous_attributes(gateway):
    event = _event("charge.refunded", _charge(amount_refunded=30000), previous={"amount_refunded": 10000})
    body, headers = _signed(event)

    result = gateway.parse_webhook(body=body, headers=headers)

    assert (result.kind, result.reference, result.provider_payment_id) == (
        "refund.succeeded",
        "pi_3Webhook",
        "ch_3Webhook",
    )
    assert (result.amount, result.refund_id) == (20000, "")


def test_charge_refunded_with_expanded_refunds_names_the_latest_refund(gateway):
    refunds = {"object": "list", "data": [_refund("succeeded"), {**_refund("succeeded"), "id": "re_old"}]}
    body, headers = _signed(_event("charge.refunded", _charge(refunds=refunds)))

    result = gateway.parse_webhook(body=body, headers=headers)

    assert (result.kind, result.refund_id, result.amount) == ("refund.succeeded", "re_3Webhook", 20000)


@pytest.mark.parametrize(
    ("event_type", "obj"),
    [
        ("refund.created", _refund("pending")),
        ("customer.created", {"id": "cus_1", "object": "customer"}),
        ("payment_intent.created", _intent("requires_payment_method")),
        ("charge.dispute.updated", _dispute("under_review")),
    ],
)
def test_other_events_are_ignored(gateway, event_type, obj):
    event = _event(event_type, obj)
    body, headers = _signed(event)

    result = gateway.parse_webhook(body=body, headers=headers)

    assert (result.kind, result.event_id, result.created) == ("ignored", event["id"], event["created"])


@pytest.mark.parametrize("header_name", ["stripe-signature", "STRIPE-SIGNATURE", "Stripe-Signature"])
def test_signature_header_name_is_case_insensitive(gateway, header_name):
    body, headers = _signed(_event("payment_intent.canceled", _intent("canceled")))

    result = gateway.parse_webhook(body=body, headers={header_name: headers["Stripe-Signature"]})

    assert result.kind == "payment.cancelled"


def test_signature_computed_by_hand_the_way_stripe_signs(gateway):
    body = json.dumps(_event("payment_intent.succeeded", _intent("succeeded")))
    timestamp = int(time.time())
    digest = hmac.new(WEBHOOK_SECRET.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    # Stripe may send several v1 signatures (during secret rotation); one must match.
    header = f"t={timestamp},v1={'0' * 64},v1={digest},v0=legacy"

    result = gateway.parse_webhook(body=body.encode(), headers={"Stripe-Signature": header})

    assert result.kind == "payment.succeeded"


def test_timestamp_inside_the_tolerance_is_accepted(gateway):
    body, headers = _signed(
        _event("payment_intent.canceled", _intent("canceled")), timestamp=int(time.time()) - 290
    )

    assert gateway.parse_webhook(body=body, headers=headers).kind == "payment.cancelled"


def _tampered(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    return body.replace(b"50000", b"5"), headers


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda body, headers: (body, {}), id="unsigned"),
        pytest.param(lambda body, headers: (body, {"Stripe-Signature": ""}), id="empty-header"),
        pytest.param(lambda body, headers: (body, {"Stripe-Signature": "garbage"}), id="malformed-header"),
        pytest.param(
            lambda body, headers: (body, {"Stripe-Signature": f"t={int(time.time())}"}), id="no-v1-signature"
        ),
        pytest.param(lambda body, headers: _signed(body.decode(), secret="whsec_wrong"), id="wrong-secret"),
        pytest.param(_tampered, id="tampered-body"),
        pytest.param(
            lambda body, headers: _signed(body.decode(), timestamp=int(time.time()) - 301),
            id="stale-timestamp",
        ),
    ],
)
def test_unverifiable_webhook_is_refused(gateway, forge):
    event = _event("payment_intent.succeeded", _intent("succeeded"))
    body, headers = forge(*_signed(event))

    with pytest.raises(WebhookError):
        gateway.parse_webhook(body=body, headers=headers)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("not json", id="not-json"),
        pytest.param("[1, 2]", id="not-an-object"),
        pytest.param(json.dumps({"object": "event", "data": {}}), id="no-id-or-type"),
    ],
)
def test_signed_but_unparseable_webhook_is_refused(gateway, body):
    signed_body, headers = _signed(body)

    with pytest.raises(WebhookError):
        gateway.parse_webhook(body=signed_body, headers=headers)


def test_non_utf8_body_is_refused(gateway):
    with pytest.raises(WebhookError):
        gateway.parse_webhook(body=b"\xff\xfe{}", headers={"Stripe-Signature": f"t={int(time.time())},v1=00"})


def test_webhook_is_refused_when_no_secret_is_configured(fake_stripe):
    gateway = StripeGateway(api_key="sk_test_x", api_base=fake_stripe.url, webhook_secret="")
    body, headers = _signed(_event("payment_intent.succeeded", _intent("succeeded")), secret="")

    with pytest.raises(WebhookError):
        gateway.parse_webhook(body=body, headers=headers)


# --- configuration -------------------------------------------------------------------------------


def test_gateway_reads_settings(settings, fake_stripe, payment_id):
    settings.STRIPE_SECRET_KEY = fake_stripe.api_key
    settings.STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = fake_stripe.url + "/"
    settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS = 60

    gateway = StripeGateway(max_network_retries=0)

    assert (gateway.api_base, gateway.tolerance) == (fake_stripe.url, 60)
    checkout = gateway.create_payment(amount=100, currency="INR", payment_id=payment_id)
    assert checkout.client_data["publishable_key"] == PUBLISHABLE_KEY
    assert fake_stripe.last_request().path == "/v1/payment_intents"
    body, headers = _signed(
        _event("payment_intent.canceled", _intent("canceled")), timestamp=int(time.time()) - 61
    )
    with pytest.raises(WebhookError):
        gateway.parse_webhook(body=body, headers=headers)


def test_missing_settings_fall_back_to_empty_defaults(settings):
    for name in (
        "STRIPE_SECRET_KEY",
        "STRIPE_PUBLISHABLE_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "STRIPE_API_BASE",
        "STRIPE_WEBHOOK_TOLERANCE_SECONDS",
    ):
        if hasattr(django_settings, name):
            delattr(settings, name)

    gateway = StripeGateway()

    assert (gateway.api_key, gateway.publishable_key, gateway.webhook_secret) == ("", "", "")
    assert gateway.api_base == "https://api.stripe.com"
    assert gateway.tolerance == 300


def test_explicit_arguments_win_over_settings(settings, fake_stripe):
    settings.STRIPE_SECRET_KEY = "sk_from_settings"
    settings.STRIPE_API_BASE = "https://example.invalid"

    gateway = StripeGateway(api_key="sk_explicit", api_base=fake_stripe.url, tolerance=10)

    assert (gateway.api_key, gateway.api_base, gateway.tolerance) == ("sk_explicit", fake_stripe.url, 10)


@pytest.mark.parametrize("tolerance", [0, -5, "soon"])
def test_tolerance_that_would_disable_the_replay_check_is_refused(settings, tolerance):
    settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS = tolerance

    with pytest.raises(ImproperlyConfigured, match="STRIPE_WEBHOOK_TOLERANCE_SECONDS"):
        StripeGateway()


# --- nothing leaves loopback ---------------------------------------------------------------------


def test_every_call_goes_to_the_fake_on_loopback(gateway, fake_stripe, payment_id, blocked_hosts):
    assert gateway.api_base.startswith("http://127.0.0.1:")
    user_id = str(uuid.uuid4())

    customer = gateway.ensure_customer(user_id=user_id, name="Alice", phone="")
    checkout = gateway.create_payment(amount=50000, currency="INR", payment_id=payment_id, customer=customer)
    fake_stripe.succeed_payment_intent(checkout.reference)
    gateway.verify_payment(reference=checkout.reference)
    gateway.refund(
        reference=checkout.reference, provider_payment_id="", amount=100, currency="INR", idempotency_key="k"
    )
    method_id = fake_stripe.add_payment_method(customer.customer_id)
    gateway.list_payment_methods(customer.customer_id)  # GET customer + GET list
    gateway.set_default_payment_method(customer.customer_id, method_id)  # GET method + POST customer
    gateway.detach_payment_method(customer.customer_id, method_id)  # GET method + POST detach

    assert len(fake_stripe.requests) == 10
    assert all(r.status == 200 for r in fake_stripe.requests)
    posts = [r for r in fake_stripe.requests if r.method == "POST"]
    assert all(r.idempotency_key for r in posts)
    assert {r.authorization for r in fake_stripe.requests} == {f"Bearer {fake_stripe.api_key}"}
    assert blocked_hosts == []


def test_loopback_guard_stops_a_gateway_pointed_at_real_stripe(payment_id, blocked_hosts):
    gateway = StripeGateway(api_key="sk_test_x", api_base="", max_network_retries=0)

    with pytest.raises(GatewayError) as caught:
        gateway.create_payment(amount=100, currency="INR", payment_id=payment_id)

    assert caught.value.code == "GATEWAY_UNAVAILABLE"
    assert blocked_hosts == ["api.stripe.com"]
