"""Helpers shared by the payments API tests (tests/payments/test_api_*.py): reading the envelope,
URLs, and signing webhooks and callbacks the way the providers do, computed here independently of
the gateway code so a wrong formula there cannot hide."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

import stripe

BASE = "/api/payments/"
PAYMENTS = f"{BASE}payments/"
COUPONS = f"{BASE}coupons/"
STRIPE_WEBHOOK_SECRET = "whsec_test_api_webhooks"
RAZORPAY_WEBHOOK_SECRET = "rzp_whsec_test_api"


def payment_url(payment, suffix: str = "") -> str:
    return f"{PAYMENTS}{payment.pk}/{suffix}"


def data_of(response) -> Any:
    body = response.json()
    assert body["success"] is True, body
    return body["data"]


def error_of(response) -> dict[str, Any]:
    body = response.json()
    assert body["success"] is False, body
    return body["error"]


def money(amount: int, currency: str = "INR") -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


# --- Stripe --------------------------------------------------------------------------------------


def stripe_event(event_type: str, obj: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": 1_760_000_000,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "type": event_type,
    }


def stripe_intent(reference: str, amount: int, *, status: str = "succeeded", currency: str = "inr") -> dict:
    return {
        "id": reference,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount if status == "succeeded" else 0,
        "currency": currency,
        "latest_charge": f"ch_{reference}",
        "last_payment_error": None,
        "status": status,
    }


def stripe_signed(
    event: dict[str, Any], *, secret: str = STRIPE_WEBHOOK_SECRET
) -> tuple[bytes, dict[str, str]]:
    """The body and ``Stripe-Signature`` header Stripe would send (v1 scheme, current time)."""
    body = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(body, secret)
    return body.encode(), {"HTTP_STRIPE_SIGNATURE": header}


# --- Razorpay ------------------------------------------------------------------------------------


def hmac_sha256(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def razorpay_callback(order_id: str, payment_id: str, secret: str) -> dict[str, str]:
    """What Razorpay Checkout hands the app after a payment: signed with the key secret."""
    return {
        "razorpay_order_id": order_id,
        "razorpay_payment_id": payment_id,
        "razorpay_signature": hmac_sha256(secret, f"{order_id}|{payment_id}".encode()),
    }


def razorpay_webhook(event: str, entities: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "entity": "event",
            "account_id": "acc_fake0000000001",
            "event": event,
            "contains": list(entities),
            "payload": {name: {"entity": entity} for name, entity in entities.items()},
            "created_at": 1_700_000_500,
        }
    ).encode()


# --- PayU ----------------------------------------------------------------------------------------


def payu_response_hash(f: dict[str, str], salt: str) -> str:
    sequence = (
        f"{salt}|{f['status']}||||||{f['udf5']}|{f['udf4']}|{f['udf3']}|{f['udf2']}|{f['udf1']}|"
        f"{f['email']}|{f['firstname']}|{f['productinfo']}|{f['amount']}|{f['txnid']}|{f['key']}"
    )
    return hashlib.sha512(sequence.encode()).hexdigest()


def payu_post(
    fields: dict[str, str], salt: str, *, status: str = "success", mihpayid: str = "403993715521000001"
):
    """The form PayU posts back (to surl/furl and to the webhook URL) for these checkout fields."""
    posted = {
        "mihpayid": mihpayid,
        "mode": "CC",
        "status": status,
        "unmappedstatus": "captured" if status == "success" else "failed",
        "key": fields["key"],
        "txnid": fields["txnid"],
        "amount": fields["amount"],
        "addedon": "2026-01-15 10:20:30",
        "productinfo": fields["productinfo"],
        "firstname": fields["firstname"],
        "email": fields["email"],
        "phone": fields["phone"],
        **{f"udf{i}": fields.get(f"udf{i}", "") for i in range(1, 6)},
        "error": "E000",
    }
    posted["hash"] = payu_response_hash(posted, salt)
    return posted
