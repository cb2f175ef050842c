from __future__ import annotations

import hashlib
import json
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from payments.gateways.base import GatewayError, WebhookError
from payments.gateways.payu import PayUGateway, request_hash
from tests.payments.fakes.payu_server import MERCHANT_KEY, MERCHANT_SALT, FakePayU, running_fake_payu

PAYMENT_ID = "6f1c1b9e-9a52-4c8e-9a53-0b1e6d2f4a10"
PAYER = {"name": "Alice", "email": "alice@example.com", "phone": "9876543210"}
SURL = "https://app.example.com/payments/payu/return"
FURL = "https://app.example.com/payments/payu/failed"


# Written out here from PayU's docs, independently of the gateway, so a wrong sequence cannot hide.
def sha512(text: str) -> str:
    return hashlib.sha512(text.encode()).hexdigest()


def payu_request_hash(f: dict[str, str], salt: str) -> str:
    return sha512(
        f"{f['key']}|{f['txnid']}|{f['amount']}|{f['productinfo']}|{f['firstname']}|{f['email']}|"
        f"{f['udf1']}|{f['udf2']}|{f['udf3']}|{f['udf4']}|{f['udf5']}||||||{salt}"
    )


def payu_response_hash(f: dict[str, str], salt: str, *, additional_charges: str = "") -> str:
    sequence = (
        f"{salt}|{f['status']}||||||{f['udf5']}|{f['udf4']}|{f['udf3']}|{f['udf2']}|{f['udf1']}|"
        f"{f['email']}|{f['firstname']}|{f['productinfo']}|{f['amount']}|{f['txnid']}|{f['key']}"
    )
    return sha512(f"{additional_charges}|{sequence}" if additional_charges else sequence)


def payu_command_hash(command: str, var1: str) -> str:
    return sha512(f"{MERCHANT_KEY}|{command}|{var1}|{MERCHANT_SALT}")


@pytest.fixture
def fake_payu() -> Iterator[FakePayU]:
    with running_fake_payu() as fake:
        yield fake


@pytest.fixture
def gateway(fake_payu: FakePayU) -> PayUGateway:
    return PayUGateway(
        merchant_key=MERCHANT_KEY,
        merchant_salt=MERCHANT_SALT,
        api_base=fake_payu.url,
        success_url=SURL,
        failure_url=FURL,
        timeout=5,
    )


@pytest.fixture
def checkout_fields(gateway: PayUGateway) -> dict[str, str]:
    checkout = gateway.create_payment(
        amount=49_900, currency="INR", payment_id=PAYMENT_ID, description="Consultation", payer=PAYER
    )
    return checkout.client_data["fields"]


def payu_callback(
    fields: dict[str, str],
    *,
    status: str = "success",
    unmappedstatus: str = "captured",
    mihpayid: str = "403993715521000001",
    salt: str = MERCHANT_SALT,
    additional_charges: str = "",
) -> dict[str, str]:
    """The form PayU posts back to surl/furl (and to the webhook URL) for these checkout fields."""
    posted = {
        "mihpayid": mihpayid,
        "mode": "CC",
        "status": status,
        "unmappedstatus": unmappedstatus,
        "key": fields["key"],
        "txnid": fields["txnid"],
        "amount": fields["amount"],
        "addedon": "2026-01-15 10:20:30",
        "productinfo": fields["productinfo"],
        "firstname": fields["firstname"],
        "email": fields["email"],
        "phone": fields["phone"],
        **{f"udf{i}": fields.get(f"udf{i}", "") for i in range(1, 11)},
        "field9": "Transaction Completed Successfully",
        "PG_TYPE": "CC-PG",
        "bank_ref_num": "018323012116",
        "error": "E000",
        "error_Message": "No Error",
    }
    if additional_charges:
        posted["additionalCharges"] = additional_charges
    posted["hash"] = payu_response_hash(posted, salt, additional_charges=additional_charges)
    return posted


# --- hashes --------------------------------------------------------------------------------------


def test_request_hash_matches_payus_published_example():
    # docs: key=C0Dr8m, txnid=12345, amount=10, productinfo=Shopping, firstname=Test,
    # email=test@test.com, udf2=abc, udf4=15, SALT=3sf0jURk
    fields = {
        "key": "C0Dr8m",
        "txnid": "12345",
        "amount": "10",
        "productinfo": "Shopping",
        "firstname": "Test",
        "email": "test@test.com",
        "udf1": "",
        "udf2": "abc",
        "udf3": "",
        "udf4": "15",
        "udf5": "",
    }
    published = (
        "ffcdbf04fa5beefdcc2dd476c18bc410f02b3968e7f4f54e8f43f1e1a310bb32e3b4dec9305232bb89db5b1d0c00"
        "9a53bcace6f4bd8ec2f695baf3d43ba730ce"
    )

    assert request_hash(fields, "3sf0jURk") == published
    assert payu_request_hash(fields, "3sf0jURk") == published


# --- create_payment ------------------------------------------------------------------------------


def test_create_payment_builds_the_signed_form(gateway, fake_payu):
    checkout = gateway.create_payment(
        amount=49_900, currency="INR", payment_id=PAYMENT_ID, description="Consultation", payer=PAYER
    )

    fields = checkout.client_data["fields"]
    assert checkout.client_data["action"] == "https://test.payu.in/_payment"
    assert (checkout.gateway, checkout.reference, checkout.amount, checkout.currency) == (
        "payu",
        fields["txnid"],
        49_900,
        "INR",
    )
    assert fields == {
        "key": MERCHANT_KEY,
        "txnid": fields["txnid"],
        "amount": "499.00",
        "productinfo": "Consultation",
        "firstname": "Alice",
        "email": "alice@example.com",
        "phone": "9876543210",
        "surl": SURL,
        "furl": FURL,
        "udf1": PAYMENT_ID,
        "udf2": "",
        "udf3": "",
        "udf4": "",
        "udf5": "",
        "hash": payu_request_hash(fields, MERCHANT_SALT),
    }
    assert fake_payu.requests == []  # the browser posts the form; no API call


@pytest.mark.parametrize(
    ("minor", "rupees"),
    [
        (1, "0.01"),
        (10, "0.10"),
        (99, "0.99"),
        (100, "1.00"),
        (10_000, "100.00"),
        (12_345, "123.45"),
        (100_000_000_07, "100000000.07"),
        (2**63 + 1, "92233720368547758.09"),  # beyond float precision
    ],
)
def test_amount_is_sent_as_exact_rupees(gateway, minor, rupees):
    checkout = gateway.create_payment(amount=minor, currency="INR", payment_id=PAYMENT_ID, payer=PAYER)

    fields = checkout.client_data["fields"]
    assert fields["amount"] == rupees
    assert fields["hash"] == payu_request_hash(fields, MERCHANT_SALT)


@pytest.mark.parametrize("amount", [0, -100, True])
def test_non_positive_or_non_integer_amount_is_refused(gateway, amount):
    with pytest.raises(GatewayError) as excinfo:
        gateway.create_payment(amount=amount, currency="INR", payment_id=PAYMENT_ID, payer=PAYER)

    assert excinfo.value.code == "GATEWAY_INVALID_REQUEST"


@pytest.mark.parametrize("currency", ["USD", "EUR", ""])
def test_other_currencies_are_refused(gateway, currency):
    with pytest.raises(GatewayError) as excinfo:
        gateway.create_payment(amount=10_000, currency=currency, payment_id=PAYMENT_ID, payer=PAYER)

    assert (excinfo.value.code, excinfo.value.retryable) == ("CURRENCY_NOT_SUPPORTED", False)


def test_lower_case_inr_is_accepted(gateway):
    checkout = gateway.create_payment(amount=10_000, currency="inr", payment_id=PAYMENT_ID, payer=PAYER)

    assert checkout.currency == "INR"


def test_txnid_is_a_lossless_25_character_form_of_the_uuid(gateway):
    other_id = str(uuid.uuid4())

    txnid = gateway.create_payment(amount=100, currency="INR", payment_id=PAYMENT_ID, payer=PAYER).reference
    other = gateway.create_payment(amount=100, currency="INR", payment_id=other_id, payer=PAYER).reference

    assert len(txnid) == 25
    assert txnid.isalnum()
    assert int(txnid, 36) == uuid.UUID(PAYMENT_ID).int
    assert other != txnid


def test_short_payment_ids_are_used_without_dashes(gateway):
    checkout = gateway.create_payment(amount=100, currency="INR", payment_id="pay-123-abc", payer=PAYER)

    assert checkout.reference == "pay123abc"


def test_payment_id_that_cannot_become_a_txnid_is_refused(gateway):
    with pytest.raises(GatewayError) as excinfo:
        gateway.create_payment(amount=100, currency="INR", payment_id="x" * 30, payer=PAYER)

    assert excinfo.value.code == "GATEWAY_INVALID_REQUEST"


@pytest.mark.parametrize("missing", ["name", "email", "phone"])
def test_payer_details_are_required(gateway, missing):
    payer = {k: v for k, v in PAYER.items() if k != missing}

    with pytest.raises(GatewayError) as excinfo:
        gateway.create_payment(amount=100, currency="INR", payment_id=PAYMENT_ID, payer=payer)

    assert excinfo.value.code == "PAYER_DETAILS_REQUIRED"


def test_payer_may_override_the_return_urls(gateway):
    payer = {**PAYER, "surl": "https://other.example/ok", "furl": "https://other.example/ko"}

    fields = gateway.create_payment(
        amount=100, currency="INR", payment_id=PAYMENT_ID, payer=payer
    ).client_data["fields"]

    assert (fields["surl"], fields["furl"]) == ("https://other.example/ok", "https://other.example/ko")


def test_pipe_in_a_hashed_field_cannot_shift_the_hash_sequence(gateway):
    payer = {**PAYER, "name": "Alice|x"}

    fields = gateway.create_payment(
        amount=100, currency="INR", payment_id=PAYMENT_ID, payer=payer, description="a|b"
    ).client_data["fields"]

    assert "|" not in fields["firstname"] + fields["productinfo"]
    assert fields["hash"] == payu_request_hash(fields, MERCHANT_SALT)


def test_settings_are_read_when_called(settings):
    gateway = PayUGateway()
    settings.PAYU_MERCHANT_KEY = "SetKey"
    settings.PAYU_MERCHANT_SALT = "SetSalt"
    settings.PAYU_CHECKOUT_URL = "https://secure.payu.in/_payment"
    settings.PAYU_SUCCESS_URL = SURL
    settings.PAYU_FAILURE_URL = FURL

    checkout = gateway.create_payment(amount=100, currency="INR", payment_id=PAYMENT_ID, payer=PAYER)

    fields = checkout.client_data["fields"]
    assert checkout.client_data["action"] == "https://secure.payu.in/_payment"
    assert fields["key"] == "SetKey"
    assert fields["hash"] == payu_request_hash(fields, "SetSalt")


def test_missing_credentials_or_return_urls_are_configuration_errors(settings):
    settings.PAYU_MERCHANT_KEY = ""
    settings.PAYU_MERCHANT_SALT = ""
    with pytest.raises(GatewayError) as no_keys:
        PayUGateway().create_payment(amount=100, currency="INR", payment_id=PAYMENT_ID, payer=PAYER)

    settings.PAYU_SUCCESS_URL = ""
    with pytest.raises(GatewayError) as no_urls:
        PayUGateway(merchant_key="k", merchant_salt="s").create_payment(
            amount=100, currency="INR", payment_id=PAYMENT_ID, payer=PAYER
        )

    assert no_keys.value.code == no_urls.value.code == "GATEWAY_NOT_CONFIGURED"


# --- verify_payment: signed callback -------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "unmapped", "expected"),
    [
        ("success", "captured", "succeeded"),
        ("failure", "failed", "failed"),
        ("failure", "userCancelled", "cancelled"),
        ("pending", "pending", "pending"),
    ],
)
def test_signed_callback_verifies(gateway, checkout_fields, status, unmapped, expected):
    data = payu_callback(checkout_fields, status=status, unmappedstatus=unmapped)

    verification = gateway.verify_payment(reference=checkout_fields["txnid"], data=data)

    assert verification.status == expected
    assert verification.provider_payment_id == "403993715521000001"
    assert (verification.amount, verification.currency) == (49_900, "INR")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "1.00"),
        ("status", "success"),
        ("udf1", "someone-elses-payment"),
        ("email", "eve@example.com"),
    ],
)
def test_callback_with_a_tampered_field_is_refused(gateway, checkout_fields, field, value):
    data = payu_callback(checkout_fields, status="failure", unmappedstatus="failed")
    data[field] = value

    with pytest.raises(GatewayError) as excinfo:
        gateway.verify_payment(reference=checkout_fields["txnid"], data=data)

    assert (excinfo.value.code, excinfo.value.retryable) == ("INVALID_SIGNATURE", False)


def test_callback_hashed_with_another_salt_is_refused(gateway, checkout_fields):
    data = payu_callback(checkout_fields, salt="notOurSalt")

    with pytest.raises(GatewayError) as excinfo:
        gateway.verify_payment(reference=checkout_fields["txnid"], data=data)

    assert excinfo.value.code == "INVALID_SIGNATURE"


def test_callback_without_hash_is_refused(gateway, checkout_fields):
    data = payu_callback(checkout_fields)
    del data["hash"]

    with pytest.raises(GatewayError) as excinfo:
        gateway.verify_payment(reference=checkout_fields["txnid"], data=data)

    assert excinfo.value.code == "INVALID_SIGNATURE"


def test_validly_signed_callback_for_another_txnid_is_refused(gateway, checkout_fields):
    cheap = gateway.create_payment(amount=100, currency="INR", payment_id=str(uuid.uuid4()), payer=PAYER)
    data = payu_callback(cheap.client_data["fields"])  # genuine, but for the cheaper payment

    with pytest.raises(GatewayError) as excinfo:
        gateway.verify_payment(reference=checkout_fields["txnid"], data=data)

    assert excinfo.value.code == "REFERENCE_MISMATCH"


def test_callback_with_additional_charges_uses_the_prefixed_hash(gateway, checkout_fields):
    data = payu_callback(checkout_fields, additional_charges="12.50")

    verification = gateway.verify_payment(reference=checkout_fields["txnid"], data=data)

    assert (verification.status, verification.amount) == ("succeeded", 49_900)


def test_additional_charges_added_to_a_plainly_hashed_callback_are_refused(gateway, checkout_fields):
    data = payu_callback(checkout_fields)
    data["additionalCharges"] = "12.50"

    with pytest.raises(GatewayError) as excinfo:
        gateway.verify_payment(reference=checkout_fields["txnid"], data=data)

    assert excinfo.value.code == "INVALID_SIGNATURE"


def test_callback_values_as_one_element_lists_are_accepted(gateway, checkout_fields):
    data = {k: [v] for k, v in payu_callback(checkout_fields).items()}  # QueryDict.lists() style

    verification = gateway.verify_payment(reference=checkout_fields["txnid"], data=data)

    assert verification.status == "succeeded"


# --- verify_payment: server-side fetch -----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "unmapped", "expected"),
    [
        ("success", "captured", "succeeded"),
        ("failure", "dropped", "failed"),
        ("failure", "userCancelled", "cancelled"),
        ("pending", "pending", "pending"),
    ],
)
def test_fetch_asks_verify_payment(gateway, fake_payu, status, unmapped, expected):
    txn = fake_payu.add_transaction("txn0001", amount="499.00", status=status, unmappedstatus=unmapped)

    verification = gateway.verify_payment(reference="txn0001")

    assert verification.status == expected
    assert (verification.provider_payment_id, verification.amount) == (txn["mihpayid"], 49_900)
    [request] = fake_payu.requests
    assert (request.method, request.path, request.query) == (
        "POST",
        "/merchant/postservice.php",
        {"form": ["2"]},
    )
    assert request.form == {
        "key": MERCHANT_KEY,
        "command": "verify_payment",
        "var1": "txn0001",
        "hash": payu_command_hash("verify_payment", "txn0001"),
    }


def test_fetch_of_a_transaction_payu_has_not_seen_is_pending(gateway):
    verification = gateway.verify_payment(reference="neverposted")

    assert (verification.status, verification.provider_payment_id, verification.amount) == (
        "pending",
        "",
        None,
    )


def test_fetch_refused_by_payu_is_an_error(fake_payu):
    gateway = PayUGateway(merchant_key=MERCHANT_KEY, merchant_salt="wrongSalt", api_base=fake_payu.url)

    with pytest.raises(GatewayError) as excinfo:
        gateway.verify_payment(reference="txn0001")

    assert (excinfo.value.code, excinfo.value.retryable) == ("GATEWAY_AUTH_FAILED", False)
    assert "Invalid Hash" in str(excinfo.value)


# --- refund --------------------------------------------------------------------------------------


@pytest.fixture
def paid(fake_payu: FakePayU) -> dict:
    return fake_payu.add_transaction("txn0001", amount="499.00")


def test_refund_sends_cancel_refund_transaction(gateway, fake_payu, paid):
    result = gateway.refund(
        reference="txn0001",
        provider_payment_id=paid["mihpayid"],
        amount=20_000,
        currency="INR",
        idempotency_key="refund-key-1",
    )

    [request] = fake_payu.requests_for("cancel_refund_transaction")
    token = request.form["var2"]
    assert request.form == {
        "key": MERCHANT_KEY,
        "command": "cancel_refund_transaction",
        "var1": paid["mihpayid"],
        "var2": token,
        "var3": "200.00",
        "hash": payu_command_hash("cancel_refund_transaction", paid["mihpayid"]),
    }
    assert 0 < len(token) <= 23
    assert token.isalnum()
    assert (result.status, result.amount) == ("pending", 20_000)
    assert result.refund_id == next(iter(fake_payu.refunds[paid["mihpayid"]]))


@pytest.mark.parametrize(("minor", "rupees"), [(1, "0.01"), (10_000, "100.00"), (49_900, "499.00")])
def test_refund_amount_is_sent_as_exact_rupees(gateway, fake_payu, paid, minor, rupees):
    gateway.refund(
        reference="txn0001",
        provider_payment_id=paid["mihpayid"],
        amount=minor,
        currency="INR",
        idempotency_key="k",
    )

    assert fake_payu.requests_for("cancel_refund_transaction")[0].form["var3"] == rupees


def test_refund_retry_with_same_key_returns_the_first_refund(gateway, fake_payu, paid):
    kwargs = {
        "reference": "txn0001",
        "provider_payment_id": paid["mihpayid"],
        "amount": 20_000,
        "currency": "INR",
        "idempotency_key": "refund-key-1",
    }
    first = gateway.refund(**kwargs)

    second = gateway.refund(**kwargs)

    assert second.refund_id == first.refund_id
    assert (second.status, second.amount) == ("pending", 20_000)
    assert len(fake_payu.refunds[paid["mihpayid"]]) == 1
    first_token, second_token = (r.form["var2"] for r in fake_payu.requests_for("cancel_refund_transaction"))
    assert first_token == second_token
    [lookup] = fake_payu.requests_for("check_action_status")
    assert lookup.form == {
        "key": MERCHANT_KEY,
        "command": "check_action_status",
        "var1": paid["mihpayid"],
        "var2": "payuid",
        "hash": payu_command_hash("check_action_status", paid["mihpayid"]),
    }


def test_refunds_with_different_keys_get_different_tokens(gateway, fake_payu, paid):
    common = {"reference": "txn0001", "provider_payment_id": paid["mihpayid"], "currency": "INR"}

    first = gateway.refund(amount=10_000, idempotency_key="k1", **common)
    second = gateway.refund(amount=10_000, idempotency_key="k2", **common)

    assert first.refund_id != second.refund_id
    assert len({a["token"] for a in fake_payu.refunds[paid["mihpayid"]].values()}) == 2


def test_refund_refused_by_payu_is_not_retryable(gateway, paid):
    with pytest.raises(GatewayError) as excinfo:
        gateway.refund(
            reference="txn0001",
            provider_payment_id=paid["mihpayid"],
            amount=50_000,  # more than was paid
            currency="INR",
            idempotency_key="k",
        )

    assert (excinfo.value.code, excinfo.value.retryable) == ("GATEWAY_INVALID_REQUEST", False)
    assert "Invalid amount" in str(excinfo.value)


def test_refund_in_another_currency_is_refused(gateway, fake_payu, paid):
    with pytest.raises(GatewayError) as excinfo:
        gateway.refund(
            reference="txn0001",
            provider_payment_id=paid["mihpayid"],
            amount=100,
            currency="USD",
            idempotency_key="k",
        )

    assert excinfo.value.code == "CURRENCY_NOT_SUPPORTED"
    assert fake_payu.requests == []


# --- error mapping -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "code", "retryable"),
    [
        (500, "<html>oops</html>", "GATEWAY_UNAVAILABLE", True),
        (503, "<html>Service Unavailable</html>", "GATEWAY_UNAVAILABLE", True),
        (429, "slow down", "GATEWAY_RATE_LIMITED", True),
        (403, "<html>Forbidden</html>", "GATEWAY_INVALID_REQUEST", False),
        (200, "<html>maintenance</html>", "GATEWAY_UNAVAILABLE", True),
        (200, json.dumps(["not", "an", "object"]), "GATEWAY_UNAVAILABLE", True),
    ],
)
def test_http_failures_map_to_gateway_errors(gateway, fake_payu, status, body, code, retryable):
    fake_payu.fail_next(status, body=body)

    with pytest.raises(GatewayError) as excinfo:
        gateway.verify_payment(reference="txn0001")

    assert (excinfo.value.code, excinfo.value.retryable) == (code, retryable)


def test_refused_connection_is_retryable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = PayUGateway(
        merchant_key=MERCHANT_KEY, merchant_salt=MERCHANT_SALT, api_base=f"http://127.0.0.1:{port}"
    )

    with pytest.raises(GatewayError) as excinfo:
        gateway.verify_payment(reference="txn0001")

    assert (excinfo.value.code, excinfo.value.retryable) == ("GATEWAY_UNAVAILABLE", True)


def test_silent_server_times_out_as_retryable():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        gateway = PayUGateway(
            merchant_key=MERCHANT_KEY,
            merchant_salt=MERCHANT_SALT,
            api_base=f"http://127.0.0.1:{port}",
            timeout=0.3,
        )

        with pytest.raises(GatewayError) as excinfo:
            gateway.verify_payment(reference="txn0001")

    assert (excinfo.value.code, excinfo.value.retryable) == ("GATEWAY_UNAVAILABLE", True)


# --- webhooks ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "unmapped", "kind"),
    [
        ("success", "captured", "payment.succeeded"),
        ("failure", "failed", "payment.failed"),
        ("failure", "userCancelled", "payment.cancelled"),
        ("pending", "pending", "ignored"),
    ],
)
def test_signed_form_webhook_is_normalised(gateway, checkout_fields, status, unmapped, kind):
    body = urlencode(payu_callback(checkout_fields, status=status, unmappedstatus=unmapped)).encode()

    event = gateway.parse_webhook(body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})

    assert event.kind == kind
    assert event.event_id == f"403993715521000001:{status}"
    assert (event.reference, event.provider_payment_id) == (checkout_fields["txnid"], "403993715521000001")
    assert (event.amount, event.currency) == (49_900, "INR")
    assert event.created == int(datetime(2026, 1, 15, 4, 50, 30, tzinfo=UTC).timestamp())  # 10:20:30 IST


def test_signed_json_webhook_is_accepted(gateway, checkout_fields):
    body = json.dumps(payu_callback(checkout_fields)).encode()

    event = gateway.parse_webhook(body=body, headers={"Content-Type": "application/json"})

    assert (event.kind, event.amount) == ("payment.succeeded", 49_900)


def test_unsigned_webhook_is_refused(gateway, checkout_fields):
    data = payu_callback(checkout_fields)
    del data["hash"]

    with pytest.raises(WebhookError):
        gateway.parse_webhook(body=urlencode(data).encode(), headers={})


def test_tampered_webhook_is_refused(gateway, checkout_fields):
    data = payu_callback(checkout_fields, status="failure", unmappedstatus="failed")
    data["status"] = "success"

    with pytest.raises(WebhookError):
        gateway.parse_webhook(body=urlencode(data).encode(), headers={})


def test_webhook_hashed_with_another_salt_is_refused(gateway, checkout_fields):
    body = urlencode(payu_callback(checkout_fields, salt="notOurSalt")).encode()

    with pytest.raises(WebhookError):
        gateway.parse_webhook(body=body, headers={})


def test_unsigned_refund_status_callback_is_refused(gateway):
    body = json.dumps(
        {
            "key": MERCHANT_KEY,
            "mihpayid": "403993715521000001",
            "action": "refund",
            "status": "success",
            "amt": "1.00",
        }
    ).encode()

    with pytest.raises(WebhookError):
        gateway.parse_webhook(body=body, headers={"Content-Type": "application/json"})


def test_webhook_repeating_a_field_is_refused(gateway, checkout_fields):
    body = urlencode(payu_callback(checkout_fields)).encode() + b"&status=failure"

    with pytest.raises(WebhookError):
        gateway.parse_webhook(body=body, headers={})


@pytest.mark.parametrize("body", [b"", b"\xff\xfe", b"{not json", b"[1, 2]", b"a=1&&&b"])
def test_garbage_webhook_is_refused(gateway, body):
    with pytest.raises(WebhookError):
        gateway.parse_webhook(body=body, headers={})


def test_webhook_is_refused_when_not_configured(settings, checkout_fields):
    settings.PAYU_MERCHANT_KEY = ""
    settings.PAYU_MERCHANT_SALT = ""
    body = urlencode(payu_callback(checkout_fields)).encode()

    with pytest.raises(WebhookError):
        PayUGateway().parse_webhook(body=body, headers={})
