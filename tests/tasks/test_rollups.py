"""Nightly roll-ups: a day's figures, in UTC or in another reporting time zone, equal an independent
computation, and rolling a day up again replaces them."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from analytics import rollups, tasks
from analytics.models import DailyRollup
from clinical.models import Consultation, ConsultationState, ConsultationType
from payments import services as payments
from payments.models import PAID_STATUSES, Payment, PayoutLedgerEntry, Refund
from telehealth.accounts.models import Role, User
from tests.factories import ConsultationFactory, UserFactory
from tests.payments.conftest import FEE

pytestmark = pytest.mark.django_db

DAY = date(2030, 2, 1)
START = datetime(2030, 2, 1, tzinfo=UTC)
END = START + timedelta(days=1)


KOLKATA = ZoneInfo("Asia/Kolkata")
# 1 Feb in Kolkata: 31 Jan 18:30 UTC to 1 Feb 18:30 UTC.
KOLKATA_START = datetime(2030, 1, 31, 18, 30, tzinfo=UTC)


def stored(day: date = DAY, zone: str = "UTC") -> dict[tuple[str, str], int]:
    return {(r.metric, r.dimension): r.value for r in DailyRollup.objects.filter(day=day, time_zone=zone)}


def money_rows(figures: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    counts = {"consultations_by_state", "consultations_by_type", "signups_by_role", "active_users_by_role"}
    return {key: value for key, value in figures.items() if key[0] not in counts}


# --- A generated month around DAY --------------------------------------------------------------------


def moment(rng: random.Random) -> datetime:
    """Somewhere from the day before DAY to the day after, often right at a midnight."""
    if rng.random() < 0.3:
        edges = [START, END, KOLKATA_START, KOLKATA_START + timedelta(days=1)]
        return rng.choice(edges) - timedelta(microseconds=rng.choice([0, 1]))
    return START - timedelta(days=1) + timedelta(seconds=rng.randrange(3 * 86_400))


def make_payment(rng: random.Random, patient, doctor) -> None:
    consultation = ConsultationFactory(patient=patient, doctor=doctor, state="completed")
    amount = rng.choice([0, 1, 999, 50_000, 123_457])
    fee, share = payments.split_fee(amount, payments.settings.PLATFORM_FEE_PERCENT)
    status = rng.choice(["succeeded", "succeeded", "refunded", "partially_refunded", "disputed", "failed"])
    payment = Payment.objects.create(
        consultation=consultation,
        patient=patient,
        doctor=doctor,
        gateway="stripe",
        list_amount=amount,
        amount=amount,
        currency=rng.choice(["INR", "INR", "USD", "EUR"]),
        status=status,
        platform_fee=fee if status != "failed" else 0,
        doctor_share=share if status != "failed" else 0,
        succeeded_at=moment(rng) if status != "failed" else None,
    )
    left = amount
    for _ in range(rng.randrange(3)):
        if left == 0:
            break
        part = rng.randint(1, left)
        refund_status = rng.choice(["succeeded", "succeeded", "pending", "failed"])
        refund = Refund.objects.create(
            payment=payment,
            amount=part,
            status=refund_status,
            reason="test",
            idempotency_key=str(uuid.uuid4()),
        )
        Refund.objects.filter(pk=refund.pk).update(updated_at=moment(rng))
        if refund_status == "succeeded":
            left -= part
            reversal = -(share * part // amount)
            if reversal:
                PayoutLedgerEntry.objects.create(
                    doctor=doctor,
                    currency=payment.currency,
                    kind="refund_reversal",
                    amount=reversal,
                    payment=payment,
                    refund=refund,
                )


@pytest.fixture
def month(patient, doctor):
    rng = random.Random(20300201)
    for _ in range(40):
        user = UserFactory(role=rng.choice(Role.values), date_joined=moment(rng))
        for _ in range(rng.randrange(4)):  # sign-ins and refreshes
            at = moment(rng)
            OutstandingToken.objects.create(
                user=user, jti=uuid.uuid4().hex, token="t", created_at=at, expires_at=at
            )
    for _ in range(60):
        ConsultationFactory(  # each with a doctor of its own: active bookings hold their slot
            state=rng.choice(ConsultationState.values),
            type=rng.choice(ConsultationType.values),
            scheduled_start=moment(rng),
        )
    for _ in range(40):
        make_payment(rng, patient, doctor)


def independently(day_start: datetime, day_end: datetime) -> dict[tuple[str, str], int]:
    """The same figures, from every row, in Python."""

    def on_day(at):
        return at is not None and day_start <= at < day_end

    figures: dict[tuple[str, str], int] = defaultdict(int)
    for value in ConsultationState.values:
        figures[("consultations_by_state", value)] = 0
    for value in ConsultationType.values:
        figures[("consultations_by_type", value)] = 0
    for value in Role.values:
        figures[("signups_by_role", value)] = 0
        figures[("active_users_by_role", value)] = 0
    for consultation in Consultation.objects.all():
        if on_day(consultation.scheduled_start):
            figures[("consultations_by_state", consultation.state)] += 1
            figures[("consultations_by_type", consultation.type)] += 1
    for user in User.objects.all():
        if on_day(user.date_joined):
            figures[("signups_by_role", user.role)] += 1
        if any(on_day(token.created_at) for token in OutstandingToken.objects.filter(user=user)):
            figures[("active_users_by_role", user.role)] += 1
    gross, fees, refunded, reversed_ = (defaultdict(int) for _ in range(4))
    for payment in Payment.objects.all():
        if payment.status in PAID_STATUSES and on_day(payment.succeeded_at):
            gross[payment.currency] += payment.amount
            fees[payment.currency] += payment.platform_fee
    for refund in Refund.objects.select_related("payment"):
        if refund.status == "succeeded" and on_day(refund.updated_at):
            currency = refund.payment.currency
            refunded[currency] += refund.amount
            reversed_[currency] += sum(e.amount for e in refund.ledger_entries.filter(kind="refund_reversal"))
    for currency in set(gross) | set(refunded):
        figures[("revenue_gross", currency)] = gross[currency]
        figures[("revenue_refunds", currency)] = refunded[currency]
        figures[("revenue_net", currency)] = gross[currency] - refunded[currency]
        figures[("platform_fee", currency)] = fees[currency] - refunded[currency] - reversed_[currency]
    return dict(figures)


def test_a_day_equals_an_independent_computation(month):
    rollups.rollup_day(DAY)

    expected = independently(START, END)
    assert stored() == expected
    assert {dimension for metric, dimension in money_rows(expected)} == {"INR", "USD", "EUR"}
    assert sum(stored().get(("consultations_by_state", s), 0) for s in ConsultationState.values) > 0


def test_neighbouring_days_are_their_own(month):
    for day in (DAY - timedelta(days=1), DAY + timedelta(days=1)):
        rollups.rollup_day(day)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        assert stored(day) == independently(start, start + timedelta(days=1))


def test_a_kolkata_day_runs_from_1830_utc_to_1830_utc(month):
    rollups.rollup_day(DAY, KOLKATA)

    assert stored(DAY, "Asia/Kolkata") == independently(KOLKATA_START, KOLKATA_START + timedelta(days=1))
    assert stored(DAY, "Asia/Kolkata") != stored(DAY)  # no UTC rows were written
    assert not DailyRollup.objects.filter(time_zone="UTC").exists()


def test_a_range_of_days_equals_each_day_on_its_own(month):
    days = [DAY - timedelta(days=1), DAY, DAY + timedelta(days=1)]
    rollups.rollup_days(KOLKATA, days[0], days[-1])

    for day in days:
        start = KOLKATA_START + timedelta(days=(day - DAY).days)
        assert stored(day, "Asia/Kolkata") == independently(start, start + timedelta(days=1))


def test_a_day_is_a_utc_day(patient, doctor):
    for at in (START - timedelta(microseconds=1), START, END - timedelta(microseconds=1), END):
        ConsultationFactory(patient=patient, doctor=doctor, scheduled_start=at, state="completed")

    rollups.rollup_day(DAY)

    assert stored()[("consultations_by_state", "completed")] == 2


def test_an_empty_day_stores_zeros_for_every_state_type_and_role():
    rollups.rollup_day(DAY)

    figures = stored()
    assert {(m, d) for (m, d), v in figures.items() if m == "consultations_by_state"} == {
        ("consultations_by_state", s) for s in ConsultationState.values
    }
    assert {d for m, d in figures if m == "consultations_by_type"} == set(ConsultationType.values)
    assert {d for m, d in figures if m == "signups_by_role"} == set(Role.values)
    assert set(figures.values()) == {0}
    assert money_rows(figures) == {}


def test_rolling_a_day_up_again_replaces_its_figures(month, patient, doctor):
    rollups.rollup_day(DAY)
    rows_before = DailyRollup.objects.count()
    rollups.rollup_day(DAY)
    assert DailyRollup.objects.count() == rows_before
    assert stored() == independently(START, END)

    # The day changes: every USD payment moves out of it, a new INR payment comes in.
    Payment.objects.filter(currency="USD").update(succeeded_at=START - timedelta(days=5))
    Refund.objects.filter(payment__currency="USD").update(updated_at=START - timedelta(days=5))
    rng = random.Random(1)
    make_payment(rng, patient, doctor)
    rollups.rollup_day(DAY)

    figures = stored()
    assert figures == independently(START, END)
    assert not [key for key in figures if key[1] == "USD"]


def test_money_from_real_payments_and_a_partial_refund(paid, admin_user, fake_gateway, after_commit):
    with after_commit():
        payments.refund_payment(admin_user, paid, amount=10_000, reason="Goodwill", idempotency_key="r-1")
    paid.refresh_from_db()
    today = timezone.now().astimezone(UTC).date()

    rollups.rollup_day(today)

    reversal = PayoutLedgerEntry.objects.get(kind="refund_reversal").amount
    assert money_rows(stored(today)) == {
        ("revenue_gross", "INR"): FEE,
        ("revenue_refunds", "INR"): 10_000,
        ("revenue_net", "INR"): FEE - 10_000,
        # The doctor gave back their share of the refund; the rest came out of the fee.
        ("platform_fee", "INR"): paid.platform_fee - (10_000 + reversal),
    }
    assert paid.platform_fee - (10_000 + reversal) == 6_000  # 15 % of 500.00, less 15 % of 100.00


def test_the_nightly_run_rolls_up_yesterday_and_the_missing_days(monkeypatch, settings, month):
    settings.ANALYTICS_TIME_ZONES = ["UTC"]
    rollups.rollup_day(DAY - timedelta(days=3))
    monkeypatch.setattr("django.utils.timezone.now", lambda: END + timedelta(hours=1))  # 2 Feb, 01:00 UTC

    first = tasks.nightly_rollup.delay().get()
    second = tasks.nightly_rollup.delay().get()

    week = [DAY - timedelta(days=n) for n in range(6, -1, -1)]
    assert first == {"UTC": [day.isoformat() for day in week if day != DAY - timedelta(days=3)]}
    assert second == {"UTC": [DAY.isoformat()]}  # yesterday, again; the rest is done
    assert stored() == independently(START, END)
    assert set(DailyRollup.objects.values_list("day", flat=True)) == set(week)


def test_the_nightly_run_covers_every_reporting_zone(monkeypatch, settings, month):
    settings.ANALYTICS_TIME_ZONES = ["UTC", "America/New_York"]
    UserFactory(role="admin", timezone="Asia/Kolkata")
    UserFactory(role="patient", timezone="Pacific/Auckland")  # not staff: not a reporting zone
    UserFactory(role="admin", timezone="Europe/Paris", is_active=False)  # deactivated: neither
    monkeypatch.setattr("django.utils.timezone.now", lambda: END + timedelta(hours=1))  # 2 Feb, 01:00 UTC

    done = tasks.nightly_rollup.delay().get()

    assert set(done) == {"America/New_York", "Asia/Kolkata", "UTC"}
    # 01:00 UTC is 06:30 in Kolkata (2 Feb) and 20:00 in New York (still 1 Feb).
    assert done["Asia/Kolkata"][-1] == DAY.isoformat()
    assert done["America/New_York"][-1] == (DAY - timedelta(days=1)).isoformat()
    assert stored(DAY, "Asia/Kolkata") == independently(KOLKATA_START, KOLKATA_START + timedelta(days=1))


def test_a_day_can_be_rolled_up_by_hand():
    tasks.rollup_day.delay(DAY.isoformat()).get()
    tasks.rollup_day.delay(DAY.isoformat(), "Asia/Kolkata").get()

    assert stored()[("signups_by_role", "patient")] == 0
    assert stored(DAY, "Asia/Kolkata")[("signups_by_role", "patient")] == 0
