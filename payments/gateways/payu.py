"""PayU India adapter: hosted checkout (``_payment`` form post), SHA-512 hashes, postservice API.

Hash sequences (docs.payu.in "Generate Hash", "Collect Additional Charges", "API Authentication
and Security"):

* request:  sha512(key|txnid|amount|productinfo|firstname|email|udf1|udf2|udf3|udf4|udf5||||||SALT)
* response: sha512(SALT|status||||||udf5|udf4|udf3|udf2|udf1|email|firstname|productinfo|amount|txnid|key),
  prefixed with ``additionalCharges|`` when PayU posts additional charges
* postservice commands: sha512(key|command|var1|SALT)

Settings (read on every call; constructor arguments win): ``PAYU_MERCHANT_KEY``,
``PAYU_MERCHANT_SALT``, ``PAYU_CHECKOUT_URL`` (default https://test.payu.in/_payment),
``PAYU_API_BASE`` (default https://test.payu.in; postservice is
``{base}/merchant/postservice.php?form=2``), ``PAYU_SUCCESS_URL`` / ``PAYU_FAILURE_URL`` (where
PayU posts the browser back; a ``payer`` dict may override them per payment with ``surl``/``furl``).

PayU supports INR only here; amounts leave and enter as rupee strings with two decimals, converted
from and to integer paise without floats.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

import httpx
from django.conf import settings

from payments.gateways.base import (
    GATEWAY_AUTH_FAILED,
    GATEWAY_IDEMPOTENCY_CONFLICT,
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
)

# GatewayError.code values only this adapter raises (the shared ones are in base).
CURRENCY_NOT_SUPPORTED = "CURRENCY_NOT_SUPPORTED"
PAYER_DETAILS_REQUIRED = "PAYER_DETAILS_REQUIRED"  # PayU needs name, email and phone

DEFAULT_CHECKOUT_URL = "https://test.payu.in/_payment"
DEFAULT_API_BASE = "https://test.payu.in"
POSTSERVICE_PATH = "/merchant/postservice.php?form=2"
DEFAULT_TIMEOUT = 10.0
CURRENCY = "INR"

TXNID_MAX_LEN = 25  # PayU's limit on txnid
REFUND_TOKEN_LEN = 23  # PayU's limit on the refund token (var2)
# PayU's field limits; longer values are cut rather than refused by PayU with an opaque error.
_FIELD_LIMITS = {"productinfo": 100, "firstname": 60, "email": 50, "phone": 50}

_PAYMENT_STATUS = {"success": "succeeded", "failure": "failed", "pending": "pending"}
_EVENT_KINDS = {
    "succeeded": "payment.succeeded",
    "failed": "payment.failed",
    "cancelled": "payment.cancelled",
}
_REFUND_STATUS = {"success": "succeeded", "failure": "failed", "failed": "failed"}
_DUPLICATE_TOKEN = 106  # cancel_refund_transaction: "Token already exists"
_RETRYABLE_REFUND_ERRORS = {120}  # "Transaction lock could not be obtained"
_IST = timezone(timedelta(hours=5, minutes=30))  # PayU's "addedon" is Indian local time
_UNSAFE_CHARS = re.compile(r"[|\r\n\t]")


def sha512_hex(text: str) -> str:
    return hashlib.sha512(text.encode()).hexdigest()


def request_hash(fields: dict[str, str], salt: str) -> str:
    """Hash for the ``_payment`` form post."""
    parts = [fields.get(name, "") for name in ("key", "txnid", "amount", "productinfo", "firstname", "email")]
    udfs = [fields.get(f"udf{i}", "") for i in range(1, 6)]
    return sha512_hex("|".join([*parts, *udfs, "", "", "", "", "", salt]))


def response_hash(fields: dict[str, str], *, key: str, salt: str) -> str:
    """Reverse hash PayU puts on the browser callback and its server-to-server webhook."""
    udfs = [fields.get(f"udf{i}", "") for i in range(5, 0, -1)]
    sequence = "|".join(
        [
            salt,
            fields.get("status", ""),
            "",
            "",
            "",
            "",
            "",
            *udfs,
            *(fields.get(name, "") for name in ("email", "firstname", "productinfo", "amount", "txnid")),
            key,
        ]
    )
    additional = _additional_charges(fields)
    return sha512_hex(f"{additional}|{sequence}" if additional else sequence)


def command_hash(*, key: str, command: str, var1: str, salt: str) -> str:
    return sha512_hex(f"{key}|{command}|{var1}|{salt}")


def _additional_charges(fields: dict[str, str]) -> str:
    # PayU's docs name the field both ways.
    return fields.get("additionalCharges") or fields.get("additional_charges") or ""


def format_amount(minor: int) -> str:
    """Integer paise to PayU's rupee string: 1 -> "0.01", 10000 -> "100.00"."""
    if isinstance(minor, bool) or not isinstance(minor, int) or minor <= 0:
        raise GatewayError(
            f"amount must be a positive integer of paise, got {minor!r}", code=GATEWAY_INVALID_REQUEST
        )
    return f"{minor // 100}.{minor % 100:02d}"


def parse_amount(text: Any) -> int:
    """PayU's rupee string back to integer paise, exactly; refuses fractions of a paisa."""
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {text!r}") from exc
    minor = value * 100
    if not value.is_finite() or value < 0 or minor != minor.to_integral_value():
        raise ValueError(f"not an amount in paise: {text!r}")
    return int(minor)


def txnid_for(payment_id: str) -> str:
    """Our payment id as a PayU txnid (alphanumeric, at most 25 characters).

    A UUID's 32 hex digits do not fit, so it is written in base 36 (25 characters, lossless); short
    alphanumeric ids pass through without dashes. udf1 carries the id verbatim either way."""
    compact = payment_id.replace("-", "")
    try:
        number = uuid.UUID(payment_id).int
    except ValueError:
        if compact and len(compact) <= TXNID_MAX_LEN and compact.isascii() and compact.isalnum():
            return compact
        raise GatewayError(
            f"cannot make a PayU txnid from {payment_id!r}", code=GATEWAY_INVALID_REQUEST
        ) from None
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out.rjust(TXNID_MAX_LEN, "0")


def refund_token_for(idempotency_key: str) -> str:
    """A 23-character token (PayU's limit) that is the same for every retry of one refund."""
    return "r" + hashlib.sha256(idempotency_key.encode()).hexdigest()[: REFUND_TOKEN_LEN - 1]


def _clean(value: str, name: str) -> str:
    # A "|" in a hashed field would shift the hash sequence; PayU refuses such values anyway.
    return _UNSAFE_CHARS.sub(" ", value).strip()[: _FIELD_LIMITS[name]]


def _fields_from(data: dict[str, Any]) -> dict[str, str]:
    """Callback/webhook values as strings; a form library may hand over one-element lists."""
    fields: dict[str, str] = {}
    for name, value in data.items():
        if isinstance(value, list | tuple) and len(value) == 1:
            value = value[0]
        if value is None:
            value = ""
        if not isinstance(value, str | int):
            raise ValueError(f"field {name!r} is not a single value")
        fields[str(name)] = str(value)
    return fields


def _status_of(fields: dict[str, str]) -> str:
    status = _PAYMENT_STATUS.get(fields.get("status", "").lower(), "pending")
    if status == "failed" and fields.get("unmappedstatus", "").lower() == "usercancelled":
        return "cancelled"
    return status


class _BadHash(Exception):
    pass


class PayUGateway(Gateway):
    name = "payu"

    def __init__(
        self,
        *,
        merchant_key: str | None = None,
        merchant_salt: str | None = None,
        checkout_url: str | None = None,
        api_base: str | None = None,
        success_url: str | None = None,
        failure_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._merchant_key = merchant_key
        self._merchant_salt = merchant_salt
        self._checkout_url = checkout_url
        self._api_base = api_base
        self._success_url = success_url
        self._failure_url = failure_url
        self._timeout = timeout

    # --- configuration -------------------------------------------------------------------------

    def _setting(self, explicit: str | None, name: str, default: str = "") -> str:
        return explicit if explicit is not None else (getattr(settings, name, "") or default)

    @property
    def merchant_key(self) -> str:
        return self._setting(self._merchant_key, "PAYU_MERCHANT_KEY")

    @property
    def merchant_salt(self) -> str:
        return self._setting(self._merchant_salt, "PAYU_MERCHANT_SALT")

    @property
    def checkout_url(self) -> str:
        return self._setting(self._checkout_url, "PAYU_CHECKOUT_URL", DEFAULT_CHECKOUT_URL)

    @property
    def api_base(self) -> str:
        return self._setting(self._api_base, "PAYU_API_BASE", DEFAULT_API_BASE).rstrip("/")

    @property
    def postservice_url(self) -> str:
        return self.api_base + POSTSERVICE_PATH

    def _credentials(self) -> tuple[str, str]:
        key, salt = self.merchant_key, self.merchant_salt
        if not key or not salt:
            raise GatewayError("PayU merchant key and salt are not configured", code=GATEWAY_NOT_CONFIGURED)
        return key, salt

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
        """Build the signed form the client posts to PayU's hosted checkout. No API call is made.

        ``payer`` needs ``name``, ``email`` and ``phone`` (PayU requires them); it may also carry
        ``surl``/``furl`` to override ``PAYU_SUCCESS_URL``/``PAYU_FAILURE_URL``."""
        if currency.upper() != CURRENCY:
            raise GatewayError(f"PayU takes INR only, not {currency}", code=CURRENCY_NOT_SUPPORTED)
        key, salt = self._credentials()
        payer = payer or {}
        firstname = _clean(payer.get("name", ""), "firstname")
        email = _clean(payer.get("email", ""), "email")
        phone = _clean(payer.get("phone", ""), "phone")
        if not firstname or not email or not phone:
            raise GatewayError("PayU needs the payer's name, email and phone", code=PAYER_DETAILS_REQUIRED)
        surl = payer.get("surl") or self._setting(self._success_url, "PAYU_SUCCESS_URL")
        furl = payer.get("furl") or self._setting(self._failure_url, "PAYU_FAILURE_URL")
        if not surl or not furl:
            raise GatewayError("PayU success/failure URLs are not configured", code=GATEWAY_NOT_CONFIGURED)

        txnid = txnid_for(payment_id)
        fields = {
            "key": key,
            "txnid": txnid,
            "amount": format_amount(amount),
            "productinfo": _clean(description, "productinfo") or "Payment",
            "firstname": firstname,
            "email": email,
            "phone": phone,
            "surl": surl,
            "furl": furl,
            "udf1": payment_id,
            "udf2": "",
            "udf3": "",
            "udf4": "",
            "udf5": "",
        }
        fields["hash"] = request_hash(fields, salt)
        return Checkout(
            gateway=self.name,
            reference=txnid,
            amount=amount,
            currency=CURRENCY,
            client_data={"action": self.checkout_url, "fields": fields},
        )

    def verify_payment(self, *, reference: str, data: dict[str, Any] | None = None) -> Verification:
        """With ``data`` (the form PayU posted to surl/furl): check the reverse hash. Without: ask
        the postservice ``verify_payment`` command."""
        if data is None:
            return self._fetch_status(reference)
        try:
            fields = _fields_from(data)
        except ValueError as exc:
            raise GatewayError(str(exc), code=INVALID_CALLBACK) from exc
        if not hmac.compare_digest(fields.get("txnid", "").encode(), reference.encode()):
            raise GatewayError("callback is for another transaction", code=REFERENCE_MISMATCH)
        try:
            self._check_response_hash(fields)
        except _BadHash as exc:
            raise GatewayError(str(exc), code=INVALID_SIGNATURE) from exc
        try:
            amount = parse_amount(fields.get("amount", ""))
        except ValueError as exc:
            raise GatewayError(str(exc), code=INVALID_CALLBACK) from exc
        return Verification(
            reference=reference,
            status=_status_of(fields),
            provider_payment_id=fields.get("mihpayid", ""),
            amount=amount,
            currency=CURRENCY,
            raw=fields,
        )

    def _check_response_hash(self, fields: dict[str, str]) -> None:
        key, salt = self._credentials()
        # Our key, not the posted one: a callback signed for another merchant must not pass.
        expected = response_hash(fields, key=key, salt=salt)
        given = fields.get("hash", "").strip().lower()
        if not given:
            raise _BadHash("PayU response has no hash")
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise _BadHash("PayU response hash does not match")

    def _fetch_status(self, txnid: str) -> Verification:
        answer = self._postservice("verify_payment", txnid)
        details = answer.get("transaction_details")
        detail = details.get(txnid) if isinstance(details, dict) else None
        if not isinstance(detail, dict):
            message = f"PayU verify_payment: {answer.get('msg') or 'no details'}"
            raise GatewayError(message, code=GATEWAY_INVALID_REQUEST)
        fields = _fields_from({k: v for k, v in detail.items() if isinstance(v, str | int)})
        if fields.get("status", "").lower() == "not found":
            # Never submitted to PayU (the patient has not reached the payment page yet).
            return Verification(reference=txnid, status="pending", currency=CURRENCY, raw=detail)
        amount_text = fields.get("amt") or fields.get("transaction_amount") or ""
        try:
            amount: int | None = parse_amount(amount_text)
        except ValueError:
            amount = None
        return Verification(
            reference=txnid,
            status=_status_of(fields),
            provider_payment_id=fields.get("mihpayid", ""),
            amount=amount,
            currency=CURRENCY,
            raw=detail,
        )

    def refund(
        self, *, reference: str, provider_payment_id: str, amount: int, currency: str, idempotency_key: str
    ) -> RefundResult:
        """``cancel_refund_transaction`` with a token derived from ``idempotency_key``. PayU refuses
        a second refund with the same token (error 106), so a retry finds the first one instead."""
        if currency.upper() != CURRENCY:
            raise GatewayError(f"PayU takes INR only, not {currency}", code=CURRENCY_NOT_SUPPORTED)
        if not provider_payment_id:
            raise GatewayError("a PayU mihpayid is needed to refund", code=GATEWAY_INVALID_REQUEST)
        rupees = format_amount(amount)
        token = refund_token_for(idempotency_key)
        answer = self._postservice(
            "cancel_refund_transaction", provider_payment_id, {"var2": token, "var3": rupees}
        )
        if str(answer.get("status")) == "1":
            return RefundResult(
                refund_id=str(answer.get("request_id") or answer.get("txn_update_id") or ""),
                status="pending",  # PayU queues refunds; check_action_status reports the outcome
                amount=amount,
                raw=answer,
            )
        error_code = _int_or_none(answer.get("error_code"))
        message = str(answer.get("msg") or "refund refused")
        if error_code == _DUPLICATE_TOKEN or "token already exists" in message.lower():
            existing = self._find_refund(provider_payment_id, token)
            if existing is not None:
                return existing
            message = f"PayU: {message}, and no refund with that token was found"
            raise GatewayError(message, code=GATEWAY_IDEMPOTENCY_CONFLICT)
        if error_code in _RETRYABLE_REFUND_ERRORS:
            raise GatewayError(f"PayU: {message}", code=GATEWAY_UNAVAILABLE, retryable=True)
        raise GatewayError(f"PayU refused the refund: {message}", code=GATEWAY_INVALID_REQUEST)

    def _find_refund(self, mihpayid: str, token: str) -> RefundResult | None:
        answer = self._postservice("check_action_status", mihpayid, {"var2": "payuid"})
        details = answer.get("transaction_details")
        actions = details.get(mihpayid) if isinstance(details, dict) else None
        if not isinstance(actions, dict):
            return None
        for action in actions.values():
            if isinstance(action, dict) and action.get("action") == "refund" and action.get("token") == token:
                try:
                    amount = parse_amount(action.get("amt", ""))
                except ValueError:
                    amount = 0
                return RefundResult(
                    refund_id=str(action.get("request_id") or ""),
                    status=_REFUND_STATUS.get(str(action.get("status") or "").lower(), "pending"),
                    amount=amount,
                    raw=action,
                )
        return None

    def _postservice(self, command: str, var1: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
        key, salt = self._credentials()
        form = {"key": key, "command": command, "var1": var1, **(extra or {})}
        form["hash"] = command_hash(key=key, command=command, var1=var1, salt=salt)
        try:
            with httpx.Client(timeout=self._timeout) as client:
                response = client.post(
                    self.postservice_url, data=form, headers={"Accept": "application/json"}
                )
        except httpx.TransportError as exc:  # connect/read errors and timeouts
            raise GatewayError(f"cannot reach PayU: {exc}", code=GATEWAY_UNAVAILABLE, retryable=True) from exc
        status = response.status_code
        if status == 429:
            raise GatewayError("PayU is rate limiting", code=GATEWAY_RATE_LIMITED, retryable=True)
        if status >= 500:
            raise GatewayError(f"PayU answered HTTP {status}", code=GATEWAY_UNAVAILABLE, retryable=True)
        if status >= 400:
            raise GatewayError(f"PayU answered HTTP {status}", code=GATEWAY_INVALID_REQUEST)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            # PayU serves HTML maintenance pages with 200.
            raise GatewayError(
                "PayU answered something other than a JSON object", code=GATEWAY_UNAVAILABLE, retryable=True
            )
        message = str(answer.get("msg") or "").lower()
        if str(answer.get("status")) == "0" and message.startswith(("invalid hash", "invalid key")):
            raise GatewayError(f"PayU refused our key/salt: {answer.get('msg')}", code=GATEWAY_AUTH_FAILED)
        return answer

    def parse_webhook(self, *, body: bytes, headers: dict[str, str]) -> GatewayEvent:
        """PayU's server-to-server payment webhook: the callback's fields, form-encoded, under the
        same reverse hash. PayU's refund and chargeback webhooks carry no hash, so they cannot be
        told from forgeries and are refused like any unsigned body."""
        fields = self._webhook_fields(body)
        try:
            self._check_response_hash(fields)
        except _BadHash as exc:
            raise WebhookError(str(exc)) from exc
        except GatewayError as exc:  # not configured: refuse rather than accept unverified
            raise WebhookError(str(exc)) from exc
        mihpayid = fields.get("mihpayid", "")
        raw_status = fields.get("status", "")
        if not mihpayid or not raw_status:
            raise WebhookError("PayU webhook lacks mihpayid or status")
        try:
            amount: int | None = parse_amount(fields.get("amount", ""))
        except ValueError:
            amount = None
        return GatewayEvent(
            # PayU sends no event id; a payment reaches each status once.
            event_id=f"{mihpayid}:{raw_status}",
            kind=_EVENT_KINDS.get(_status_of(fields), "ignored"),
            reference=fields.get("txnid", ""),
            provider_payment_id=mihpayid,
            amount=amount,
            currency=CURRENCY,
            created=_epoch_from_addedon(fields.get("addedon", "")),
            raw=fields,
        )

    @staticmethod
    def _webhook_fields(body: bytes) -> dict[str, str]:
        try:
            text = body.decode()
        except UnicodeDecodeError as exc:
            raise WebhookError("webhook body is not UTF-8") from exc
        try:
            if text.lstrip().startswith("{"):
                parsed = json.loads(text)
                if not isinstance(parsed, dict):
                    raise ValueError("not an object")
                return _fields_from(parsed)
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
        except ValueError as exc:
            raise WebhookError(f"unparseable webhook body: {exc}") from exc
        fields = dict(pairs)
        if len(fields) != len(pairs):
            raise WebhookError("webhook body repeats a field")  # which copy was signed is ambiguous
        return fields


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _epoch_from_addedon(text: str) -> int | None:
    try:
        local = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=_IST)
    except ValueError:
        return None
    return int(local.timestamp())
