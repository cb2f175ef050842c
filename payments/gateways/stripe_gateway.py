"""Stripe adapter: PaymentIntents, Refunds, Customers with saved cards, and signed webhooks.

Every call goes through a per-instance ``stripe.StripeClient``: the SDK's module globals
(``stripe.api_key``, ``stripe.api_base``) are never touched, so tests can point one gateway at a
loopback fake while nothing else in the process changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from payments.gateways.base import (
    GATEWAY_AUTH_FAILED,
    GATEWAY_ERROR,
    GATEWAY_IDEMPOTENCY_CONFLICT,
    GATEWAY_INVALID_REQUEST,
    GATEWAY_NOT_CONFIGURED,
    GATEWAY_RATE_LIMITED,
    GATEWAY_UNAVAILABLE,
    Checkout,
    Customer,
    Gateway,
    GatewayError,
    GatewayEvent,
    RefundResult,
    SavedMethod,
    Verification,
    WebhookError,
    header,
)

if TYPE_CHECKING:
    from stripe import V1Services

# GatewayError.code values only this adapter raises (the shared GATEWAY_* ones are in base).
CARD_DECLINED = "CARD_DECLINED"
NOT_YOUR_PAYMENT_METHOD = "NOT_YOUR_PAYMENT_METHOD"

DEFAULT_WEBHOOK_TOLERANCE_SECONDS = 300
DEFAULT_MAX_NETWORK_RETRIES = 2
# The SDK's default is 80 s; a web request or a worker should give up long before that.
DEFAULT_TIMEOUT_SECONDS = 20.0

_PAYMENT_EVENTS = {
    "payment_intent.succeeded": "payment.succeeded",
    "payment_intent.payment_failed": "payment.failed",
    "payment_intent.canceled": "payment.cancelled",
}
# Events whose ``data.object`` is a Refund.
_REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"})
_DISPUTE_EVENTS = {
    "charge.dispute.created": "dispute.opened",
    "charge.dispute.closed": "dispute.closed",
}
_REFUND_STATUS = {
    "succeeded": "succeeded",
    "pending": "pending",
    "requires_action": "pending",
    "failed": "failed",
    "canceled": "failed",
}
# Refund status -> webhook kind; pending refunds are not news yet.
_REFUND_EVENT_KIND = {"succeeded": "refund.succeeded", "failed": "refund.failed", "canceled": "refund.failed"}


class StripeGateway(Gateway):
    name = "stripe"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        publishable_key: str | None = None,
        api_base: str | None = None,
        webhook_secret: str | None = None,
        tolerance: int | None = None,
        max_network_retries: int = DEFAULT_MAX_NETWORK_RETRIES,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        """Explicit arguments win; anything left ``None`` is read from Django settings now, not at
        import time, so ``override_settings`` and late-loaded settings both work."""
        self.api_key = _setting_str("STRIPE_SECRET_KEY") if api_key is None else api_key
        self.publishable_key = (
            _setting_str("STRIPE_PUBLISHABLE_KEY") if publishable_key is None else publishable_key
        )
        self.webhook_secret = (
            _setting_str("STRIPE_WEBHOOK_SECRET") if webhook_secret is None else webhook_secret
        )
        base = _setting_str("STRIPE_API_BASE") if api_base is None else api_base
        # The SDK joins base + "/v1/...", so a trailing slash would give "//v1".
        self.api_base = base.rstrip("/") or stripe.DEFAULT_API_BASE
        self.tolerance = _tolerance(tolerance)
        self._client = stripe.StripeClient(
            self.api_key,
            base_addresses={"api": self.api_base},
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    # --- Gateway interface -----------------------------------------------------------------------

    def create_payment(
        self,
        *,
        amount: int,
        currency: str,
        payment_id: str,
        customer: Customer | None = None,
        description: str = "",
        payer: dict[str, str] | None = None,
    ) -> Checkout:
        """Create a PaymentIntent that the client confirms with Stripe.js. The idempotency key is our
        payment id, so a repeated call (double submit, task retry) returns the same PaymentIntent
        instead of opening a second one. ``payer`` is unused: the Payment Element collects it."""
        _check_amount(amount)
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency.lower(),
            "automatic_payment_methods": {"enabled": True},
            "metadata": {"payment_id": payment_id},
        }
        if description:
            params["description"] = description
        if customer is not None:
            params["customer"] = customer.customer_id
        v1 = self._v1()
        with _translated_errors():
            intent = v1.payment_intents.create(
                params, {"idempotency_key": f"payment-intent-{payment_id}"}
            ).to_dict()
        return Checkout(
            gateway=self.name,
            reference=intent["id"],
            amount=intent["amount"],
            currency=intent["currency"].upper(),
            client_data={"client_secret": intent["client_secret"], "publishable_key": self.publishable_key},
        )

    def verify_payment(self, *, reference: str, data: dict[str, Any] | None = None) -> Verification:
        """Fetch the PaymentIntent server side. ``data`` is ignored on purpose: nothing the client
        relays from Stripe.js is signed, so only Stripe's own answer counts."""
        if not reference:
            raise GatewayError("No PaymentIntent reference to verify.", code=GATEWAY_INVALID_REQUEST)
        v1 = self._v1()
        with _translated_errors():
            intent = v1.payment_intents.retrieve(reference).to_dict()
        status = _payment_status(intent)
        return Verification(
            reference=intent["id"],
            status=status,
            provider_payment_id=_id_of(intent.get("latest_charge")),
            amount=intent.get("amount_received") if status == "succeeded" else intent.get("amount"),
            currency=_upper(intent.get("currency")),
            raw=_scrubbed(intent),
        )

    def refund(
        self, *, reference: str, provider_payment_id: str, amount: int, currency: str, idempotency_key: str
    ) -> RefundResult:
        """Refund ``amount`` of the PaymentIntent ``reference``. Stripe refunds in the charge's own
        currency, so ``currency`` is not sent; ``idempotency_key`` makes a retried refund a replay."""
        if not idempotency_key:
            # Without one the SDK would invent a random key and a retry could refund twice.
            raise ValueError("refund() needs an idempotency_key")
        _check_amount(amount)
        v1 = self._v1()
        with _translated_errors():
            refund = v1.refunds.create(
                {"payment_intent": reference, "amount": amount}, {"idempotency_key": idempotency_key}
            ).to_dict()
        return RefundResult(
            refund_id=refund["id"],
            status=_REFUND_STATUS.get(refund.get("status") or "", "pending"),
            amount=refund.get("amount", amount),
            raw=refund,
        )

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str]) -> GatewayEvent:
        """Verify ``Stripe-Signature`` over the raw body (HMAC and timestamp tolerance) and normalise
        the event. Anything unverifiable is a ``WebhookError``; verified events we do not act on come
        back as kind ``"ignored"`` so the caller can still answer 200 and Stripe stops retrying."""
        signature = header(headers, "Stripe-Signature")
        try:
            event = self._client.construct_event(body, signature, self.webhook_secret, self.tolerance)
            payload = event.to_dict()
        except (stripe.SignatureVerificationError, ValueError, TypeError, AttributeError, KeyError) as exc:
            # ValueError also covers a body that is not UTF-8 or not JSON.
            raise WebhookError(f"Invalid Stripe webhook: {exc}") from exc
        return _normalise_event(payload)

    # --- Stripe-only extras ----------------------------------------------------------------------

    def ensure_customer(
        self, *, user_id: str | uuid.UUID, name: str, phone: str, existing_customer_id: str | None = None
    ) -> Customer:
        """Return the patient's Stripe Customer, creating one when there is none or the stored one
        was deleted on Stripe's side."""
        v1 = self._v1()
        if existing_customer_id:
            try:
                found = v1.customers.retrieve(existing_customer_id).to_dict()
            except stripe.InvalidRequestError as exc:
                if exc.code != "resource_missing":
                    raise _gateway_error(exc) from exc
                found = {"deleted": True}
            except stripe.StripeError as exc:
                raise _gateway_error(exc) from exc
            if not found.get("deleted"):
                return Customer(customer_id=found["id"])
        params: dict[str, Any] = {"metadata": {"user_id": str(user_id)}}
        if name:
            params["name"] = name
        if phone:
            params["phone"] = phone
        # Keyed by user (a UUID) so a double request makes one Customer; a replacement for a deleted
        # Customer gets its own key, or Stripe would replay the old, deleted one for 24 hours.
        key = f"customer-{user_id}"
        if existing_customer_id:
            key += f"-replaces-{existing_customer_id}"
        with _translated_errors():
            created = v1.customers.create(params, {"idempotency_key": key}).to_dict()
        return Customer(customer_id=created["id"])

    def list_payment_methods(self, customer_id: str) -> list[SavedMethod]:
        """The customer's saved cards, the invoice default flagged."""
        v1 = self._v1()
        with _translated_errors():
            customer = v1.customers.retrieve(customer_id).to_dict()
            if customer.get("deleted"):
                return []
            page = v1.customers.payment_methods.list(customer_id, {"type": "card", "limit": 100})
            methods = [method.to_dict() for method in page.auto_paging_iter()]
        default_id = _id_of((customer.get("invoice_settings") or {}).get("default_payment_method"))
        saved = []
        for method in methods:
            card = method.get("card") or {}
            saved.append(
                SavedMethod(
                    method_id=method["id"],
                    brand=card.get("brand") or "",
                    last4=card.get("last4") or "",
                    exp_month=card.get("exp_month"),
                    exp_year=card.get("exp_year"),
                    is_default=bool(default_id) and method["id"] == default_id,
                )
            )
        return saved

    def set_default_payment_method(self, customer_id: str, method_id: str) -> None:
        """Make one of the customer's own cards the default."""
        v1 = self._v1()
        self._check_owned(v1, customer_id=customer_id, method_id=method_id)
        with _translated_errors():
            v1.customers.update(
                customer_id,
                {"invoice_settings": {"default_payment_method": method_id}},
                # A fresh key per call, not one derived from the ids: A -> B -> A within 24 h would
                # otherwise replay the first answer and silently leave B as the default.
                {"idempotency_key": f"customer-default-{uuid.uuid4()}"},
            )

    def detach_payment_method(self, customer_id: str, method_id: str) -> None:
        """Remove one of the customer's own cards. Stripe clears the default if it was this one."""
        v1 = self._v1()
        self._check_owned(v1, customer_id=customer_id, method_id=method_id)
        with _translated_errors():
            v1.payment_methods.detach(
                method_id, None, {"idempotency_key": f"payment-method-detach-{method_id}"}
            )

    # --- helpers ---------------------------------------------------------------------------------

    def _v1(self) -> V1Services:
        if not self.api_key:
            raise GatewayError(
                "Stripe is not configured (STRIPE_SECRET_KEY is empty).", code=GATEWAY_NOT_CONFIGURED
            )
        return self._client.v1

    def _check_owned(self, v1: V1Services, *, customer_id: str, method_id: str) -> None:
        """Refuse a method that is missing or attached to anyone else: one answer for both, so a
        caller cannot probe which ids exist."""
        refused = GatewayError("That payment method does not belong to you.", code=NOT_YOUR_PAYMENT_METHOD)
        if not customer_id or not method_id:
            raise refused
        try:
            method = v1.payment_methods.retrieve(method_id).to_dict()
        except stripe.InvalidRequestError as exc:
            if exc.code == "resource_missing":
                raise refused from exc
            raise _gateway_error(exc) from exc
        except stripe.StripeError as exc:
            raise _gateway_error(exc) from exc
        if _id_of(method.get("customer")) != customer_id:
            raise refused


# --- module helpers ------------------------------------------------------------------------------


def _setting_str(name: str) -> str:
    return str(getattr(settings, name, "") or "").strip()


def _tolerance(explicit: int | None) -> int:
    raw: Any = explicit
    if raw is None:
        raw = getattr(settings, "STRIPE_WEBHOOK_TOLERANCE_SECONDS", None)
    if raw is None or raw == "":
        return DEFAULT_WEBHOOK_TOLERANCE_SECONDS
    try:
        value = int(raw)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"STRIPE_WEBHOOK_TOLERANCE_SECONDS must be an integer, got {raw!r}"
        ) from exc
    if value < 1:
        # The SDK treats 0 as "skip the timestamp check", which would accept replays forever.
        raise ImproperlyConfigured(f"STRIPE_WEBHOOK_TOLERANCE_SECONDS must be at least 1, got {value}")
    return value


def _check_amount(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise GatewayError(
            f"Amount must be a positive integer in minor units, got {amount!r}.", code=GATEWAY_INVALID_REQUEST
        )


@contextmanager
def _translated_errors() -> Iterator[None]:
    try:
        yield
    except stripe.StripeError as exc:
        raise _gateway_error(exc) from exc


def _gateway_error(exc: stripe.StripeError) -> GatewayError:
    """One place that decides what a Stripe failure means to us, and whether retrying may help."""
    message = exc.user_message or str(exc) or type(exc).__name__
    status = exc.http_status
    if isinstance(exc, stripe.CardError):
        return GatewayError(message, code=CARD_DECLINED, retryable=False)
    if isinstance(exc, stripe.IdempotencyError):
        # Same key, different parameters: a bug on our side, retrying cannot fix it.
        return GatewayError(message, code=GATEWAY_IDEMPOTENCY_CONFLICT, retryable=False)
    if isinstance(exc, stripe.RateLimitError):
        return GatewayError(message, code=GATEWAY_RATE_LIMITED, retryable=True)
    if isinstance(exc, stripe.InvalidRequestError):
        return GatewayError(message, code=GATEWAY_INVALID_REQUEST, retryable=False)
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return GatewayError(message, code=GATEWAY_AUTH_FAILED, retryable=False)
    if isinstance(exc, stripe.APIConnectionError):
        return GatewayError(message, code=GATEWAY_UNAVAILABLE, retryable=True)
    if status is None or status >= 500 or status == 409:
        # 409 is Stripe's "another request with this key is in flight": try again shortly.
        return GatewayError(message, code=GATEWAY_UNAVAILABLE, retryable=True)
    return GatewayError(message, code=GATEWAY_ERROR, retryable=False)


def _id_of(value: Any) -> str:
    """An expandable field is either an id or the expanded object."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def _upper(currency: Any) -> str | None:
    return currency.upper() if isinstance(currency, str) and currency else None


def _scrubbed(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop the PaymentIntent's client_secret from anything we hand back as ``raw``: callers may
    store or log it, and it lets whoever holds it confirm the payment."""
    return {key: value for key, value in obj.items() if key != "client_secret"}


def _payment_status(intent: Mapping[str, Any]) -> str:
    status = intent.get("status")
    if status == "succeeded":
        return "succeeded"
    if status == "canceled":
        return "cancelled"
    if status == "requires_payment_method" and intent.get("last_payment_error"):
        # The last attempt was declined. Stripe lets the payer retry on the same PaymentIntent,
        # so a later payment_intent.succeeded can still follow.
        return "failed"
    return "pending"  # requires_payment_method/confirmation/action/capture, processing


def _normalise_event(event: dict[str, Any]) -> GatewayEvent:
    event_id = event.get("id")
    event_type = event.get("type")
    if not event_id or not event_type:
        raise WebhookError("Stripe webhook without an event id or type")
    data = event.get("data") or {}
    obj: dict[str, Any] = data.get("object") or {}
    raw = {**event, "data": {**data, "object": _scrubbed(obj)}}
    common: dict[str, Any] = {"event_id": event_id, "created": event.get("created"), "raw": raw}
    currency = _upper(obj.get("currency"))

    if event_type in _PAYMENT_EVENTS:
        kind = _PAYMENT_EVENTS[event_type]
        received = obj.get("amount_received")
        return GatewayEvent(
            kind=kind,
            reference=obj.get("id") or "",
            provider_payment_id=_id_of(obj.get("latest_charge")),
            amount=received if kind == "payment.succeeded" and received else obj.get("amount"),
            currency=currency,
            **common,
        )

    if event_type in _REFUND_EVENTS:
        kind = _REFUND_EVENT_KIND.get(obj.get("status") or "", "ignored")
        if event_type == "refund.failed":
            kind = "refund.failed"
        return GatewayEvent(
            kind=kind,
            reference=_id_of(obj.get("payment_intent")),
            provider_payment_id=_id_of(obj.get("charge")),
            amount=obj.get("amount"),
            currency=currency,
            refund_id=obj.get("id") or "",
            **common,
        )

    if event_type == "charge.refunded":
        return _charge_refunded(obj, data.get("previous_attributes") or {}, currency, common)

    if event_type in _DISPUTE_EVENTS:
        return GatewayEvent(
            kind=_DISPUTE_EVENTS[event_type],
            reference=_id_of(obj.get("payment_intent")),
            provider_payment_id=_id_of(obj.get("charge")),
            amount=obj.get("amount"),
            currency=currency,
            dispute_id=obj.get("id") or "",
            dispute_status=obj.get("status") or "",
            **common,
        )

    return GatewayEvent(kind="ignored", reference="", **common)


def _charge_refunded(
    charge: dict[str, Any], previous: Mapping[str, Any], currency: str | None, common: dict[str, Any]
) -> GatewayEvent:
    """``charge.refunded`` carries the Charge, not the Refund. Since API 2022-11-15 the charge's
    ``refunds`` list is not included unless expanded, so the refund id may be unknown (""); the
    amount of this refund is the growth of ``amount_refunded`` when Stripe sends the old value."""
    total = charge.get("amount_refunded")
    before = previous.get("amount_refunded")
    amount = total - before if isinstance(total, int) and isinstance(before, int) else total
    refunds = (charge.get("refunds") or {}).get("data") or []
    latest = refunds[0] if refunds else {}  # Stripe lists newest first
    kind = "refund.succeeded"
    if latest:
        kind = _REFUND_EVENT_KIND.get(latest.get("status") or "", "ignored")
        amount = latest.get("amount", amount)
    return GatewayEvent(
        kind=kind,
        reference=_id_of(charge.get("payment_intent")),
        provider_payment_id=charge.get("id") or "",
        amount=amount,
        currency=currency,
        refund_id=latest.get("id") or "",
        **common,
    )
