"""Paying through the API: starting a payment (with Idempotency-Key), reading payments by role,
confirming with the provider's signed word (never the client's), and cancelling."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from clinical.models import Consultation
from payments import services
from payments.gateways import override_gateway
from payments.gateways.base import Verification
from payments.gateways.razorpay_gateway import RazorpayGateway
from payments.gateways.stripe_gateway import StripeGateway
from payments.models import Coupon, CouponRedemption, Payment, StripeCustomer
from telehealth.audit.models import AuditEntry
from tests.payments.api_helpers import PAYMENTS, data_of, error_of, money, payment_url, razorpay_callback
from tests.payments.conftest import FEE, deliver
from tests.payments.fakes.razorpay_server import KEY_ID, KEY_SECRET, FakeRazorpay, running_fake_razorpay
from tests.payments.fakes.stripe_server import FakeStripe, running_fake_stripe

pytestmark = pytest.mark.django_db


@pytest.fixture
def derek(client_for, other_doctor):
    return client_for(other_doctor)


@pytest.fixture
def fake_razorpay() -> Iterator[FakeRazorpay]:
    with running_fake_razorpay() as fake:
        yield fake


@pytest.fixture
def razorpay(fake_razorpay) -> Iterator[RazorpayGateway]:
    gateway = RazorpayGateway(key_id=KEY_ID, key_secret=KEY_SECRET, api_base=fake_razorpay.url, timeout=5)
    with override_gateway("razorpay", gateway):
        yield gateway


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with running_fake_stripe() as fake:
        yield fake


@pytest.fixture
def stripe_gateway(fake_stripe) -> Iterator[StripeGateway]:
    gateway = StripeGateway(
        api_key=fake_stripe.api_key, api_base=fake_stripe.url, webhook_secret="whsec_x", max_network_retries=0
    )
    with override_gateway("stripe", gateway):
        yield gateway


def start(client, consultation, **body):
    return client.post(PAYMENTS, {"consultation": str(consultation.pk), **body}, format="json")


# --- Starting a payment --------------------------------------------------------------------------


def test_patient_starts_paying_and_gets_the_checkout(alice, awaiting_payment, fake_gateway):
    response = start(alice, awaiting_payment)

    assert response.status_code == 201
    data = data_of(response)
    payment = Payment.objects.get()
    assert data["payment"]["id"] == str(payment.pk)
    assert data["payment"]["status"] == "pending"
    assert data["payment"]["total"] == money(FEE)
    assert data["payment"]["price"] == money(FEE)
    assert data["payment"]["split"] is None  # patients do not see the platform's cut
    assert data["checkout"] == {
        "gateway": "stripe",
        "reference": payment.reference,
        "amount": money(FEE),
        "client_data": {"client_secret": f"{payment.reference}_secret"},
    }
    awaiting_payment.refresh_from_db()
    assert awaiting_payment.state == "pending_payment"  # only the provider's word confirms it


def test_asking_again_returns_the_same_pending_payment(alice, awaiting_payment, fake_gateway):
    first = data_of(start(alice, awaiting_payment))

    again = start(alice, awaiting_payment)

    assert again.status_code == 200
    assert data_of(again)["payment"]["id"] == first["payment"]["id"]
    assert data_of(again)["checkout"] == first["checkout"]
    assert len(fake_gateway.calls_to("create_payment")) == 1


def test_another_gateway_while_one_is_under_way_is_a_conflict(alice, awaiting_payment, fake_gateways):
    start(alice, awaiting_payment)

    response = start(alice, awaiting_payment, gateway="razorpay")

    assert response.status_code == 409
    assert error_of(response)["code"] == "PAYMENT_IN_PROGRESS"


def test_a_fully_discounted_booking_is_confirmed_at_once(alice, awaiting_payment, fake_gateway):
    Coupon.objects.create(code="FREEVISIT", kind="percent", value=100)

    response = start(alice, awaiting_payment, coupon_code="freevisit")

    assert response.status_code == 201
    data = data_of(response)
    assert data["payment"]["status"] == "succeeded"
    assert data["payment"]["gateway"] == "free"
    assert data["payment"]["discount"] == money(FEE)
    assert data["payment"]["total"] == money(0)
    assert data["payment"]["coupon_code"] == "FREEVISIT"
    assert data["checkout"]["client_data"] == {}
    awaiting_payment.refresh_from_db()
    assert awaiting_payment.state == "scheduled"
    assert fake_gateway.calls_to("create_payment") == []


def test_staff_start_a_payment_for_a_patient(ada, awaiting_payment, fake_gateway, patient):
    response = start(ada, awaiting_payment)

    assert response.status_code == 201
    assert Payment.objects.get().patient == patient


def test_doctors_do_not_pay(dana, awaiting_payment, fake_gateway):
    response = start(dana, awaiting_payment)

    assert response.status_code == 403
    assert not Payment.objects.exists()


def test_someone_elses_booking_is_not_found_and_the_attempt_audited(bob, awaiting_payment, fake_gateway):
    response = start(bob, awaiting_payment)

    assert response.status_code == 404
    assert error_of(response)["code"] == "NOT_FOUND"
    assert not Payment.objects.exists()
    denied = AuditEntry.objects.get(action="denied")
    assert denied.subject_id == awaiting_payment.patient_id
    assert denied.object_id == str(awaiting_payment.pk)


def test_anonymous_callers_are_refused(api_client, awaiting_payment):
    response = start(api_client, awaiting_payment)

    assert response.status_code == 401
    assert error_of(response)["code"] == "AUTHENTICATION_FAILED"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "consultation"),
        ({"consultation": "not-a-uuid"}, "consultation"),
        ({"consultation": "{c}", "gateway": "paypal"}, "gateway"),
        ({"consultation": "{c}", "coupon_code": "x" * 41}, "coupon_code"),
    ],
)
def test_invalid_input_is_a_validation_error(alice, awaiting_payment, fake_gateway, body, field):
    body = {k: v.replace("{c}", str(awaiting_payment.pk)) for k, v in body.items()}

    response = alice.post(PAYMENTS, body, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]


def test_free_is_not_a_gateway_a_client_may_choose(alice, awaiting_payment, fake_gateway):
    response = start(alice, awaiting_payment, gateway="free")

    assert response.status_code == 400
    assert "gateway" in error_of(response)["details"]
    assert not Payment.objects.exists()


def test_a_booking_that_is_not_awaiting_payment_is_a_conflict(alice, make_booking, fake_gateway):
    scheduled = make_booking(state="scheduled")

    response = start(alice, scheduled)

    assert response.status_code == 409
    assert error_of(response)["code"] == "PAYMENT_NOT_REQUIRED"


def test_an_unknown_coupon_is_refused_and_nothing_is_started(alice, awaiting_payment, fake_gateway):
    response = start(alice, awaiting_payment, coupon_code="NOPE")

    assert response.status_code == 400
    assert error_of(response)["code"] == "COUPON_INVALID"
    assert not Payment.objects.exists()


def test_a_provider_outage_is_a_502_to_retry(alice, awaiting_payment, fake_gateway):
    from tests.payments.fake_gateway import retryable

    fake_gateway.fail_next("create_payment", retryable())

    response = start(alice, awaiting_payment)

    assert response.status_code == 502
    assert error_of(response)["code"] == "GATEWAY_UNAVAILABLE"


# --- Idempotency-Key -----------------------------------------------------------------------------


def test_a_retry_with_the_same_key_replays_the_first_answer(alice, awaiting_payment, fake_gateway):
    body = {"consultation": str(awaiting_payment.pk)}

    first = alice.post(PAYMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY="pay-1")
    again = alice.post(PAYMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY="pay-1")

    assert first.status_code == again.status_code == 201  # the stored 201, not a fresh 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert len(fake_gateway.calls_to("create_payment")) == 1
    assert Payment.objects.count() == 1


def test_the_same_key_with_another_body_is_a_conflict(alice, awaiting_payment, fake_gateway):
    alice.post(PAYMENTS, {"consultation": str(awaiting_payment.pk)}, format="json", HTTP_IDEMPOTENCY_KEY="k2")

    response = alice.post(
        PAYMENTS,
        {"consultation": str(awaiting_payment.pk), "gateway": "razorpay"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k2",
    )

    assert response.status_code == 409
    assert error_of(response)["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert Payment.objects.get().gateway == "stripe"


def test_keys_are_per_user(alice, ada, awaiting_payment, fake_gateway):
    body = {"consultation": str(awaiting_payment.pk)}
    alice.post(PAYMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY="shared")

    response = ada.post(PAYMENTS, body, format="json", HTTP_IDEMPOTENCY_KEY="shared")

    assert response.status_code == 200  # runs for Ada: the pending payment, resumed
    assert "Idempotent-Replayed" not in response


# --- Reading -------------------------------------------------------------------------------------


@pytest.fixture
def payments_of_two_patients(pending_payment, make_booking, other_patient, other_doctor, fake_gateway):
    """Alice's pending payment with Dana, and Bob's paid one with Derek."""
    bobs = make_booking(patient=other_patient, doctor=other_doctor)
    bobs_payment, _ = services.start_payment(other_patient, bobs)
    deliver("payment.succeeded", bobs_payment)
    return pending_payment, bobs_payment


@pytest.mark.parametrize(
    ("client", "sees"),
    [
        ("alice", {"alice"}),
        ("bob", {"bob"}),
        ("dana", {"alice"}),
        ("derek", {"bob"}),
        ("ada", {"alice", "bob"}),
    ],
)
def test_each_role_lists_only_the_payments_it_may_see(request, payments_of_two_patients, client, sees):
    alices, bobs = payments_of_two_patients
    ids = {"alice": str(alices.pk), "bob": str(bobs.pk)}

    data = data_of(request.getfixturevalue(client).get(PAYMENTS))

    assert {row["id"] for row in data["results"]} == {ids[name] for name in sees}
    assert data["count"] == len(sees)


def test_anonymous_cannot_list(api_client):
    assert api_client.get(PAYMENTS).status_code == 401


def test_a_doctor_reading_payments_is_audited(dana, pending_payment, patient, doctor):
    data_of(dana.get(PAYMENTS))
    data_of(dana.get(payment_url(pending_payment)))

    reads = AuditEntry.objects.filter(actor=doctor, action="read", resource="payment")
    assert reads.count() == 2
    assert {entry.subject_id for entry in reads} == {patient.pk}


def test_the_doctor_and_staff_see_the_split_the_patient_does_not(alice, dana, ada, paid):
    split = {
        "platform_fee": money(paid.platform_fee),
        "doctor_share": money(paid.doctor_share),
    }
    assert paid.platform_fee + paid.doctor_share == FEE

    assert data_of(alice.get(payment_url(paid)))["split"] is None
    assert data_of(dana.get(payment_url(paid)))["split"] == split
    assert data_of(ada.get(payment_url(paid)))["split"] == split


def test_a_paid_payment_shows_its_receipt_number_and_what_may_be_refunded(alice, paid):
    data = data_of(alice.get(payment_url(paid)))

    assert data["status"] == "succeeded"
    assert data["receipt_number"] == paid.receipt_number
    assert data["refundable"] == money(FEE)
    assert data["refunded"] == money(0)
    assert data["consultation"]["id"] == str(paid.consultation_id)
    assert data["consultation"]["state"] == "scheduled"
    assert set(data["patient"]) == {"id", "name"}  # no phone, no health data


@pytest.mark.parametrize("client", ["bob", "derek"])
def test_someone_elses_payment_is_not_found_and_audited(request, client, pending_payment):
    response = request.getfixturevalue(client).get(payment_url(pending_payment))

    assert response.status_code == 404
    assert AuditEntry.objects.filter(action="denied", object_id=str(pending_payment.pk)).count() == 1


def test_filters_by_status_gateway_and_date(ada, make_booking, fake_gateways, patient):
    old, new, other = (make_booking() for _ in range(3))
    with_stripe, _ = services.start_payment(patient, old, now=timezone.now() - timedelta(days=10))
    with_razorpay, _ = services.start_payment(patient, new, gateway="razorpay")
    third, _ = services.start_payment(patient, other)
    deliver("payment.succeeded", third)

    def ids(query: str) -> set[str]:
        return {row["id"] for row in data_of(ada.get(f"{PAYMENTS}?{query}"))["results"]}

    assert ids("status=pending") == {str(with_stripe.pk), str(with_razorpay.pk)}
    assert ids("status=succeeded&status=pending") == {str(p.pk) for p in (with_stripe, with_razorpay, third)}
    assert ids("gateway=razorpay") == {str(with_razorpay.pk)}
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(f"created_after={since.replace('+', '%2B')}") == {str(with_razorpay.pk), str(third.pk)}
    assert ids(f"search={third.receipt_number}") == {str(third.pk)}


def test_invalid_filters_are_validation_errors(ada):
    response = ada.get(f"{PAYMENTS}?status=lost&created_after=yesterday")

    assert response.status_code == 400
    assert {"status", "created_after"} <= set(error_of(response)["details"])


def test_ordering_and_pagination(ada, make_booking, fake_gateway, patient):
    now = timezone.now()
    made = [
        services.start_payment(patient, make_booking(), now=now - timedelta(hours=h))[0] for h in range(3)
    ]

    oldest_first = data_of(ada.get(f"{PAYMENTS}?ordering=created_at&page_size=2"))

    assert oldest_first["count"] == 3
    assert oldest_first["total_pages"] == 2
    assert [row["id"] for row in oldest_first["results"]] == [str(made[2].pk), str(made[1].pk)]
    second = data_of(ada.get(f"{PAYMENTS}?ordering=created_at&page_size=2&page=2"))
    assert [row["id"] for row in second["results"]] == [str(made[0].pk)]


# --- Confirming with the provider ----------------------------------------------------------------


@pytest.fixture
def razorpay_payment(patient, awaiting_payment, razorpay) -> Payment:
    payment, _ = services.start_payment(patient, awaiting_payment, gateway="razorpay")
    return payment


def test_a_signed_razorpay_callback_confirms_the_booking(alice, razorpay_payment, fake_razorpay):
    attempt = fake_razorpay.add_payment(razorpay_payment.reference)
    callback = razorpay_callback(razorpay_payment.reference, attempt["id"], KEY_SECRET)

    response = alice.post(payment_url(razorpay_payment, "verify/"), callback, format="json")

    assert response.status_code == 200
    data = data_of(response)
    assert data["status"] == "succeeded"
    assert data["provider_payment_id"] == attempt["id"]
    assert data["receipt_number"]
    assert Consultation.objects.get(pk=razorpay_payment.consultation_id).state == "scheduled"


def test_a_forged_callback_changes_nothing(alice, razorpay_payment, fake_razorpay):
    attempt = fake_razorpay.add_payment(razorpay_payment.reference)
    callback = razorpay_callback(razorpay_payment.reference, attempt["id"], "not-the-key-secret")

    response = alice.post(payment_url(razorpay_payment, "verify/"), callback, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "CALLBACK_INVALID"
    assert error["details"]["reason"] == "INVALID_SIGNATURE"
    razorpay_payment.refresh_from_db()
    assert razorpay_payment.status == "pending"
    assert Consultation.objects.get(pk=razorpay_payment.consultation_id).state == "pending_payment"


def test_the_clients_word_alone_never_marks_a_payment_paid(alice, stripe_gateway, patient, awaiting_payment):
    payment, _ = services.start_payment(patient, awaiting_payment)

    response = alice.post(
        payment_url(payment, "verify/"), {"status": "succeeded", "amount": FEE}, format="json"
    )

    assert response.status_code == 200
    assert data_of(response)["status"] == "pending"  # Stripe was asked, and says not yet
    assert Consultation.objects.get(pk=awaiting_payment.pk).state == "pending_payment"


def test_an_empty_body_asks_stripe_server_side(alice, stripe_gateway, fake_stripe, patient, awaiting_payment):
    payment, _ = services.start_payment(patient, awaiting_payment)
    fake_stripe.succeed_payment_intent(payment.reference)

    response = alice.post(payment_url(payment, "verify/"))

    assert data_of(response)["status"] == "succeeded"
    assert fake_stripe.requests_to("GET", f"/v1/payment_intents/{payment.reference}")
    assert Consultation.objects.get(pk=awaiting_payment.pk).state == "scheduled"


def test_a_callback_that_is_not_flat_text_is_a_validation_error(alice, razorpay_payment):
    response = alice.post(
        payment_url(razorpay_payment, "verify/"), {"razorpay_order_id": {"nested": 1}}, format="json"
    )

    assert response.status_code == 400
    assert "razorpay_order_id" in error_of(response)["details"]


def test_the_doctor_cannot_confirm_and_the_refusal_is_audited(dana, pending_payment):
    response = dana.post(payment_url(pending_payment, "verify/"), {}, format="json")

    assert response.status_code == 403
    assert AuditEntry.objects.filter(action="denied", object_id=str(pending_payment.pk)).exists()


def test_staff_may_confirm(ada, pending_payment, fake_gateway):
    fake_gateway.verifications[pending_payment.reference] = Verification(
        reference=pending_payment.reference, status="succeeded", provider_payment_id="ch_1", amount=FEE
    )

    assert data_of(ada.post(payment_url(pending_payment, "verify/")))["status"] == "succeeded"


# --- Cancelling ----------------------------------------------------------------------------------


def test_the_patient_cancels_a_pending_payment_and_may_pay_another_way(
    alice, awaiting_payment, fake_gateways
):
    coupon = Coupon.objects.create(code="TENOFF", kind="percent", value=10)
    payment = Payment.objects.get(
        pk=data_of(start(alice, awaiting_payment, coupon_code="TENOFF"))["payment"]["id"]
    )

    response = alice.post(payment_url(payment, "cancel/"))

    assert response.status_code == 200
    assert data_of(response)["status"] == "cancelled"
    awaiting_payment.refresh_from_db()
    assert awaiting_payment.state == "pending_payment"  # the booking stays, awaiting payment
    coupon.refresh_from_db()
    assert coupon.uses == 0
    assert CouponRedemption.objects.get(payment=payment).released is True
    again = start(alice, awaiting_payment, gateway="razorpay")
    assert again.status_code == 201
    assert data_of(again)["payment"]["gateway"] == "razorpay"


def test_a_payment_the_provider_took_is_not_cancelled(alice, pending_payment, fake_gateway):
    fake_gateway.verifications[pending_payment.reference] = Verification(
        reference=pending_payment.reference, status="succeeded", provider_payment_id="ch_9", amount=FEE
    )

    response = alice.post(payment_url(pending_payment, "cancel/"))

    assert response.status_code == 409
    assert error_of(response)["code"] == "PAYMENT_NOT_CANCELLABLE"
    pending_payment.refresh_from_db()
    assert pending_payment.status == "succeeded"


def test_a_paid_payment_cannot_be_cancelled(alice, paid):
    response = alice.post(payment_url(paid, "cancel/"))

    assert response.status_code == 409
    assert error_of(response)["details"]["status_now"] == "succeeded"


def test_staff_may_cancel_for_the_patient(ada, pending_payment):
    assert data_of(ada.post(payment_url(pending_payment, "cancel/")))["status"] == "cancelled"


@pytest.mark.parametrize(("client", "status"), [("bob", 404), ("dana", 403)])
def test_others_do_not_cancel(request, client, status, pending_payment):
    response = request.getfixturevalue(client).post(payment_url(pending_payment, "cancel/"))

    assert response.status_code == status
    pending_payment.refresh_from_db()
    assert pending_payment.status == "pending"


def test_a_first_stripe_payment_makes_the_patients_stripe_customer_once(
    alice, stripe_gateway, fake_stripe, patient, awaiting_payment
):
    data_of(start(alice, awaiting_payment, gateway="stripe"))
    [customer] = StripeCustomer.objects.filter(user=patient)
    assert customer.customer_id in fake_stripe.customers
    [intent] = fake_stripe.requests_to("POST", "/v1/payment_intents")
    assert intent.form["customer"] == customer.customer_id

    # Paying again (another attempt) reuses the customer instead of making a second one.
    Payment.objects.update(status="cancelled")
    start(alice, awaiting_payment, gateway="stripe")
    assert len(fake_stripe.requests_to("POST", "/v1/customers")) == 1
