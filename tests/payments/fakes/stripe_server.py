"""A fake Stripe API on loopback, for tests that must not reach the internet.

Covers exactly what ``StripeGateway`` calls: PaymentIntents (create, retrieve), Refunds (create,
retrieve), Customers (create, retrieve, update, list payment methods) and PaymentMethods (retrieve,
detach). It speaks Stripe's wire format: form-encoded POST bodies with bracket notation
(``metadata[payment_id]=...``), ``Bearer`` auth with the secret key, JSON objects with ``"object"``,
list objects, ``{"error": {...}}`` envelopes, and idempotency replay with ``Idempotent-Replayed``.

Only successful POSTs are stored for replay. Injected faults (``inject_error``) are answered before
the idempotency layer, like Stripe's rate limiter and load balancers, so a retry with the same key
runs for real.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes import serving

DEFAULT_API_KEY = "sk_test_fake_stripe_secret"


@dataclass
class StripeRequest:
    method: str
    path: str  # without the query string
    query: dict[str, str]  # flat, as sent: {"type": "card", "limit": "100"}
    form: dict[str, str]  # flat POST body, as sent: {"metadata[payment_id]": "..."}
    params: dict[str, Any]  # query + form unfolded: {"metadata": {"payment_id": "..."}}
    headers: dict[str, str]  # names lower-cased
    status: int = 0  # what the fake answered
    replayed: bool = False  # answered from the idempotency store

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


@dataclass
class _Fault:
    method: str | None
    path: str
    status: int
    body: dict[str, Any]
    remaining: int | None  # None: every time
    should_retry: bool | None


@dataclass
class _Stored:
    method: str
    path: str
    form: dict[str, str]
    status: int
    body: dict[str, Any]


class StripeApiError(Exception):
    """Raised by a route to answer with Stripe's error envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str = "",
        param: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        error: dict[str, Any] = {"type": type, "message": message}
        if code:
            error["code"] = code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param:
            error["param"] = param
        self.body = {"error": error}


def _missing(kind: str, object_id: str, param: str) -> StripeApiError:
    return StripeApiError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def unfold(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracket notation to nested dicts: ``a[b][c]=1`` -> ``{"a": {"b": {"c": "1"}}}``.
    Arrays (``expand[0]=x``) become dicts keyed by index; values stay strings, as on the wire."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key) or [key]
        node = root
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return root


class FakeStripe:
    """In-memory Stripe account. Tests read ``requests`` and drive state with the helpers."""

    def __init__(self, api_key: str = DEFAULT_API_KEY) -> None:
        self.api_key = api_key
        self.port = 0
        self.requests: list[StripeRequest] = []
        self.payment_intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.payment_methods: dict[str, dict[str, Any]] = {}
        # Status given to refunds created from now on ("succeeded", "pending", "failed").
        self.refund_status = "succeeded"
        self._idempotency: dict[tuple[str, str], _Stored] = {}
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()
        self._clock = 1_700_000_000

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- what tests read -------------------------------------------------------------------------

    def requests_to(self, method: str, path: str) -> list[StripeRequest]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def last_request(self) -> StripeRequest:
        with self._lock:
            return self.requests[-1]

    # --- test helpers that drive state -----------------------------------------------------------

    def succeed_payment_intent(self, intent_id: str, *, payment_method: str | None = None) -> dict[str, Any]:
        """As if Stripe.js confirmed it and the card was charged."""
        with self._lock:
            intent = self.payment_intents[intent_id]
            charge_id = _new_id("ch")
            intent.update(
                status="succeeded",
                amount_received=intent["amount"],
                latest_charge=charge_id,
                last_payment_error=None,
                payment_method=payment_method or _new_id("pm"),
            )
            intent["_amount_refunded"] = 0
            return _public(intent)

    def fail_payment_intent(
        self,
        intent_id: str,
        *,
        code: str = "card_declined",
        decline_code: str = "generic_decline",
        message: str = "Your card was declined.",
    ) -> dict[str, Any]:
        """As if the payer's last attempt was declined: Stripe puts the PaymentIntent back to
        ``requires_payment_method`` with ``last_payment_error`` set."""
        with self._lock:
            intent = self.payment_intents[intent_id]
            intent.update(
                status="requires_payment_method",
                latest_charge=_new_id("ch"),
                last_payment_error={
                    "type": "card_error",
                    "code": code,
                    "decline_code": decline_code,
                    "message": message,
                    "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
                },
            )
            return _public(intent)

    def set_payment_intent_status(self, intent_id: str, status: str) -> dict[str, Any]:
        with self._lock:
            intent = self.payment_intents[intent_id]
            intent["status"] = status
            if status == "canceled":
                intent.update(canceled_at=self._now(), cancellation_reason="requested_by_customer")
            return _public(intent)

    def add_customer(self, *, name: str = "", phone: str = "", metadata: dict[str, str] | None = None) -> str:
        with self._lock:
            customer = _customer(_new_id("cus"), self._now(), name, phone, metadata or {})
            self.customers[customer["id"]] = customer
            return customer["id"]

    def delete_customer(self, customer_id: str) -> None:
        """As if deleted in the Dashboard: retrieve answers ``{"deleted": true}``."""
        with self._lock:
            self.customers[customer_id] = {"id": customer_id, "object": "customer", "deleted": True}

    def add_payment_method(
        self,
        customer_id: str | None,
        *,
        brand: str = "visa",
        last4: str = "4242",
        exp_month: int = 12,
        exp_year: int = 2034,
    ) -> str:
        """A card PaymentMethod, attached to ``customer_id`` (or to nobody)."""
        with self._lock:
            method_id = _new_id("pm")
            self.payment_methods[method_id] = {
                "id": method_id,
                "object": "payment_method",
                "allow_redisplay": "unspecified",
                "billing_details": {"address": None, "email": None, "name": None, "phone": None},
                "card": {
                    "brand": brand,
                    "checks": {"address_line1_check": None, "cvc_check": "pass"},
                    "country": "US",
                    "exp_month": exp_month,
                    "exp_year": exp_year,
                    "fingerprint": uuid.uuid4().hex[:16],
                    "funding": "credit",
                    "last4": last4,
                    "networks": {"available": [brand], "preferred": None},
                    "wallet": None,
                },
                "created": self._now(),
                "customer": customer_id,
                "livemode": False,
                "metadata": {},
                "type": "card",
            }
            return method_id

    def inject_error(
        self,
        path: str,
        *,
        status: int,
        error_type: str,
        code: str = "",
        message: str = "Injected failure.",
        method: str | None = None,
        times: int | None = 1,
        decline_code: str = "",
        should_retry: bool | None = None,
    ) -> None:
        """Answer the next ``times`` requests to ``path`` (any method unless given) with a Stripe
        error, e.g. ``status=402, error_type="card_error", code="card_declined"``."""
        error = StripeApiError(status, message, type=error_type, code=code)
        if decline_code:
            error.body["error"]["decline_code"] = decline_code
        with self._lock:
            self._faults.append(_Fault(method, path, status, error.body, times, should_retry))

    # --- request handling ------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        split = urlsplit(raw_path)
        query_pairs = parse_qsl(split.query, keep_blank_values=True)
        form_pairs = parse_qsl(raw_body.decode("utf-8"), keep_blank_values=True) if raw_body else []
        request = StripeRequest(
            method=method,
            path=split.path,
            query=dict(query_pairs),
            form=dict(form_pairs),
            params=unfold(query_pairs + form_pairs),
            headers=headers,
        )
        extra: dict[str, str] = {"Request-Id": _new_id("req")}
        with self._lock:
            self.requests.append(request)
            status, body = self._respond(request, extra)
            request.status = status
        return status, body, extra

    def _respond(self, request: StripeRequest, extra: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if request.authorization != f"Bearer {self.api_key}":
            shown = (request.authorization or "").removeprefix("Bearer ")[:8]
            return 401, StripeApiError(401, f"Invalid API Key provided: {shown}****").body
        fault = self._take_fault(request)
        if fault is not None:
            if fault.should_retry is not None:
                extra["Stripe-Should-Retry"] = "true" if fault.should_retry else "false"
            return fault.status, fault.body

        store_key = None
        if request.method == "POST" and request.idempotency_key:
            store_key = (request.authorization or "", request.idempotency_key)
            stored = self._idempotency.get(store_key)
            if stored is not None:
                if (stored.method, stored.path, stored.form) != (request.method, request.path, request.form):
                    return 400, StripeApiError(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters they were "
                        f"first used with. Try using a key other than '{request.idempotency_key}' if you "
                        "meant to execute a different request.",
                        type="idempotency_error",
                    ).body
                request.replayed = True
                extra["Idempotent-Replayed"] = "true"
                return stored.status, stored.body

        try:
            status, body = 200, self._route(request)
        except StripeApiError as exc:
            status, body = exc.status, exc.body
        if store_key is not None and status == 200:
            self._idempotency[store_key] = _Stored(request.method, request.path, request.form, status, body)
        return status, body

    def _take_fault(self, request: StripeRequest) -> _Fault | None:
        for fault in self._faults:
            if fault.path != request.path or fault.method not in (None, request.method):
                continue
            if fault.remaining is not None:
                if fault.remaining <= 0:
                    continue
                fault.remaining -= 1
            return fault
        return None

    def _route(self, request: StripeRequest) -> dict[str, Any]:
        for method, pattern, handler in self._routes():
            match = re.fullmatch(pattern, request.path)
            if method == request.method and match:
                return handler(request.params, *match.groups())
        raise StripeApiError(
            404,
            f"Unrecognized request URL ({request.method}: {request.path}). "
            "Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
        )

    def _routes(self) -> list[tuple[str, str, Callable[..., dict[str, Any]]]]:
        return [
            ("POST", r"/v1/payment_intents", self._create_payment_intent),
            ("GET", r"/v1/payment_intents/([^/]+)", self._retrieve_payment_intent),
            ("POST", r"/v1/refunds", self._create_refund),
            ("GET", r"/v1/refunds/([^/]+)", self._retrieve_refund),
            ("POST", r"/v1/customers", self._create_customer),
            ("GET", r"/v1/customers/([^/]+)", self._retrieve_customer),
            ("POST", r"/v1/customers/([^/]+)", self._update_customer),
            ("GET", r"/v1/customers/([^/]+)/payment_methods", self._list_customer_payment_methods),
            ("GET", r"/v1/payment_methods/([^/]+)", self._retrieve_payment_method),
            ("POST", r"/v1/payment_methods/([^/]+)/detach", self._detach_payment_method),
        ]

    # --- routes ----------------------------------------------------------------------------------

    def _create_payment_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        amount = _positive_int(params, "amount")
        currency = params.get("currency")
        if not currency:
            raise StripeApiError(
                400, "Missing required param: currency.", code="parameter_missing", param="currency"
            )
        customer = params.get("customer")
        if customer and not self._live_customer(customer):
            raise StripeApiError(
                400, f"No such customer: '{customer}'", code="resource_missing", param="customer"
            )
        intent_id = _new_id("pi")
        automatic = params.get("automatic_payment_methods") or {}
        intent: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": 0,
            "application": None,
            "application_fee_amount": None,
            "automatic_payment_methods": (
                {"allow_redirects": "always", "enabled": True} if automatic.get("enabled") == "true" else None
            ),
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic_async",
            "client_secret": f"{intent_id}_secret_{uuid.uuid4().hex[:24]}",
            "confirmation_method": "automatic",
            "created": self._now(),
            "currency": currency.lower(),
            "customer": customer or None,
            "description": params.get("description") or None,
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": params.get("metadata") or {},
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": None,
            "payment_method_options": {},
            "payment_method_types": ["card"],
            "processing": None,
            "receipt_email": None,
            "setup_future_usage": None,
            "shipping": None,
            "statement_descriptor": None,
            "status": "requires_payment_method",
            "transfer_data": None,
        }
        self.payment_intents[intent_id] = intent
        return _public(intent)

    def _retrieve_payment_intent(self, params: dict[str, Any], intent_id: str) -> dict[str, Any]:
        intent = self.payment_intents.get(intent_id)
        if intent is None:
            raise _missing("payment_intent", intent_id, "intent")
        return _public(intent)

    def _create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        intent_id = params.get("payment_intent")
        if not intent_id:
            raise StripeApiError(
                400,
                "One of the following params should be provided for this request: payment_intent or charge.",
            )
        intent = self.payment_intents.get(intent_id)
        if intent is None:
            raise StripeApiError(
                400, f"No such payment_intent: '{intent_id}'", code="resource_missing", param="payment_intent"
            )
        if intent["status"] != "succeeded":
            raise StripeApiError(
                400,
                f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        unrefunded = intent["amount_received"] - intent["_amount_refunded"]
        amount = _positive_int(params, "amount") if "amount" in params else unrefunded
        if amount > unrefunded:
            raise StripeApiError(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({unrefunded})",
                param="amount",
            )
        intent["_amount_refunded"] += amount
        refund_id = _new_id("re")
        refund = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "balance_transaction": _new_id("txn"),
            "charge": intent["latest_charge"],
            "created": self._now(),
            "currency": intent["currency"],
            "destination_details": {"card": {"type": "refund"}, "type": "card"},
            "metadata": params.get("metadata") or {},
            "payment_intent": intent_id,
            "reason": params.get("reason"),
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": self.refund_status,
            "transfer_reversal": None,
        }
        self.refunds[refund_id] = refund
        return refund

    def _retrieve_refund(self, params: dict[str, Any], refund_id: str) -> dict[str, Any]:
        if refund_id not in self.refunds:
            raise _missing("refund", refund_id, "refund")
        return self.refunds[refund_id]

    def _create_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = _customer(
            _new_id("cus"),
            self._now(),
            params.get("name") or "",
            params.get("phone") or "",
            params.get("metadata") or {},
        )
        self.customers[customer["id"]] = customer
        return customer

    def _retrieve_customer(self, params: dict[str, Any], customer_id: str) -> dict[str, Any]:
        if customer_id not in self.customers:
            raise _missing("customer", customer_id, "id")
        return self.customers[customer_id]

    def _update_customer(self, params: dict[str, Any], customer_id: str) -> dict[str, Any]:
        customer = self._live_customer(customer_id)
        if customer is None:
            raise _missing("customer", customer_id, "id")
        settings = params.get("invoice_settings") or {}
        if "default_payment_method" in settings:
            method_id = settings["default_payment_method"]
            method = self.payment_methods.get(method_id)
            if method_id and (method is None or method["customer"] != customer_id):
                raise StripeApiError(
                    400,
                    f"The customer does not have a payment method with the ID {method_id}. The payment "
                    "method must be attached to the customer.",
                    code="resource_missing",
                    param="invoice_settings[default_payment_method]",
                )
            customer["invoice_settings"]["default_payment_method"] = method_id or None
        for key in ("name", "phone", "email", "description"):
            if key in params:
                customer[key] = params[key] or None
        if "metadata" in params:
            customer["metadata"].update(params["metadata"])
        return customer

    def _list_customer_payment_methods(self, params: dict[str, Any], customer_id: str) -> dict[str, Any]:
        if self._live_customer(customer_id) is None:
            raise _missing("customer", customer_id, "customer")
        kind = params.get("type")
        methods = [
            m
            for m in self.payment_methods.values()
            if m["customer"] == customer_id and (not kind or m["type"] == kind)
        ]
        methods.sort(key=lambda m: m["created"], reverse=True)  # newest first, like Stripe
        if params.get("starting_after"):
            ids = [m["id"] for m in methods]
            methods = methods[ids.index(params["starting_after"]) + 1 :]
        limit = int(params.get("limit") or 10)
        return {
            "object": "list",
            "data": methods[:limit],
            "has_more": len(methods) > limit,
            "url": f"/v1/customers/{customer_id}/payment_methods",
        }

    def _retrieve_payment_method(self, params: dict[str, Any], method_id: str) -> dict[str, Any]:
        if method_id not in self.payment_methods:
            raise _missing("payment_method", method_id, "payment_method")
        return self.payment_methods[method_id]

    def _detach_payment_method(self, params: dict[str, Any], method_id: str) -> dict[str, Any]:
        method = self.payment_methods.get(method_id)
        if method is None:
            raise _missing("payment_method", method_id, "payment_method")
        customer_id = method["customer"]
        if customer_id is None:
            raise StripeApiError(
                400,
                "The payment method you provided is not attached to a customer so detachment is impossible.",
                code="payment_method_unexpected_state",
            )
        customer = self._live_customer(customer_id)
        if customer and customer["invoice_settings"]["default_payment_method"] == method_id:
            customer["invoice_settings"]["default_payment_method"] = None
        method["customer"] = None
        return method

    # --- internals -------------------------------------------------------------------------------

    def _live_customer(self, customer_id: str) -> dict[str, Any] | None:
        customer = self.customers.get(customer_id)
        return None if customer is None or customer.get("deleted") else customer

    def _now(self) -> int:
        # Strictly increasing, so "newest first" ordering is deterministic.
        self._clock += 1
        return self._clock


def _public(intent: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in intent.items() if not k.startswith("_")}


def _positive_int(params: dict[str, Any], name: str) -> int:
    raw = params.get(name)
    if raw is None:
        raise StripeApiError(400, f"Missing required param: {name}.", code="parameter_missing", param=name)
    try:
        value = int(raw)
    except ValueError:
        raise StripeApiError(
            400, f"Invalid integer: {raw}", code="parameter_invalid_integer", param=name
        ) from None
    if value < 1:
        raise StripeApiError(
            400,
            "This value must be greater than or equal to 1.",
            code="parameter_invalid_integer",
            param=name,
        )
    return value


def _customer(
    customer_id: str, created: int, name: str, phone: str, metadata: dict[str, str]
) -> dict[str, Any]:
    return {
        "id": customer_id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": created,
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": None,
        "email": None,
        "invoice_prefix": uuid.uuid4().hex[:8].upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": dict(metadata),
        "name": name or None,
        "phone": phone or None,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
    }


def _handler_for(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, body, extra = fake.handle(self.command, self.path, headers, raw)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler


@contextmanager
def running_fake_stripe(api_key: str = DEFAULT_API_KEY) -> Iterator[FakeStripe]:
    """A started fake Stripe API on 127.0.0.1 (a free port), stopped on exit."""
    fake = FakeStripe(api_key=api_key)
    with serving(_handler_for(fake), "fake-stripe") as port:
        fake.port = port
        yield fake
