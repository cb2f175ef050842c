"""Razorpay adapter: Orders API for checkout, HMAC-SHA256 signatures for callbacks and webhooks.

Flow: ``create_payment`` creates an Order; the client opens Razorpay Checkout with ``client_data`` and
relays ``razorpay_order_id``/``razorpay_payment_id``/``razorpay_signature`` back, which
``verify_payment`` checks. ``verify_payment`` without data asks the API instead.

Settings (read on every call, so overrides in tests and at runtime apply): ``RAZORPAY_KEY_ID``,
``RAZORPAY_KEY_SECRET``, ``RAZORPAY_WEBHOOK_SECRET``, ``RAZORPAY_API_BASE`` ("" = the SDK default,
https://api.razorpay.com). Constructor arguments, when given, win over settings.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import razorpay
import razorpay.errors
import requests
from django.conf import settings

from payments.gateways.base import (
    GATEWAY_AUTH_FAILED,
    GATEWAY_INVALID_REQUEST,
    GATEWAY_NOT_CONFIGURED,
    GATEWAY_RATE_LIMITED,
    GATEWAY_UNAVAILABLE,
    INVALID_CALLBACK,
    INVALID_SIGNATURE,
    REFERENCE_MISMATCH,
    Checkout,
    Customer,
    Gateway,
    GatewayError,
    GatewayEvent,
    RefundResult,
    Verification,
    WebhookError,
    header,
)

T = TypeVar("T")


# Razorpay caps an order's receipt at 40 characters; a UUID string is 36.
RECEIPT_MAX_LEN = 40
# Razorpay answers at most 100 items per list call.
LIST_PAGE_SIZE = 100
DEFAULT_TIMEOUT = 10.0

_PAYMENT_STATUS = {"captured": "succeeded", "refunded": "succeeded", "failed": "failed"}
_REFUND_STATUS = {"processed": "succeeded", "failed": "failed", "pending": "pending"}
_DISPUTE_STATUS = {"open": "needs_response"}  # others (under_review, won, lost, closed) pass through
_EVENT_KINDS = {
    "payment.captured": "payment.succeeded",
    "order.paid": "payment.succeeded",
    "payment.failed": "payment.failed",
    "refund.processed": "refund.succeeded",
    "refund.failed": "refund.failed",
    "payment.dispute.created": "dispute.opened",
    "payment.dispute.won": "dispute.closed",
    "payment.dispute.lost": "dispute.closed",
    "payment.dispute.closed": "dispute.closed",
}


class _HTTPStatusError(Exception):
    """Raised from inside the SDK's HTTP call for 401/429/5xx, before the SDK parses the body: the
    SDK maps errors by the JSON ``code`` only, so a 429 or a 401 would look like any final
    BadRequestError and a load balancer's HTML 502 like a JSON decoding failure."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


class _Session(requests.Session):
    """The SDK sends no timeout; a hung connection must not hold a worker forever."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        response = super().request(method, url, *args, **kwargs)
        if response.status_code in (401, 429) or response.status_code >= 500:
            raise _HTTPStatusError(response.status_code)
        return response


def _status_error(status: int) -> GatewayError:
    if status == 401:
        return GatewayError("Razorpay refused the key id/secret", code=GATEWAY_AUTH_FAILED)
    if status == 429:
        return GatewayError("Razorpay is rate limiting", code=GATEWAY_RATE_LIMITED, retryable=True)
    return GatewayError(f"Razorpay answered HTTP {status}", code=GATEWAY_UNAVAILABLE, retryable=True)


def hmac_sha256_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signatures_match(expected: str, given: Any) -> bool:
    """Constant-time comparison that never raises: ``hmac.compare_digest`` refuses non-ASCII str."""
    if not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.strip().encode())


def _notes_dict(notes: Any) -> dict[str, Any]:
    # Razorpay sends "notes": [] when an entity has none.
    return notes if isinstance(notes, dict) else {}


class RazorpayGateway(Gateway):
    name = "razorpay"

    def __init__(
        self,
        *,
        key_id: str | None = None,
        key_secret: str | None = None,
        webhook_secret: str | None = None,
        api_base: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._key_id = key_id
        self._key_secret = key_secret
        self._webhook_secret = webhook_secret
        self._api_base = api_base
        self._timeout = timeout

    # --- configuration -------------------------------------------------------------------------

    @property
    def key_id(self) -> str:
        return self._key_id if self._key_id is not None else getattr(settings, "RAZORPAY_KEY_ID", "")

    @property
    def key_secret(self) -> str:
        if self._key_secret is not None:
            return self._key_secret
        return getattr(settings, "RAZORPAY_KEY_SECRET", "")

    @property
    def webhook_secret(self) -> str:
        if self._webhook_secret is not None:
            return self._webhook_secret
        return getattr(settings, "RAZORPAY_WEBHOOK_SECRET", "")

    @property
    def api_base(self) -> str:
        return self._api_base if self._api_base is not None else getattr(settings, "RAZORPAY_API_BASE", "")

    def _require_keys(self) -> tuple[str, str]:
        key_id, key_secret = self.key_id, self.key_secret
        if not key_id or not key_secret:
            raise GatewayError("Razorpay keys are not configured", code=GATEWAY_NOT_CONFIGURED)
        return key_id, key_secret

    @contextmanager
    def _client(self) -> Iterator[razorpay.Client]:
        session = _Session(self._timeout)
        options: dict[str, Any] = {}
        if self.api_base:
            options["base_url"] = self.api_base.rstrip("/")
        try:
            yield razorpay.Client(session=session, auth=self._require_keys(), **options)
        finally:
            session.close()

    def _call(self, operation: Callable[[razorpay.Client], T]) -> T:
        """Run one SDK call and translate its failures into ``GatewayError``."""
        with self._client() as client:
            try:
                return operation(client)
            except razorpay.errors.BadRequestError as exc:
                # Validation, unknown ids, amounts: the same request will fail again.
                raise GatewayError(str(exc) or "bad request", code=GATEWAY_INVALID_REQUEST) from exc
            except (razorpay.errors.GatewayError, razorpay.errors.ServerError) as exc:
                # GATEWAY_ERROR: the bank/network behind Razorpay failed; both are transient.
                raise GatewayError(
                    str(exc) or "provider error", code=GATEWAY_UNAVAILABLE, retryable=True
                ) from exc
            except _HTTPStatusError as exc:
                raise _status_error(exc.status) from exc
            except (requests.RequestException, ValueError) as exc:
                # Connection refused, timeouts, an unparseable body: a retry may get through.
                message = f"Razorpay unreachable or garbled: {exc}"
                raise GatewayError(message, code=GATEWAY_UNAVAILABLE, retryable=True) from exc

    # --- Gateway -------------------------------------------------------------------------------

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
        """Create a Razorpay Order; the client pays it in Razorpay Checkout."""
        if amount <= 0:
            raise GatewayError("amount must be positive", code=GATEWAY_INVALID_REQUEST)
        currency = currency.upper()
        notes = {"payment_id": payment_id}
        if description:
            notes["description"] = description[:255]  # Razorpay caps each note at 256 characters
        order = self._call(
            lambda client: client.order.create(
                {
                    "amount": amount,
                    "currency": currency,
                    "receipt": payment_id[:RECEIPT_MAX_LEN],
                    "notes": notes,
                }
            )
        )
        order_id = str(order.get("id") or "")
        if not order_id:
            raise GatewayError(
                "Razorpay returned an order without an id", code=GATEWAY_UNAVAILABLE, retryable=True
            )
        return Checkout(
            gateway=self.name,
            reference=order_id,
            amount=amount,
            currency=currency,
            client_data={"key_id": self.key_id, "order_id": order_id, "amount": amount, "currency": currency},
        )

    def verify_payment(self, *, reference: str, data: dict[str, Any] | None = None) -> Verification:
        """With ``data`` (the Checkout handler's three fields): check the signature
        HMAC-SHA256("{order_id}|{payment_id}", key secret). Without: fetch the order's payments."""
        if data is None:
            return self._fetch_order_status(reference)

        order_id = data.get("razorpay_order_id")
        payment_id = data.get("razorpay_payment_id")
        signature = data.get("razorpay_signature")
        if not isinstance(order_id, str) or not isinstance(payment_id, str) or not order_id or not payment_id:
            raise GatewayError(
                "callback is missing razorpay_order_id or razorpay_payment_id", code=INVALID_CALLBACK
            )
        # A valid signature for another order would otherwise mark this payment paid.
        if not hmac.compare_digest(order_id.encode(), reference.encode()):
            raise GatewayError("callback is for another order", code=REFERENCE_MISMATCH)
        _, key_secret = self._require_keys()
        expected = hmac_sha256_hex(key_secret, f"{order_id}|{payment_id}".encode())
        if not signatures_match(expected, signature):
            raise GatewayError("Razorpay signature does not match", code=INVALID_SIGNATURE)
        # A signed callback means Razorpay authorised the payment for this order; orders capture
        # automatically, and the webhook or a later fetch confirms the capture.
        return Verification(
            reference=reference,
            status="succeeded",
            provider_payment_id=payment_id,
            raw={"razorpay_order_id": order_id, "razorpay_payment_id": payment_id},
        )

    def _fetch_order_status(self, order_id: str) -> Verification:
        response = self._call(lambda client: client.order.payments(order_id, {"count": LIST_PAGE_SIZE}))
        payments = [p for p in response.get("items") or [] if isinstance(p, dict)]
        # An order collects many attempts; one captured attempt means the order is paid.
        chosen = next((p for p in payments if _PAYMENT_STATUS.get(p.get("status", "")) == "succeeded"), None)
        if chosen is not None:
            status = "succeeded"
        elif payments and all(p.get("status") == "failed" for p in payments):
            chosen, status = payments[0], "failed"
        else:
            chosen = next((p for p in payments if p.get("status") != "failed"), None)
            status = "pending"
        if chosen is None:
            return Verification(reference=order_id, status=status, raw=response)
        return Verification(
            reference=order_id,
            status=status,
            provider_payment_id=str(chosen.get("id") or ""),
            amount=chosen.get("amount"),
            currency=chosen.get("currency"),
            raw=chosen,
        )

    def refund(
        self, *, reference: str, provider_payment_id: str, amount: int, currency: str, idempotency_key: str
    ) -> RefundResult:
        """Refund ``amount`` minor units of a captured payment.

        Razorpay has no idempotency header, so the key travels in the refund's notes and a retry
        first looks for a refund carrying it. This closes the retry-after-timeout hole; two
        *concurrent* calls with the same key can still both create one, so callers serialise
        refunds per payment (the service holds a row lock)."""
        if amount <= 0:
            raise GatewayError("refund amount must be positive", code=GATEWAY_INVALID_REQUEST)
        if not provider_payment_id:
            raise GatewayError("a Razorpay payment id is needed to refund", code=GATEWAY_INVALID_REQUEST)

        existing = self._call(
            lambda client: client.payment.fetch_multiple_refund(
                provider_payment_id, {"count": LIST_PAGE_SIZE}
            )
        )
        for item in existing.get("items") or []:
            if (
                isinstance(item, dict)
                and _notes_dict(item.get("notes")).get("idempotency_key") == idempotency_key
            ):
                return self._refund_result(item)

        created = self._call(
            lambda client: client.payment.refund(
                provider_payment_id,
                {"amount": amount, "notes": {"idempotency_key": idempotency_key, "order_id": reference}},
            )
        )
        return self._refund_result(created)

    @staticmethod
    def _refund_result(refund: dict[str, Any]) -> RefundResult:
        return RefundResult(
            refund_id=str(refund.get("id") or ""),
            status=_REFUND_STATUS.get(str(refund.get("status") or ""), "pending"),
            amount=int(refund.get("amount") or 0),
            raw=refund,
        )

    def parse_webhook(self, *, body: bytes, headers: dict[str, str]) -> GatewayEvent:
        """Check X-Razorpay-Signature = hex HMAC-SHA256(raw body, webhook secret) and normalise."""
        secret = self.webhook_secret
        if not secret:
            # Refuse rather than accept unsigned events when the secret is missing.
            raise WebhookError("Razorpay webhook secret is not configured")
        signature = header(headers, "X-Razorpay-Signature")
        if not signature:
            raise WebhookError("missing X-Razorpay-Signature")
        if not signatures_match(hmac_sha256_hex(secret, body), signature):
            raise WebhookError("Razorpay webhook signature does not match")
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise WebhookError("webhook body is not JSON") from exc
        if not isinstance(payload, dict):
            raise WebhookError("webhook body is not a JSON object")

        # Retries of one event carry the same X-Razorpay-Event-Id; without it, identical bodies
        # (which include the event's created_at) are the same event.
        event_id = header(headers, "X-Razorpay-Event-Id") or "sha256:" + hashlib.sha256(body).hexdigest()
        event = str(payload.get("event") or "")
        entities = payload.get("payload") if isinstance(payload.get("payload"), dict) else {}

        def entity(name: str) -> dict[str, Any]:
            wrapper = entities.get(name)
            found = wrapper.get("entity") if isinstance(wrapper, dict) else None
            return found if isinstance(found, dict) else {}

        payment, order = entity("payment"), entity("order")
        refund, dispute = entity("refund"), entity("dispute")
        created = payload.get("created_at")
        common: dict[str, Any] = {
            "event_id": event_id,
            "reference": str(payment.get("order_id") or order.get("id") or ""),
            "provider_payment_id": str(
                payment.get("id") or refund.get("payment_id") or dispute.get("payment_id") or ""
            ),
            "created": created if isinstance(created, int) else None,
            "raw": payload,
        }
        kind = _EVENT_KINDS.get(event, "ignored")
        if kind.startswith("refund."):
            return GatewayEvent(
                kind=kind,
                amount=refund.get("amount"),
                currency=refund.get("currency"),
                refund_id=str(refund.get("id") or ""),
                **common,
            )
        if kind.startswith("dispute."):
            status = str(dispute.get("status") or "")
            return GatewayEvent(
                kind=kind,
                amount=dispute.get("amount"),
                currency=dispute.get("currency"),
                dispute_id=str(dispute.get("id") or ""),
                dispute_status=_DISPUTE_STATUS.get(status, status),
                **common,
            )
        source = payment or order
        return GatewayEvent(kind=kind, amount=source.get("amount"), currency=source.get("currency"), **common)
