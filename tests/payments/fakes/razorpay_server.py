"""A loopback stand-in for the Razorpay REST API, for the calls ``RazorpayGateway`` makes.

Answers like the real API (shapes from razorpay.com/docs/api): ``POST /v1/orders``,
``GET /v1/orders/{id}/payments``, ``POST /v1/payments/{id}/refund``, ``GET /v1/payments/{id}/refunds``.
Basic auth must carry the configured key id and secret. Every request is recorded; ``fail_next``
queues error answers (Razorpay's error JSON, or any raw body) for the next requests.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import string
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes import serving

KEY_ID = "rzp_test_fakekey0001"
KEY_SECRET = "fake_key_secret_0001"


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, or the raw text
    auth: tuple[str, str] | None  # decoded basic auth
    status: int  # what the fake answered


@dataclass
class _Failure:
    status: int
    body: bytes
    content_type: str


def _error_body(code: str, description: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "description": description,
            "source": "business" if code == "BAD_REQUEST_ERROR" else "internal",
            "step": "payment_initiation",
            "reason": "input_validation_failed" if code == "BAD_REQUEST_ERROR" else "server_error",
            "metadata": {},
        }
    }


def _new_id(prefix: str) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(14))


@dataclass
class FakeRazorpay:
    key_id: str = KEY_ID
    key_secret: str = KEY_SECRET
    refund_status: str = "processed"  # what new refunds report
    port: int = 0
    requests: list[RecordedRequest] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by payment id
    _failures: list[_Failure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _clock: Iterator[int] = field(default_factory=lambda: itertools.count(1_700_000_000), repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- test controls -----------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        code: str | None = None,
        description: str = "Something went wrong",
        raw: str | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests with ``status``: Razorpay's error JSON (code defaults
        to BAD_REQUEST_ERROR for 4xx, SERVER_ERROR otherwise), or ``raw`` as text/html."""
        if raw is not None:
            failure = _Failure(status, raw.encode(), "text/html")
        else:
            code = code or ("BAD_REQUEST_ERROR" if status < 500 else "SERVER_ERROR")
            failure = _Failure(
                status, json.dumps(_error_body(code, description)).encode(), "application/json"
            )
        with self._lock:
            self._failures.extend([failure] * times)

    def add_payment(
        self, order_id: str, *, status: str = "captured", amount: int | None = None
    ) -> dict[str, Any]:
        """A payment attempt on an order, as Checkout would leave it."""
        order = self.orders[order_id]
        payment = {
            "id": _new_id("pay_"),
            "entity": "payment",
            "amount": order["amount"] if amount is None else amount,
            "currency": order["currency"],
            "status": status,
            "order_id": order_id,
            "method": "card",
            "amount_refunded": 0,
            "refund_status": None,
            "captured": status == "captured",
            "notes": [],
            "error_code": "BAD_REQUEST_ERROR" if status == "failed" else None,
            "created_at": next(self._clock),
        }
        with self._lock:
            self.payments[payment["id"]] = payment
            if status == "captured":
                order["status"] = "paid"
                order["amount_paid"] = payment["amount"]
                order["amount_due"] = 0
            order["attempts"] += 1
        return payment

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    # --- the API -----------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, bytes, str]:
        split = urlsplit(raw_path)
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", errors="replace")
        auth = _basic_auth(headers.get("authorization", ""))
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            status, payload, content_type = failure.status, failure.body, failure.content_type
        elif auth != (self.key_id, self.key_secret):
            status, answer = 401, _error_body("BAD_REQUEST_ERROR", "Authentication failed")
            payload, content_type = json.dumps(answer).encode(), "application/json"
        else:
            status, answer = self._route(method, split.path, body)
            payload, content_type = json.dumps(answer).encode(), "application/json"
        with self._lock:
            self.requests.append(
                RecordedRequest(method, split.path, parse_qs(split.query), headers, body, auth, status)
            )
        return status, payload, content_type

    def _route(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["v1", "orders"]:
            return self._create_order(body)
        if method == "GET" and len(parts) == 4 and parts[:2] == ["v1", "orders"] and parts[3] == "payments":
            return self._order_payments(parts[2])
        if len(parts) == 4 and parts[:2] == ["v1", "payments"]:
            if method == "POST" and parts[3] == "refund":
                return self._refund(parts[2], body)
            if method == "GET" and parts[3] == "refunds":
                return self._list_refunds(parts[2])
        return 404, _error_body("BAD_REQUEST_ERROR", "The requested URL was not found on the server.")

    def _create_order(self, body: Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, dict):
            return 400, _error_body("BAD_REQUEST_ERROR", "The request body is invalid")
        amount, currency = body.get("amount"), body.get("currency")
        if not isinstance(amount, int) or isinstance(amount, bool):
            return 400, _error_body("BAD_REQUEST_ERROR", "The amount must be an integer.")
        if amount < 100:
            return 400, _error_body("BAD_REQUEST_ERROR", "Order amount less than minimum amount allowed")
        if not isinstance(currency, str) or len(currency) != 3:
            return 400, _error_body("BAD_REQUEST_ERROR", "The currency must be 3 characters.")
        receipt = body.get("receipt")
        if receipt is not None and len(str(receipt)) > 40:
            return 400, _error_body("BAD_REQUEST_ERROR", "The receipt may not be greater than 40 characters.")
        order = {
            "id": _new_id("order_"),
            "entity": "order",
            "amount": amount,
            "amount_paid": 0,
            "amount_due": amount,
            "currency": currency,
            "receipt": receipt,
            "offer_id": None,
            "status": "created",
            "attempts": 0,
            "notes": body.get("notes") or [],
            "created_at": next(self._clock),
        }
        with self._lock:
            self.orders[order["id"]] = order
        return 200, order

    def _order_payments(self, order_id: str) -> tuple[int, dict[str, Any]]:
        if order_id not in self.orders:
            return 400, _error_body("BAD_REQUEST_ERROR", "The id provided does not exist")
        with self._lock:
            items = [p for p in self.payments.values() if p["order_id"] == order_id]
        return 200, {"entity": "collection", "count": len(items), "items": items}

    def _refund(self, payment_id: str, body: Any) -> tuple[int, dict[str, Any]]:
        payment = self.payments.get(payment_id)
        if payment is None:
            return 400, _error_body("BAD_REQUEST_ERROR", "The id provided does not exist")
        if payment["status"] not in ("captured", "refunded"):
            return 400, _error_body("BAD_REQUEST_ERROR", "The payment has not been captured")
        body = body if isinstance(body, dict) else {}
        amount = body.get("amount", payment["amount"] - payment["amount_refunded"])
        if not isinstance(amount, int) or amount <= 0:
            return 400, _error_body("BAD_REQUEST_ERROR", "The amount must be an integer.")
        if amount > payment["amount"] - payment["amount_refunded"]:
            return 400, _error_body(
                "BAD_REQUEST_ERROR", "The refund amount provided is greater than amount captured"
            )
        refund = {
            "id": _new_id("rfnd_"),
            "entity": "refund",
            "amount": amount,
            "currency": payment["currency"],
            "payment_id": payment_id,
            "notes": body.get("notes") or [],
            "receipt": body.get("receipt"),
            "acquirer_data": {"arn": None},
            "created_at": next(self._clock),
            "batch_id": None,
            "status": self.refund_status,
            "speed_processed": "normal",
            "speed_requested": "normal",
        }
        with self._lock:
            self.refunds.setdefault(payment_id, []).append(refund)
            payment["amount_refunded"] += amount
            full = payment["amount_refunded"] == payment["amount"]
            payment["refund_status"] = "full" if full else "partial"
            if full:
                payment["status"] = "refunded"
        return 200, refund

    def _list_refunds(self, payment_id: str) -> tuple[int, dict[str, Any]]:
        if payment_id not in self.payments:
            return 400, _error_body("BAD_REQUEST_ERROR", "The id provided does not exist")
        with self._lock:
            items = list(reversed(self.refunds.get(payment_id, [])))  # newest first, like the API
        return 200, {"entity": "collection", "count": len(items), "items": items}


def _basic_auth(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except ValueError:
        return None
    return user, password


def _handler_for(fake: FakeRazorpay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload, content_type = fake.handle(self.command, self.path, headers, raw)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler


@contextmanager
def running_fake_razorpay() -> Iterator[FakeRazorpay]:
    """A started fake Razorpay API, stopped on exit."""
    fake = FakeRazorpay()
    with serving(_handler_for(fake), "fake-razorpay") as port:
        fake.port = port
        yield fake
