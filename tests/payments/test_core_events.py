"""Gateway events drive the payment state machine: every allowed and refused transition, duplicate
and out-of-order deliveries, and concurrent deliveries on PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from clinical.models import Consultation
from payments import services
from payments.models import Dispute, GatewayEvent, Payment, PayoutLedgerEntry, Refund
from tests.payments.conftest import FEE, deliver, gateway_event

pytestmark = pytest.mark.django_db

PARTIAL = 10_000
DISPUTE = "dp_1"


def reach(status: str, payment: Payment) -> Payment:
    """Drive a started payment to ``status`` through real gateway events."""
    steps = {
        "pending": [],
        "succeeded": [("payment.succeeded", {})],
        "failed": [("payment.failed", {})],
        "cancelled": [("payment.cancelled", {})],
        "partially_refunded": [
            ("payment.succeeded", {}),
            ("refund.succeeded", {"refund_id": "re_a", "amount": PARTIAL}),
        ],
        "refunded": [("payment.succeeded", {}), ("refund.succeeded", {"refund_id": "re_a", "amount": FEE})],
        "disputed": [("payment.succeeded", {}), ("dispute.opened", {"dispute_id": DISPUTE, "amount": FEE})],
    }[status]
    for kind, fields in steps:
        assert deliver(kind, payment, **fields) == "applied"
    assert payment.status == status
    return payment


EVENTS = {
    "payment.succeeded": {},
    "payment.failed": {},
    "payment.cancelled": {},
    "refund.succeeded": {"refund_id": "re_b", "amount": PARTIAL},
    "dispute.opened": {"dispute_id": "dp_new", "amount": FEE},
    "dispute.closed": {"dispute_id": DISPUTE, "dispute_status": "won"},
}

# (status before, event) → (outcome, status after)
TABLE = {
    ("pending", "payment.succeeded"): ("applied", "succeeded"),
    ("pending", "payment.failed"): ("applied", "failed"),
    ("pending", "payment.cancelled"): ("applied", "cancelled"),
    ("pending", "refund.succeeded"): ("deferred", "pending"),
    ("pending", "dispute.opened"): ("deferred", "pending"),
    ("pending", "dispute.closed"): ("deferred", "pending"),
    ("succeeded", "payment.succeeded"): ("already_applied", "succeeded"),
    ("succeeded", "payment.failed"): ("refused_transition", "succeeded"),
    ("succeeded", "payment.cancelled"): ("refused_transition", "succeeded"),
    ("succeeded", "refund.succeeded"): ("applied", "partially_refunded"),
    ("succeeded", "dispute.opened"): ("applied", "disputed"),
    ("succeeded", "dispute.closed"): ("deferred", "succeeded"),
    # A late success: the booking is gone, so the money is taken and refunded.
    ("failed", "payment.succeeded"): ("applied", "succeeded"),
    ("failed", "payment.failed"): ("already_applied", "failed"),
    ("failed", "payment.cancelled"): ("ignored", "failed"),
    ("failed", "refund.succeeded"): ("deferred", "failed"),
    ("failed", "dispute.opened"): ("deferred", "failed"),
    ("failed", "dispute.closed"): ("deferred", "failed"),
    ("cancelled", "payment.succeeded"): ("applied", "succeeded"),
    ("cancelled", "payment.failed"): ("ignored", "cancelled"),
    ("cancelled", "payment.cancelled"): ("already_applied", "cancelled"),
    ("cancelled", "refund.succeeded"): ("deferred", "cancelled"),
    ("cancelled", "dispute.opened"): ("deferred", "cancelled"),
    ("cancelled", "dispute.closed"): ("deferred", "cancelled"),
    ("partially_refunded", "payment.succeeded"): ("refused_transition", "partially_refunded"),
    ("partially_refunded", "payment.failed"): ("refused_transition", "partially_refunded"),
    ("partially_refunded", "payment.cancelled"): ("refused_transition", "partially_refunded"),
    ("partially_refunded", "refund.succeeded"): ("applied", "partially_refunded"),
    ("partially_refunded", "dispute.opened"): ("applied", "disputed"),
    ("partially_refunded", "dispute.closed"): ("deferred", "partially_refunded"),
    ("refunded", "payment.succeeded"): ("refused_transition", "refunded"),
    ("refunded", "payment.failed"): ("refused_transition", "refunded"),
    ("refunded", "payment.cancelled"): ("refused_transition", "refunded"),
    ("refunded", "refund.succeeded"): ("refused_transition", "refunded"),
    ("refunded", "dispute.opened"): ("refused_transition", "refunded"),
    ("refunded", "dispute.closed"): ("deferred", "refunded"),
    ("disputed", "payment.succeeded"): ("refused_transition", "disputed"),
    ("disputed", "payment.failed"): ("refused_transition", "disputed"),
    ("disputed", "payment.cancelled"): ("refused_transition", "disputed"),
    ("disputed", "refund.succeeded"): ("applied", "disputed"),
    ("disputed", "dispute.opened"): ("refused_transition", "disputed"),
    ("disputed", "dispute.closed"): ("applied", "succeeded"),
}
STATUSES = ["pending", "succeeded", "failed", "cancelled", "partially_refunded", "refunded", "disputed"]


def test_the_table_covers_every_status_and_event():
    assert set(TABLE) == {(status, kind) for status in STATUSES for kind in EVENTS}


@pytest.mark.parametrize(("start", "kind"), sorted(TABLE), ids=lambda v: str(v))
def test_state_machine(pending_payment, start, kind):
    payment = reach(start, pending_payment)
    before = payment.status

    outcome = deliver(kind, payment, **EVENTS[kind])

    assert (outcome, payment.status) == TABLE[before, kind]
    assert GatewayEvent.objects.filter(payment=payment, kind=kind).latest("pk").outcome == outcome
    assert services.ledger_mismatches() == []


def test_refused_transitions_change_nothing_and_do_not_raise(paid, awaiting_payment):
    entries = PayoutLedgerEntry.objects.count()

    assert deliver("payment.failed", paid) == "refused_transition"

    awaiting_payment.refresh_from_db()
    assert (paid.status, awaiting_payment.state) == ("succeeded", "scheduled")
    assert PayoutLedgerEntry.objects.count() == entries


def test_a_failed_payment_frees_the_slot(pending_payment, awaiting_payment):
    deliver("payment.failed", pending_payment)

    awaiting_payment.refresh_from_db()
    assert awaiting_payment.state == "cancelled"
    assert awaiting_payment.cancellation_reason == "Payment failed."


def test_a_wrong_amount_is_refused(pending_payment, awaiting_payment):
    assert deliver("payment.succeeded", pending_payment, amount=FEE - 1) == "refused_mismatch"
    assert deliver("payment.succeeded", pending_payment, currency="USD") == "refused_mismatch"

    awaiting_payment.refresh_from_db()
    assert (pending_payment.status, awaiting_payment.state) == ("pending", "pending_payment")


def test_success_splits_the_fee_and_numbers_the_receipt(paid, doctor):
    assert (paid.platform_fee, paid.doctor_share) == (7_500, 42_500)
    assert paid.receipt_number.startswith(f"RCPT-{paid.succeeded_at.year}-")
    assert services.doctor_balance(doctor, "INR") == 42_500
    [entry] = PayoutLedgerEntry.objects.all()
    assert (entry.kind, entry.amount, entry.payment) == ("earning", 42_500, paid)


def test_receipt_numbers_follow_each_other(patient, make_booking, fake_gateway):
    numbers = []
    for _ in range(3):
        payment, _ = services.start_payment(patient, make_booking())
        deliver("payment.succeeded", payment)
        numbers.append(payment.receipt_number)

    year = numbers[0].split("-")[1]
    assert numbers == [f"RCPT-{year}-{n:06d}" for n in (1, 2, 3)]


def test_a_late_success_is_refunded_in_full(pending_payment, awaiting_payment, fake_gateway, after_commit):
    deliver("payment.cancelled", pending_payment)  # e.g. expired while the patient was in 3-D Secure

    with after_commit():
        assert deliver("payment.succeeded", pending_payment) == "applied"

    pending_payment.refresh_from_db()
    awaiting_payment.refresh_from_db()
    assert awaiting_payment.state == "cancelled"
    assert (pending_payment.status, pending_payment.refunded_amount) == ("refunded", FEE)
    [call] = fake_gateway.calls_to("refund")
    assert call.kwargs["amount"] == FEE
    assert services.doctor_balance(awaiting_payment.doctor, "INR") == 0
    assert services.ledger_mismatches() == []


# --- Duplicates and order --------------------------------------------------------------------------


def test_the_same_event_twice_changes_nothing(pending_payment):
    event = gateway_event("payment.succeeded", pending_payment)

    first = services.apply_gateway_event("stripe", event)
    second = services.apply_gateway_event("stripe", event)

    assert (first, second) == ("applied", "duplicate")
    assert GatewayEvent.objects.count() == 1
    assert PayoutLedgerEntry.objects.count() == 1


def test_the_same_event_id_at_another_gateway_is_another_event(pending_payment):
    event = gateway_event("payment.failed", pending_payment, event_id="evt_shared")
    services.apply_gateway_event("razorpay", event)

    assert services.apply_gateway_event("stripe", event) == "applied"


def test_events_without_ids_are_deduplicated_by_content(pending_payment):
    event = gateway_event("payment.succeeded", pending_payment, event_id="")

    assert services.apply_gateway_event("stripe", event) == "applied"
    assert services.apply_gateway_event("stripe", event) == "duplicate"


def test_an_event_about_no_payment_of_ours_is_recorded_and_ignored(pending_payment):
    outcome = deliver("payment.succeeded", pending_payment, reference="pi_from_another_app", amount=1)

    assert outcome == "unknown_payment"
    assert GatewayEvent.objects.get().payment is None


def test_a_payment_is_found_by_the_providers_payment_id_too(paid):
    assert deliver(
        "refund.succeeded", paid, reference="", provider_payment_id=paid.provider_payment_id, amount=1
    ) == ("applied")
    assert paid.refunded_amount == 1


def test_a_refund_before_the_success_ends_refunded(pending_payment, awaiting_payment):
    assert deliver("refund.succeeded", pending_payment, refund_id="re_1", amount=FEE) == "deferred"
    assert deliver("payment.succeeded", pending_payment) == "applied"

    assert (pending_payment.status, pending_payment.refunded_amount) == ("refunded", FEE)
    deferred = GatewayEvent.objects.get(kind="refund.succeeded")
    assert deferred.outcome == "applied"
    assert services.doctor_balance(awaiting_payment.doctor, "INR") == 0
    assert services.ledger_mismatches() == []


def test_a_dispute_closing_before_it_opens_is_applied_in_order(paid, doctor):
    assert deliver("dispute.closed", paid, dispute_id="dp_9", dispute_status="won") == "deferred"
    assert deliver("dispute.opened", paid, dispute_id="dp_9", amount=FEE) == "applied"

    assert paid.status == "succeeded"
    assert Dispute.objects.get().status == "won"
    assert services.doctor_balance(doctor, "INR") == paid.doctor_share


def test_success_then_dispute_then_loss_out_of_order(pending_payment, doctor):
    deliver("dispute.closed", pending_payment, dispute_id="dp_9", dispute_status="lost")
    deliver("dispute.opened", pending_payment, dispute_id="dp_9", amount=FEE)
    deliver("payment.succeeded", pending_payment)

    assert pending_payment.status == "refunded"
    assert Dispute.objects.get().status == "lost"
    assert services.doctor_balance(doctor, "INR") == 0  # the hold stays
    assert services.ledger_mismatches() == []


def test_a_won_dispute_returns_to_the_status_before_it(paid, doctor):
    deliver("refund.succeeded", paid, refund_id="re_1", amount=PARTIAL)
    deliver("dispute.opened", paid, dispute_id="dp_1", amount=FEE - PARTIAL)
    held = services.doctor_balance(doctor, "INR")

    deliver("dispute.closed", paid, dispute_id="dp_1", dispute_status="won")

    assert held == 0
    assert paid.status == "partially_refunded"
    assert services.doctor_balance(doctor, "INR") == paid.doctor_share - 8_500  # the refund's share
    assert services.ledger_mismatches() == []


def test_an_unknown_dispute_outcome_is_ignored(paid):
    deliver("dispute.opened", paid, dispute_id="dp_1", amount=FEE)

    assert deliver("dispute.closed", paid, dispute_id="dp_1", dispute_status="under_review") == "ignored"
    assert paid.status == "disputed"


def test_an_ignored_kind_is_recorded(pending_payment):
    assert deliver("ignored", pending_payment) == "ignored"
    assert deliver("charge.updated", pending_payment) == "ignored"
    assert pending_payment.status == "pending"


def test_a_refund_made_at_the_providers_dashboard_is_recorded(paid, doctor):
    deliver("refund.succeeded", paid, refund_id="re_dash", amount=20_000)

    refund = Refund.objects.get()
    assert (refund.status, refund.amount, refund.provider_refund_id) == ("succeeded", 20_000, "re_dash")
    assert services.doctor_balance(doctor, "INR") == paid.doctor_share - 17_000


def test_a_refund_over_what_is_left_is_refused(paid):
    deliver("refund.succeeded", paid, refund_id="re_1", amount=FEE - 100)

    assert deliver("refund.succeeded", paid, refund_id="re_2", amount=101) == "refused_mismatch"
    assert paid.refunded_amount == FEE - 100


def test_the_same_refund_announced_twice_counts_once(paid):
    deliver("refund.succeeded", paid, refund_id="re_1", amount=PARTIAL)

    assert deliver("refund.succeeded", paid, refund_id="re_1", amount=PARTIAL) == "already_applied"
    assert paid.refunded_amount == PARTIAL


# --- Concurrency (PostgreSQL) ----------------------------------------------------------------------


def race(count: int, work) -> list:
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except Exception as error:  # reported by the assertion below
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_event_apply_once(pending_payment, awaiting_payment):
    event = gateway_event("payment.succeeded", pending_payment)

    results = race(8, lambda _: services.apply_gateway_event("stripe", event))

    assert Counter(results) == {"applied": 1, "duplicate": 7}, results
    assert GatewayEvent.objects.count() == 1
    assert PayoutLedgerEntry.objects.count() == 1
    assert Payment.objects.get().receipt_number is not None
    assert Consultation.objects.get(pk=awaiting_payment.pk).state == "scheduled"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_success_events_with_different_ids_apply_once(pending_payment):
    events = [gateway_event("payment.succeeded", pending_payment) for _ in range(6)]

    results = race(6, lambda i: services.apply_gateway_event("stripe", events[i]))

    assert Counter(results) == {"applied": 1, "already_applied": 5}, results
    assert PayoutLedgerEntry.objects.count() == 1
    assert services.ledger_mismatches() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_success_and_failure_end_in_one_consistent_state(pending_payment, awaiting_payment):
    events = [
        gateway_event("payment.succeeded", pending_payment),
        gateway_event("payment.failed", pending_payment),
    ]

    results = race(2, lambda i: services.apply_gateway_event("stripe", events[i]))

    payment = Payment.objects.get()
    consultation = Consultation.objects.get(pk=awaiting_payment.pk)
    if consultation.state == "scheduled":  # success first: the failure is refused
        assert results == ["applied", "refused_transition"]
        assert payment.status == "succeeded"
    else:  # failure first: the success is late, taken and refunded in full
        assert results == ["applied", "applied"]
        assert consultation.state == "cancelled"
        assert (payment.status, payment.refunded_amount) == ("refunded", FEE)
    assert services.ledger_mismatches() == []


# --- Several attempts at paying one booking --------------------------------------------------------


def test_a_cancelled_attempt_that_succeeds_still_pays_for_the_waiting_booking(
    patient, pending_payment, awaiting_payment, fake_gateways
):
    services.cancel_payment(patient, pending_payment)
    second, _ = services.start_payment(patient, awaiting_payment, gateway="razorpay")

    assert deliver("payment.succeeded", pending_payment) == "applied"

    second.refresh_from_db()
    awaiting_payment.refresh_from_db()
    assert (pending_payment.status, pending_payment.late) == ("succeeded", False)
    assert second.status == "cancelled"  # the patient has paid: the other attempt is dropped
    assert awaiting_payment.state == "scheduled"
    assert not Refund.objects.exists()


def test_a_second_attempt_paid_too_is_late_and_refunded(
    patient, pending_payment, awaiting_payment, fake_gateways, after_commit
):
    services.cancel_payment(patient, pending_payment)
    second, _ = services.start_payment(patient, awaiting_payment, gateway="razorpay")
    deliver("payment.succeeded", second)

    with after_commit():
        assert deliver("payment.succeeded", pending_payment) == "applied"

    pending_payment.refresh_from_db()
    second.refresh_from_db()
    assert (second.status, second.late) == ("succeeded", False)
    assert (pending_payment.status, pending_payment.late) == ("refunded", True)
    assert services.payment_for_consultation(awaiting_payment) == second
    assert services.doctor_balance(awaiting_payment.doctor, "INR") == second.doctor_share
    assert services.ledger_mismatches() == []
