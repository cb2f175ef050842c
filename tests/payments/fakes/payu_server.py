"""A loopback stand-in for PayU's postservice API, for the commands ``PayUGateway`` sends.

``POST /merchant/postservice.php?form=2`` with a form body (key, command, var1.., hash), answered
with PayU's JSON shapes (docs.payu.in: Verify Payment API, Refund Transaction API, Check Action
Status with PayU ID): ``verify_payment``, ``cancel_refund_transaction``, ``check_action_status``.
The hash must be sha512(key|command|var1|salt), as PayU checks. Every request is recorded;
``fail_next`` queues HTTP failures for the next requests.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes import serving

MERCHANT_KEY = "fAkEkY"
MERCHANT_SALT = "fakeSaltValue0001"
POSTSERVICE_PATH = "/merchant/postservice.php"


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    form: dict[str, str]  # the decoded form body
    status: int  # what the fake answered


@dataclass
class _Failure:
    status: int
    body: bytes
    content_type: str


@dataclass
class FakePayU:
    key: str = MERCHANT_KEY
    salt: str = MERCHANT_SALT
    port: int = 0
    requests: list[RecordedRequest] = field(default_factory=list)
    transactions: dict[str, dict[str, Any]] = field(default_factory=dict)  # by txnid
    # mihpayid -> request_id -> the action as check_action_status reports it
    refunds: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    _failures: list[_Failure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(403993715521000001), repr=False)
    _request_ids: Iterator[int] = field(default_factory=lambda: itertools.count(131278418), repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- test controls -----------------------------------------------------------------------

    def fail_next(
        self, status: int, *, body: str = "<html>Service Unavailable</html>", times: int = 1
    ) -> None:
        with self._lock:
            self._failures.extend([_Failure(status, body.encode(), "text/html")] * times)

    def add_transaction(
        self,
        txnid: str,
        *,
        amount: str,
        status: str = "success",
        unmappedstatus: str = "captured",
        udf1: str = "",
    ) -> dict[str, Any]:
        """A transaction as PayU keeps it after the hosted checkout."""
        detail = {
            "mihpayid": str(next(self._ids)),
            "request_id": "",
            "bank_ref_num": "721522",
            "amt": amount,
            "transaction_amount": amount,
            "txnid": txnid,
            "additional_charges": "0.00",
            "productinfo": "Consultation",
            "firstname": "Alice",
            "bankcode": "CC",
            "udf1": udf1,
            "udf2": "",
            "udf3": "",
            "udf4": "",
            "udf5": "",
            "field9": "No Error",
            "error_code": "E000",
            "addedon": "2026-01-15 10:20:30",
            "payment_source": "payu",
            "error_Message": "NO ERROR",
            "net_amount_debit": amount,
            "disc": "0.00",
            "mode": "CC",
            "PG_TYPE": "CC-PG",
            "card_no": "512345XXXXXX2346",
            "status": status,
            "unmappedstatus": unmappedstatus,
            "Merchant_UTR": None,
            "Settled_At": "0000-00-00 00:00:00",
        }
        with self._lock:
            self.transactions[txnid] = detail
        return detail

    def requests_for(self, command: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.form.get("command") == command]

    # --- the API -----------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, bytes, str]:
        split = urlsplit(raw_path)
        form = {
            k: v[-1]
            for k, v in parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True).items()
        }
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            status, payload, content_type = failure.status, failure.body, failure.content_type
        elif method != "POST" or split.path != POSTSERVICE_PATH:
            status, payload, content_type = 404, b"<html>Not Found</html>", "text/html"
        else:
            # PayU answers 200 with status 0 for every business error.
            status, content_type = 200, "application/json"
            payload = json.dumps(self._command(form)).encode()
        with self._lock:
            self.requests.append(
                RecordedRequest(method, split.path, parse_qs(split.query), headers, form, status)
            )
        return status, payload, content_type

    def _command(self, form: dict[str, str]) -> dict[str, Any]:
        key, command, var1 = form.get("key", ""), form.get("command", ""), form.get("var1", "")
        if key != self.key:
            return {"status": 0, "msg": "Invalid key"}
        expected = hashlib.sha512(f"{key}|{command}|{var1}|{self.salt}".encode()).hexdigest()
        if form.get("hash", "").lower() != expected:
            return {"status": 0, "msg": "Invalid Hash."}
        if not var1:
            return {"status": 0, "msg": "Parameter missing"}
        if command == "verify_payment":
            return self._verify_payment(var1)
        if command == "cancel_refund_transaction":
            return self._refund(var1, form.get("var2", ""), form.get("var3", ""))
        if command == "check_action_status" and form.get("var2") == "payuid":
            return self._action_status(var1)
        return {"status": 0, "msg": "Invalid command"}

    def _verify_payment(self, var1: str) -> dict[str, Any]:
        txnids = var1.split("|")
        details: dict[str, Any] = {}
        found = 0
        with self._lock:
            for txnid in txnids:
                if txnid in self.transactions:
                    details[txnid] = dict(self.transactions[txnid])
                    found += 1
                else:
                    details[txnid] = {"mihpayid": "Not Found", "status": "Not Found"}
        return {
            "status": 1 if found else 0,
            "msg": f"{found} out of {len(txnids)} Transactions Fetched Successfully",
            "transaction_details": details,
        }

    def _refund(self, mihpayid: str, token: str, amount: str) -> dict[str, Any]:
        with self._lock:
            txn = next((t for t in self.transactions.values() if t["mihpayid"] == mihpayid), None)
            if txn is None or txn["status"] != "success":
                return {"status": 0, "msg": "Transaction Not Found", "error_code": 116, "mihpayid": mihpayid}
            if not token or len(token) > 23:
                return {"status": 0, "msg": "Invalid Token", "error_code": 124, "mihpayid": mihpayid}
            actions = self.refunds.setdefault(mihpayid, {})
            if any(a["token"] == token for a in actions.values()):
                return {"status": 0, "msg": "Token already exists", "error_code": 106, "mihpayid": mihpayid}
            try:
                wanted = Decimal(amount)
            except ArithmeticError:
                wanted = Decimal(-1)
            refunded = sum((Decimal(a["amt"]) for a in actions.values()), Decimal(0))
            if wanted <= 0 or wanted + refunded > Decimal(txn["amt"]):
                return {"status": 0, "msg": "Invalid amount", "error_code": 105, "mihpayid": mihpayid}
            request_id = str(next(self._request_ids))
            actions[request_id] = {
                "mihpayid": mihpayid,
                "bank_ref_num": txn["bank_ref_num"],
                "request_id": request_id,
                "amt": amount,
                "mode": txn["mode"],
                "action": "refund",
                "token": token,
                "status": "queued",
                "bank_arn": None,
                "settlement_id": None,
                "amount_settled": None,
                "UTR_no": None,
                "value_date": None,
                "refund_mode": "Back to Source",
            }
        return {
            "status": 1,
            "msg": "Refund Request Queued",
            "request_id": request_id,
            "bank_ref_num": None,
            "mihpayid": int(mihpayid),
            "error_code": 102,
        }

    def _action_status(self, mihpayid: str) -> dict[str, Any]:
        with self._lock:
            actions = {k: dict(v) for k, v in self.refunds.get(mihpayid, {}).items()}
        if not actions:
            return {
                "status": 0,
                "msg": "0 out of 1 Transactions Fetched Successfully",
                "transaction_details": {mihpayid: "No action status found"},
            }
        return {
            "status": 1,
            "msg": "1 out of 1 Transactions Fetched Successfully",
            "transaction_details": {mihpayid: actions},
        }


def _handler_for(fake: FakePayU) -> type[BaseHTTPRequestHandler]:
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

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler


@contextmanager
def running_fake_payu() -> Iterator[FakePayU]:
    """A started fake PayU postservice, stopped on exit."""
    fake = FakePayU()
    with serving(_handler_for(fake), "fake-payu") as port:
        fake.port = port
        yield fake
