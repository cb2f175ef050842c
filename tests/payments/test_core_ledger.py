"""The doctors' ledger: the fee split, and the invariant that every balance is the sum of its
entries (and what the payments say it should be) after any mix of payments, refunds and disputes."""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal

import pytest

from payments import services
from payments.models import DoctorBalance, Payment, PayoutLedgerEntry
from telehealth.api.errors import ServiceError
from tests.factories import ConsultationFactory, DoctorProfileFactory, UserFactory
from tests.payments.conftest import deliver

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("amount", "percent", "fee"),
    [
        (50_000, "15", 7_500),
        (999, "15", 150),  # 149.85
        (10, "15", 2),  # 1.5 rounds half up
        (1, "15", 0),  # 0.15
        (333, "12.5", 42),  # 41.625
        (1_000, "0", 0),
        (1_000, "100", 1_000),
        (0, "15", 0),
    ],
)
def test_fee_split_rounds_half_up_in_integers(amount, percent, fee):
    assert services.split_fee(amount, Decimal(percent)) == (fee, amount - fee)


def test_the_fee_percent_comes_from_settings(settings, paid_by_settings):
    settings.PLATFORM_FEE_PERCENT = Decimal("20")

    payment = paid_by_settings()

    assert (payment.platform_fee, payment.doctor_share) == (10_000, 40_000)


@pytest.fixture
def paid_by_settings(patient, make_booking, fake_gateway):
    def make():
        payment, _ = services.start_payment(patient, make_booking())
        deliver("payment.succeeded", payment)
        return payment

    return make


def test_adjustments_are_staff_only_and_move_the_balance(admin_user, doctor):
    entry = services.adjust_balance(admin_user, doctor, currency="inr", amount=-1_234, note="Bank fee")

    assert (entry.kind, entry.amount, entry.currency) == ("adjustment", -1_234, "INR")
    assert services.doctor_balance(doctor, "INR") == -1_234
    with pytest.raises(ServiceError):
        services.adjust_balance(doctor, doctor, currency="INR", amount=5, note="Tip")


def test_a_tampered_balance_is_found(paid, doctor):
    assert services.ledger_mismatches() == []
    DoctorBalance.objects.filter(doctor=doctor).update(balance=1)

    assert services.ledger_mismatches() == [
        {"doctor": doctor.pk, "currency": "INR", "balance": 1, "entries": paid.doctor_share}
    ]


def _half_up(numerator: int, denominator: int) -> int:
    return int((Decimal(numerator) / Decimal(denominator)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def expected_balances() -> dict[tuple, int]:
    """What each doctor should have, worked out from the payments alone."""
    balances: dict[tuple, int] = {}
    for payment in Payment.objects.filter(succeeded_at__isnull=False).prefetch_related("disputes"):
        net = payment.doctor_share
        if payment.amount:
            net -= _half_up(payment.doctor_share * payment.refunded_amount, payment.amount)
        net -= sum(d.held_amount for d in payment.disputes.all() if d.status in {"open", "lost"})
        key = (payment.doctor_id, payment.currency)
        balances[key] = balances.get(key, 0) + net
    return {key: value for key, value in balances.items() if value}


@pytest.mark.parametrize("seed", range(6))
def test_balances_always_equal_their_entries(seed, fake_gateway, admin_user, after_commit):
    rng = random.Random(seed)
    doctors = [DoctorProfileFactory(fee_amount=rng.choice([999, 50_000, 12_345])).user for _ in range(3)]
    patients = [UserFactory(role="patient") for _ in range(3)]

    def new_payment() -> Payment:
        booking = ConsultationFactory(
            patient=rng.choice(patients),
            doctor=rng.choice(doctors),
            state="pending_payment",
            fee_amount=rng.choice([999, 50_000, 12_345, 1]),
            fee_currency=rng.choice(["INR", "USD"]),
        )
        payment, _ = services.start_payment(booking.patient, booking)
        return payment

    payments: list[Payment] = []
    disputes = 0
    for step in range(60):
        action = rng.choice(["pay", "pay", "fail", "refund", "webhook_refund", "dispute", "close", "late"])
        if action in {"pay", "fail", "late"} or not payments:
            payment = new_payment()
            if action == "fail":
                deliver("payment.failed", payment)
            elif action == "late":
                with after_commit():
                    deliver("payment.cancelled", payment)
                    deliver("payment.succeeded", payment)
            else:
                deliver("payment.succeeded", payment)
            payments.append(payment)
        else:
            payment = rng.choice(payments)
            payment.refresh_from_db()
            left = (
                services.refundable_now(payment)
                if payment.status in {"succeeded", "partially_refunded"}
                else 0
            )
            if action == "refund" and left > 0:
                with after_commit():
                    services.refund_payment(
                        admin_user,
                        payment,
                        amount=rng.randint(1, left),
                        reason="Random",
                        idempotency_key=f"k-{seed}-{step}",
                    )
            elif action == "webhook_refund" and left > 0:
                deliver(
                    "refund.succeeded", payment, refund_id=f"re-{seed}-{step}", amount=rng.randint(1, left)
                )
            elif action == "dispute" and payment.status in {"succeeded", "partially_refunded"}:
                disputes += 1
                deliver("dispute.opened", payment, dispute_id=f"dp-{seed}-{disputes}", amount=left or None)
            elif action == "close" and payment.status == "disputed":
                dispute = payment.disputes.get(status="open")
                outcome = rng.choice(["won", "lost"])
                deliver(
                    "dispute.closed", payment, dispute_id=dispute.provider_dispute_id, dispute_status=outcome
                )

        assert services.ledger_mismatches() == [], f"step {step}: {action}"

    balances = {(b.doctor_id, b.currency): b.balance for b in DoctorBalance.objects.all() if b.balance}
    assert balances == expected_balances()
    assert {"earning", "refund_reversal", "dispute_hold"} <= set(
        PayoutLedgerEntry.objects.values_list("kind", flat=True)
    )
    for payment in Payment.objects.filter(succeeded_at__isnull=False):
        assert payment.platform_fee + payment.doctor_share == payment.amount
        assert 0 <= payment.refunded_amount <= payment.amount
