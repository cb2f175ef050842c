"""The one interface every payment gateway implements (Stripe, Razorpay, PayU).

Gateways are pure adapters: they talk to the provider (through its SDK or HTTP API) and translate
its answers into the plain dataclasses below. They never touch the database; ``payments.services``
owns state. Money is always integer minor units plus an ISO-4217 currency code.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# ``GatewayError.code`` values every adapter uses with the same meaning (adapters add their own).
GATEWAY_ERROR = "GATEWAY_ERROR"  # anything not covered below
GATEWAY_INVALID_REQUEST = "GATEWAY_INVALID_REQUEST"  # the provider refused the request as wrong
GATEWAY_AUTH_FAILED = "GATEWAY_AUTH_FAILED"  # our keys were refused
GATEWAY_RATE_LIMITED = "GATEWAY_RATE_LIMITED"  # retryable
GATEWAY_UNAVAILABLE = "GATEWAY_UNAVAILABLE"  # connection failure or 5xx: retryable
GATEWAY_NOT_CONFIGURED = "GATEWAY_NOT_CONFIGURED"  # keys missing on our side
GATEWAY_IDEMPOTENCY_CONFLICT = "GATEWAY_IDEMPOTENCY_CONFLICT"  # a key reused with other parameters
# A callback the client relayed that does not verify: the client's error, not an outage.
INVALID_CALLBACK = "INVALID_CALLBACK"  # malformed, fields missing
INVALID_SIGNATURE = "INVALID_SIGNATURE"  # signature or hash wrong or missing
REFERENCE_MISMATCH = "REFERENCE_MISMATCH"  # genuine, but for another payment
BAD_CALLBACK_CODES = frozenset({INVALID_CALLBACK, INVALID_SIGNATURE, REFERENCE_MISMATCH})


def header(headers: Mapping[str, str], name: str) -> str:
    """A request header by name, whatever its case ("" when absent)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return ""


class GatewayError(Exception):
    """The provider refused or failed a call. ``retryable`` says whether trying again may help."""

    def __init__(self, message: str, *, code: str = "GATEWAY_ERROR", retryable: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.retryable = retryable


class WebhookError(Exception):
    """A webhook that must be refused with 400: unsigned, tampered with, stale or unparseable."""


@dataclass(frozen=True)
class Checkout:
    """What the app needs to pay: created by ``create_payment``."""

    gateway: str  # "stripe" | "razorpay" | "payu"
    reference: str  # the provider's id for this payment: PaymentIntent id, Razorpay order id, PayU txnid
    amount: int
    currency: str
    # Handed to the client as is: Stripe {"client_secret": ...}; Razorpay {"order_id", "key_id", ...};
    # PayU {"action": url, "fields": {...form fields incl. hash}}.
    client_data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verification:
    """The gateway's verified word on a payment (from a signed callback or a server-side fetch)."""

    reference: str
    status: str  # "succeeded" | "failed" | "pending" | "cancelled"
    provider_payment_id: str = ""  # Stripe charge/PI id, Razorpay payment id, PayU mihpayid
    amount: int | None = None
    currency: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    status: str  # "succeeded" | "pending" | "failed"
    amount: int
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GatewayEvent:
    """A verified webhook, normalised. ``event_id`` is the provider's unique id (dedupe key)."""

    event_id: str
    kind: str  # "payment.succeeded" | "payment.failed" | "payment.cancelled" | "refund.succeeded"
    #            | "refund.failed" | "dispute.opened" | "dispute.closed" | "ignored"
    reference: str  # the payment's ``Checkout.reference`` ("" if the event has none)
    provider_payment_id: str = ""
    amount: int | None = None
    currency: str | None = None
    refund_id: str = ""
    dispute_id: str = ""
    dispute_status: str = ""  # for disputes: "needs_response" | "won" | "lost" | ...
    created: int | None = None  # provider timestamp (epoch seconds), for ordering
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Customer:
    """The provider's account for a patient (Stripe Customer). Only Stripe supports these."""

    customer_id: str


@dataclass(frozen=True)
class SavedMethod:
    method_id: str
    brand: str
    last4: str
    exp_month: int | None
    exp_year: int | None
    is_default: bool


class Gateway(abc.ABC):
    name: str

    @abc.abstractmethod
    def create_payment(
        self,
        *,
        amount: int,
        currency: str,
        payment_id: str,  # our Payment's id (UUID string), sent as metadata / receipt / txnid
        customer: Customer | None = None,
        description: str = "",
        payer: dict[str, str] | None = None,  # {"name", "email", "phone"}; PayU needs them
    ) -> Checkout: ...

    @abc.abstractmethod
    def verify_payment(self, *, reference: str, data: dict[str, Any] | None = None) -> Verification:
        """Ask the provider (server side) or check the signed callback ``data`` the client relayed;
        never trust the client's word without a signature or a fetch."""

    @abc.abstractmethod
    def refund(
        self, *, reference: str, provider_payment_id: str, amount: int, currency: str, idempotency_key: str
    ) -> RefundResult: ...

    @abc.abstractmethod
    def parse_webhook(self, *, body: bytes, headers: dict[str, str]) -> GatewayEvent:
        """Verify the signature on the raw body and normalise; raise ``WebhookError`` otherwise."""
