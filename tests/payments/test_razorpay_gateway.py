from __future__ import annotations

import hashlib
import hmac
import json
import socket
from collections.abc import Iterator

import pytest

from payments.gateways.base import GatewayError, WebhookError
from payments.gateways.razorpay_gateway import RazorpayGateway
from tests.payments.fakes.razorpay_server import KEY_ID, KEY_SECRET, FakeRazorpay, running_fake_razorpay

WEBHOOK_SECRET = "whsec_fake_razorpay_0001"
PAYMENT_ID = "6f1c1b9e-9a52-4c8e-9a53-0b1e6d2f4a10"


def sign(secret: str, message: bytes) -> str:
    # Computed here, not with the gateway's helper, so a wrong formula in the gateway cannot hide.
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@pytest.fixture
def fake_razorpay() -> Iterator[FakeRazorpay]:
    with running_fake_razorpay() as fake:
        yield fake


@pytest.fixture
def gateway(fake_razorpay: FakeRazorpay) -> RazorpayGateway:
    return RazorpayGateway(
        key_id=KEY_ID,
        key_secret=KEY_SECRET,
        webhook_secret=WEBHOOK_SECRET,
        api_base=fake_razorpay.url,
        timeout=5,
    )


@pytest.fixture
def order_id(gateway: RazorpayGateway) -> str:
    return gateway.create_payment(amount=49_900, currency="INR", payment_id=PAYMENT_ID).reference


@pytest.fixture
def captured_payment(fake_razorpay: FakeRazorpay, order_id: str) -> dict:
    return fake_razorpay.add_payment(order_id, status="captured")


def callback(order_id: str, payment_id: str, *, secret: str = KEY_SECRET) -> dict[str, str]:
    return {
        "razorpay_order_id": order_id,
        "razorpay_payment_id": payment_id,
        "razorpay_signature": sign(secret, f"{order_id}|{payment_id}".encode()),
    }


def webhook(event: str, entities: dict, *, created_at: int = 1_700_000_500) -> bytes:
    payload = {
        "entity": "event",
        "account_id": "acc_fake0000000001",
        "event": event,
        "contains": list(entities),
        "payload": {name: {"entity": entity} for name, entity in entities.items()},
        "created_at": created_at,
    }
    return json.dumps(payload).encode()


def signed_headers(body: bytes, *, event_id: str = "evt_fake00000001", secret: str = WEBHOOK_SECRET) -> dict:
    return {"X-Razorpay-Signature": sign(secret, body), "X-Razorpay-Event-Id": event_id}


# --- create_payment ------------------------------------------------------------------------------


def test_create_payment_creates_an_order_in_minor_units(gateway, fake_razorpay):
    checkout = gateway.create_payment(
        amount=49_900, currency="inr", payment_id=PAYMENT_ID, description="Video consultation"
    )

    [request] = fake_razorpay.requests_to("POST", "/v1/orders")
    assert request.auth == (KEY_ID, KEY_SECRET)
    assert request.body == {
        "amount": 49_900,
        "currency": "INR",
        "receipt": PAYMENT_ID,
        "notes": {"payment_id": PAYMENT_ID, "description": "Video consultation"},
    }
    order = fake_razorpay.orders[checkout.reference]
    assert checkout.reference.startswith("order_")
    assert (checkout.gateway, checkout.amount, checkout.currency) == ("razorpay", 49_900, "INR")
    assert checkout.client_data == {
        "key_id": KEY_ID,
        "order_id": order["id"],
        "amount": 49_900,
        "currency": "INR",
    }


def test_receipt_is_cut_to_razorpays_40_characters(gateway, fake_razorpay):
    long_id = "x" * 50

    gateway.create_payment(amount=10_000, currency="INR", payment_id=long_id)

    [request] = fake_razorpay.requests_to("POST", "/v1/orders")
    assert request.body["receipt"] == "x" * 40
    assert request.body["notes"]["payment_id"] == long_id


def test_settings_are_read_when_called(settings, fake_razorpay):
    gateway = RazorpayGateway()
    settings.RAZORPAY_KEY_ID = KEY_ID
    settings.RAZORPAY_KEY_SECRET = KEY_SECRET
    settings.RAZORPAY_API_BASE = fake_razorpay.url

    checkout = gateway.create_payment(amount=10_000, currency="INR", payment_id=PAYMENT_ID)

    assert checkout.client_data["key_id"] == KEY_ID
    assert fake_razorpay.requests_to("POST", "/v1/orders")[0].auth == (KEY_ID, KEY_SECRET)


def test_missing_keys_are_a_configuration_error(settings):
    settings.RAZORPAY_KEY_ID = ""
    settings.RAZORPAY_KEY_SECRET = ""

    with pytest.raises(GatewayError) as excinfo:
        RazorpayGateway().create_payment(amount=10_000, currency="INR", payment_id=PAYMENT_ID)

    assert (excinfo.value.code, excinfo.value.retryable) == ("GATEWAY_NOT_CONFIGURED", False)


def test_non_positive_amount_is_refused_before_calling_razorpay(gateway, fake_razorpay):
    with pytest.raises(GatewayError) as excinfo:
        gateway.create_payment(amount=0, currency="INR", payment_id=PAYMENT_ID)

    assert excinfo.value.code == "GATEWAY_INVALID_REQUEST"
    assert fake_razorpay.requests == []


# --- verify_payment: signed callback -------------------------------------------------------------


def test_signed_callback_verifies(gateway, order_id):
    verification = gateway.verify_payment(reference=order_id, data=callback(order_id, "pay_Fake000000001"))

    assert verification.status == "succeeded"
    assert verification.reference == order_id
    assert verification.provider_payment_id == "pay_Fake000000001"


def test_callback_with_tampered_payment_id_is_refused(gateway, order_id):
    data = callback(order_id, "pay_Fake000000001")
    data["razorpay_payment_id"] = "pay_Fake000000002"

    with pytest.raises(GatewayError) as excinfo:
        gateway.verify_payment(reference=order_id, data=data)

    assert (excinfo.value.code, excinfo.value.retryable) == ("INVALID_SIGNATURE", False)


def test_callback_signed_with_another_secret_is_refused(gateway, order_id):
    data = callback(order_id, "pay_Fake000000001", secret="not-our-secret")

    with pytest.raises(GatewayError) as excinfo:
        gateway.verify_payment(reference=order_id, data=data)

    assert excinfo.value.code == "INVALID_SIGNATURE"


def test_validly_signed_callback_for_another_order_is_refused(gateway, order_id):
    other_order = gateway.create_payment(amount=100, currency="INR", payment_id="other").reference
    data = callback(other_order, "pay_Fake000000001")  # genuine, but for the cheaper order

    with pytest.raises(GatewayError) as excinfo:
        gateway.verify_payment(reference=order_id, data=data)

    assert excinfo.value.code == "REFERENCE_MISMATCH"


@pytest.mark.parametrize("signature", ["", None, "é" * 64, ["abc"]])
def test_missing_or_garbage_signature_is_refused(gateway, order_id, signature):
    data = {"razorpay_order_id": order_id, "razorpay_payment_id": "pay_Fake000000001"}
    if signature is not None:
        data["razorpay_signature"] = signature

    with pytest.raises(GatewayError) as excinfo:
        gateway.verify_payment(reference=order_id, data=data)

    assert excinfo.value.code == "INVALID_SIGNATURE"


def test_callback_without_ids_is_refused(gateway, order_id):
    with pytest.raises(GatewayError) as excinfo:
        gateway.verify_payment(reference=order_id, data={"razorpay_signature": "abc"})

    assert excinfo.value.code == "INVALID_CALLBACK"


# --- verify_payment: server-side fetch -----------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [
        ([], "pending"),
        (["created"], "pending"),
        (["authorized"], "pending"),
        (["failed"], "failed"),
        (["failed", "failed"], "failed"),
        (["failed", "captured"], "succeeded"),
        (["captured"], "succeeded"),
        (["refunded"], "succeeded"),
    ],
)
def test_fetch_maps_the_orders_payments(gateway, fake_razorpay, order_id, attempts, expected):
    made = [fake_razorpay.add_payment(order_id, status=status) for status in attempts]

    verification = gateway.verify_payment(reference=order_id)

    assert verification.status == expected
    [request] = fake_razorpay.requests_to("GET", f"/v1/orders/{order_id}/payments")
    assert request.auth == (KEY_ID, KEY_SECRET)
    if expected == "succeeded":
        captured = next(p for p in made if p["status"] in ("captured", "refunded"))
        assert verification.provider_payment_id == captured["id"]
        assert (verification.amount, verification.currency) == (49_900, "INR")


def test_fetch_of_unknown_order_is_a_non_retryable_error(gateway):
    with pytest.raises(GatewayError) as excinfo:
        gateway.verify_payment(reference="order_DoesNotExist01")

    assert (excinfo.value.code, excinfo.value.retryable) == ("GATEWAY_INVALID_REQUEST", False)


# --- refund --------------------------------------------------------------------------------------


def test_refund_posts_amount_and_key_in_notes(gateway, fake_razorpay, order_id, captured_payment):
    result = gateway.refund(
        reference=order_id,
        provider_payment_id=captured_payment["id"],
        amount=20_000,
        currency="INR",
        idempotency_key="refund-key-1",
    )

    pay_id = captured_payment["id"]
    assert len(fake_razorpay.requests_to("GET", f"/v1/payments/{pay_id}/refunds")) == 1
    [request] = fake_razorpay.requests_to("POST", f"/v1/payments/{pay_id}/refund")
    assert request.auth == (KEY_ID, KEY_SECRET)
    assert request.body == {
        "amount": 20_000,
        "notes": {"idempotency_key": "refund-key-1", "order_id": order_id},
    }
    assert result.refund_id.startswith("rfnd_")
    assert (result.status, result.amount) == ("succeeded", 20_000)


def test_refund_retry_with_same_key_returns_the_first_refund(
    gateway, fake_razorpay, order_id, captured_payment
):
    kwargs = {
        "reference": order_id,
        "provider_payment_id": captured_payment["id"],
        "amount": 20_000,
        "currency": "INR",
        "idempotency_key": "refund-key-1",
    }
    first = gateway.refund(**kwargs)

    second = gateway.refund(**kwargs)

    assert second.refund_id == first.refund_id
    assert len(fake_razorpay.requests_to("POST", f"/v1/payments/{captured_payment['id']}/refund")) == 1
    assert len(fake_razorpay.refunds[captured_payment["id"]]) == 1


def test_refund_with_a_new_key_is_a_new_refund(gateway, fake_razorpay, order_id, captured_payment):
    common = {"reference": order_id, "provider_payment_id": captured_payment["id"], "currency": "INR"}
    first = gateway.refund(amount=10_000, idempotency_key="k1", **common)

    second = gateway.refund(amount=10_000, idempotency_key="k2", **common)

    assert first.refund_id != second.refund_id
    assert len(fake_razorpay.refunds[captured_payment["id"]]) == 2


def test_pending_refund_is_reported_pending(gateway, fake_razorpay, order_id, captured_payment):
    fake_razorpay.refund_status = "pending"

    result = gateway.refund(
        reference=order_id,
        provider_payment_id=captured_payment["id"],
        amount=1_000,
        currency="INR",
        idempotency_key="k",
    )

    assert result.status == "pending"


def test_refund_above_the_captured_amount_is_not_retryable(gateway, order_id, captured_payment):
    with pytest.raises(GatewayError) as excinfo:
        gateway.refund(
            reference=order_id,
            provider_payment_id=captured_payment["id"],
            amount=50_000,
            currency="INR",
            idempotency_key="k",
        )

    assert (excinfo.value.code, excinfo.value.retryable) == ("GATEWAY_INVALID_REQUEST", False)
    assert "greater than amount captured" in str(excinfo.value)


# --- error mapping -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "options", "code", "retryable"),
    [
        (
            400,
            {"code": "BAD_REQUEST_ERROR", "description": "The amount must be an integer."},
            "GATEWAY_INVALID_REQUEST",
            False,
        ),
        (500, {"code": "SERVER_ERROR"}, "GATEWAY_UNAVAILABLE", True),
        (502, {"code": "GATEWAY_ERROR"}, "GATEWAY_UNAVAILABLE", True),
        (502, {"raw": "<html>Bad Gateway</html>"}, "GATEWAY_UNAVAILABLE", True),
        (
            429,
            {"code": "BAD_REQUEST_ERROR", "description": "Too many requests"},
            "GATEWAY_RATE_LIMITED",
            True,
        ),
        (400, {"code": "GATEWAY_ERROR", "description": "bank down"}, "GATEWAY_UNAVAILABLE", True),
        (400, {"code": "SOMETHING_NEW"}, "GATEWAY_UNAVAILABLE", True),  # the SDK's ServerError
        (401, {"description": "Authentication failed"}, "GATEWAY_AUTH_FAILED", False),
    ],
)
def test_razorpay_errors_map_to_gateway_errors(gateway, fake_razorpay, status, options, code, retryable):
    fake_razorpay.fail_next(status, **options)

    with pytest.raises(GatewayError) as excinfo:
        gateway.create_payment(amount=10_000, currency="INR", payment_id=PAYMENT_ID)

    assert (excinfo.value.code, excinfo.value.retryable) == (code, retryable)


def test_wrong_credentials_are_not_retryable(fake_razorpay):
    gateway = RazorpayGateway(key_id=KEY_ID, key_secret="wrong", api_base=fake_razorpay.url)

    with pytest.raises(GatewayError) as excinfo:
        gateway.create_payment(amount=10_000, currency="INR", payment_id=PAYMENT_ID)

    assert (excinfo.value.code, excinfo.value.retryable) == ("GATEWAY_AUTH_FAILED", False)


def test_refused_connection_is_retryable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = RazorpayGateway(key_id=KEY_ID, key_secret=KEY_SECRET, api_base=f"http://127.0.0.1:{port}")

    with pytest.raises(GatewayError) as excinfo:
        gateway.create_payment(amount=10_000, currency="INR", payment_id=PAYMENT_ID)

    assert (excinfo.value.code, excinfo.value.retryable) == ("GATEWAY_UNAVAILABLE", True)


def test_silent_server_times_out_as_retryable():
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        gateway = RazorpayGateway(
            key_id=KEY_ID, key_secret=KEY_SECRET, api_base=f"http://127.0.0.1:{port}", timeout=0.3
        )

        with pytest.raises(GatewayError) as excinfo:
            gateway.create_payment(amount=10_000, currency="INR", payment_id=PAYMENT_ID)

    assert (excinfo.value.code, excinfo.value.retryable) == ("GATEWAY_UNAVAILABLE", True)


# --- webhooks ------------------------------------------------------------------------------------

PAYMENT_ENTITY = {
    "id": "pay_Fake000000001",
    "entity": "payment",
    "amount": 49_900,
    "currency": "INR",
    "status": "captured",
    "order_id": "order_Fake00000001",
    "notes": [],
}


def test_signed_payment_captured_webhook_is_normalised(gateway):
    body = webhook("payment.captured", {"payment": PAYMENT_ENTITY})

    event = gateway.parse_webhook(body=body, headers=signed_headers(body, event_id="evt_Abc"))

    assert event.event_id == "evt_Abc"
    assert event.kind == "payment.succeeded"
    assert event.reference == "order_Fake00000001"
    assert event.provider_payment_id == "pay_Fake000000001"
    assert (event.amount, event.currency, event.created) == (49_900, "INR", 1_700_000_500)
    assert event.raw["event"] == "payment.captured"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("payment.captured", "payment.succeeded"),
        ("order.paid", "payment.succeeded"),
        ("payment.failed", "payment.failed"),
        ("payment.authorized", "ignored"),
        ("refund.created", "ignored"),
        ("payment.dispute.under_review", "ignored"),
        ("subscription.charged", "ignored"),
    ],
)
def test_event_names_map_to_kinds(gateway, name, kind):
    order = {"id": "order_Fake00000001", "entity": "order", "amount": 49_900, "currency": "INR"}
    body = webhook(name, {"payment": PAYMENT_ENTITY, "order": order})

    event = gateway.parse_webhook(body=body, headers=signed_headers(body))

    assert event.kind == kind
    assert event.reference == "order_Fake00000001"


def test_order_paid_takes_the_reference_from_the_order_when_no_payment_is_sent(gateway):
    order = {"id": "order_Fake00000009", "entity": "order", "amount": 100, "currency": "INR"}
    body = webhook("order.paid", {"order": order})

    event = gateway.parse_webhook(body=body, headers=signed_headers(body))

    assert (event.kind, event.reference, event.amount) == ("payment.succeeded", "order_Fake00000009", 100)


@pytest.mark.parametrize(
    ("name", "kind"), [("refund.processed", "refund.succeeded"), ("refund.failed", "refund.failed")]
)
def test_refund_webhooks_carry_the_refund(gateway, name, kind):
    refund = {
        "id": "rfnd_Fake00000001",
        "entity": "refund",
        "amount": 20_000,
        "currency": "INR",
        "payment_id": "pay_Fake000000001",
        "notes": {"idempotency_key": "refund-key-1"},
        "status": "processed",
    }
    body = webhook(name, {"refund": refund, "payment": {**PAYMENT_ENTITY, "status": "refunded"}})

    event = gateway.parse_webhook(body=body, headers=signed_headers(body))

    assert event.kind == kind
    assert (event.refund_id, event.amount, event.currency) == ("rfnd_Fake00000001", 20_000, "INR")
    assert (event.reference, event.provider_payment_id) == ("order_Fake00000001", "pay_Fake000000001")


@pytest.mark.parametrize(
    ("name", "status", "kind", "dispute_status"),
    [
        ("payment.dispute.created", "open", "dispute.opened", "needs_response"),
        ("payment.dispute.won", "won", "dispute.closed", "won"),
        ("payment.dispute.lost", "lost", "dispute.closed", "lost"),
        ("payment.dispute.closed", "closed", "dispute.closed", "closed"),
    ],
)
def test_dispute_webhooks(gateway, name, status, kind, dispute_status):
    dispute = {
        "id": "disp_Fake00000001",
        "entity": "dispute",
        "payment_id": "pay_Fake000000001",
        "amount": 49_900,
        "currency": "INR",
        "status": status,
        "phase": "chargeback",
    }
    body = webhook(name, {"payment": PAYMENT_ENTITY, "dispute": dispute})

    event = gateway.parse_webhook(body=body, headers=signed_headers(body))

    assert (event.kind, event.dispute_id, event.dispute_status) == (kind, "disp_Fake00000001", dispute_status)
    assert (event.reference, event.amount) == ("order_Fake00000001", 49_900)


def test_unsigned_webhook_is_refused(gateway):
    body = webhook("payment.captured", {"payment": PAYMENT_ENTITY})

    with pytest.raises(WebhookError):
        gateway.parse_webhook(body=body, headers={"X-Razorpay-Event-Id": "evt_1"})


def test_tampered_webhook_is_refused(gateway):
    body = webhook("payment.captured", {"payment": PAYMENT_ENTITY})
    headers = signed_headers(body)
    tampered = body.replace(b"49900", b"99900")

    with pytest.raises(WebhookError):
        gateway.parse_webhook(body=tampered, headers=headers)


def test_webhook_signed_with_another_secret_is_refused(gateway):
    body = webhook("payment.captured", {"payment": PAYMENT_ENTITY})

    with pytest.raises(WebhookError):
        gateway.parse_webhook(body=body, headers=signed_headers(body, secret="not-our-secret"))


def test_webhook_signed_with_the_api_key_secret_is_refused(gateway):
    body = webhook("payment.captured", {"payment": PAYMENT_ENTITY})

    with pytest.raises(WebhookError):
        gateway.parse_webhook(body=body, headers=signed_headers(body, secret=KEY_SECRET))


def test_webhook_is_refused_when_no_secret_is_configured(settings):
    settings.RAZORPAY_WEBHOOK_SECRET = ""
    body = webhook("payment.captured", {"payment": PAYMENT_ENTITY})

    with pytest.raises(WebhookError):
        RazorpayGateway().parse_webhook(body=body, headers=signed_headers(body, secret=""))


def test_signed_body_that_is_not_json_is_refused(gateway):
    body = b"not json"

    with pytest.raises(WebhookError):
        gateway.parse_webhook(body=body, headers=signed_headers(body))


def test_header_names_are_case_insensitive(gateway):
    body = webhook("payment.captured", {"payment": PAYMENT_ENTITY})
    headers = {"x-razorpay-signature": sign(WEBHOOK_SECRET, body), "x-razorpay-event-id": "evt_lower"}

    event = gateway.parse_webhook(body=body, headers=headers)

    assert event.event_id == "evt_lower"


def test_event_id_falls_back_to_a_hash_of_the_body(gateway):
    body = webhook("payment.captured", {"payment": PAYMENT_ENTITY})
    headers = {"X-Razorpay-Signature": sign(WEBHOOK_SECRET, body)}
    other = webhook("payment.captured", {"payment": PAYMENT_ENTITY}, created_at=1_700_000_999)

    first = gateway.parse_webhook(body=body, headers=headers)
    again = gateway.parse_webhook(body=body, headers=headers)
    different = gateway.parse_webhook(
        body=other, headers={"X-Razorpay-Signature": sign(WEBHOOK_SECRET, other)}
    )

    assert first.event_id == again.event_id == "sha256:" + hashlib.sha256(body).hexdigest()
    assert different.event_id != first.event_id
