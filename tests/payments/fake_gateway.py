"""An in-memory ``Gateway`` for the payments core tests: records every call, answers like a
provider, and fails on demand (``fail_next(...)``), including retryable failures."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from payments.gateways.base import (
    Checkout,
    Customer,
    Gateway,
    GatewayError,
    GatewayEvent,
    RefundResult,
    Verification,
    WebhookError,
)


@dataclass
class Call:
    method: str
    kwargs: dict[str, Any]


@dataclass
class FakeGateway(Gateway):
    name: str = "stripe"
    calls: list[Call] = field(default_factory=list)
    # method name → errors to raise, one per call, before answering normally again
    failures: dict[str, list[Exception]] = field(default_factory=dict)
    # what verify_payment answers, by reference (default "pending")
    verifications: dict[str, Verification] = field(default_factory=dict)
    # what refund answers: "succeeded" | "pending" | "failed"
    refund_status: str = "succeeded"
    # provider refunds by idempotency key: the same key gets the same refund back
    refunds: dict[str, RefundResult] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, method: str, *errors: Exception) -> None:
        self.failures.setdefault(method, []).extend(errors)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def _record(self, method: str, **kwargs: Any) -> None:
        with self._lock:
            self.calls.append(Call(method, kwargs))
            pending = self.failures.get(method)
            error = pending.pop(0) if pending else None
        if error is not None:
            raise error

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            return f"{prefix}_{self.name}_{next(self._ids)}"

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
        self._record(
            "create_payment",
            amount=amount,
            currency=currency,
            payment_id=payment_id,
            customer=customer,
            description=description,
            payer=payer,
        )
        reference = self._next_id("pay")
        return Checkout(
            gateway=self.name,
            reference=reference,
            amount=amount,
            currency=currency,
            client_data={"client_secret": f"{reference}_secret"},
        )

    def verify_payment(self, *, reference: str, data: dict[str, Any] | None = None) -> Verification:
        self._record("verify_payment", reference=reference, data=data)
        return self.verifications.get(reference, Verification(reference=reference, status="pending"))

    def refund(
        self, *, reference: str, provider_payment_id: str, amount: int, currency: str, idempotency_key: str
    ) -> RefundResult:
        self._record(
            "refund",
            reference=reference,
            provider_payment_id=provider_payment_id,
            amount=amount,
            currency=currency,
            idempotency_key=idempotency_key,
        )
        with self._lock:
            if idempotency_key not in self.refunds:
                self.refunds[idempotency_key] = RefundResult(
                    refund_id=f"re_{self.name}_{len(self.refunds) + 1}",
                    status=self.refund_status,
                    amount=amount,
                )
            return self.refunds[idempotency_key]

    def parse_webhook(self, *, body: bytes, headers: dict[str, str]) -> GatewayEvent:
        self._record("parse_webhook", body=body, headers=headers)
        raise WebhookError("the fake gateway does not parse webhooks; build GatewayEvent directly")


def retryable(message: str = "provider timed out") -> GatewayError:
    return GatewayError(message, code="TIMEOUT", retryable=True)


def fatal(message: str = "card declined refunds") -> GatewayError:
    return GatewayError(message, code="REFUSED", retryable=False)
