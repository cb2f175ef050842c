"""Nightly roll-ups: the figures of one UTC day, computed by the database (one aggregate query per
breakdown) and stored in ``DailyRollup``. Rolling a day up again replaces its figures.

What a day holds:

- ``consultations_by_state`` / ``consultations_by_type``: consultations scheduled to start that day,
  by their state at roll-up time and by type. Every state and type gets a row, zeros included.
- ``signups_by_role``: accounts created that day, by role (every role, zeros included).
- Money, per currency (the dimension), on a cash basis: what moved that day, so a closed day's
  figures do not change later.
  ``revenue_gross``: payments that succeeded that day (what was charged; a payment refunded
  later still counts here, its refund counts on the refund's day).
  ``revenue_refunds``: refunds that succeeded that day.
  ``revenue_net``: gross less refunds (negative on a day with more refunded than charged).
  ``platform_fee``: the platform's fee on the day's payments, less the fee part of the day's
  refunds (a refund takes back the doctor's share pro rata, recorded in the payout ledger; the
  rest of it comes out of the fee).
  Currencies without payments or refunds that day get no rows. Disputes are not counted.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from analytics.models import DailyRollup, Metric
from clinical.models import Consultation, ConsultationState, ConsultationType
from payments.models import PAID_STATUSES, LedgerKind, Payment, PayoutLedgerEntry, Refund, RefundStatus
from telehealth.accounts.models import Role, User

logger = logging.getLogger("analytics")

# The nightly run also fills any of this many past days that has no figures (a missed night).
BACKFILL_DAYS = 7

Figures = dict[tuple[str, str], int]


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """UTC midnight at the start of ``day`` and at the start of the next day (exclusive)."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _counts(queryset, field: str, metric: str, every: list[str]) -> Figures:
    figures = {(metric, value): 0 for value in every}
    for row in queryset.values(field).annotate(n=Count("pk")).order_by():
        figures[(metric, row[field])] = row["n"]
    return figures


def _money(day: date) -> Figures:
    start, end = day_bounds(day)
    gross: dict[str, int] = defaultdict(int)
    fees: dict[str, int] = defaultdict(int)
    refunded: dict[str, int] = defaultdict(int)
    reversed_shares: dict[str, int] = defaultdict(int)
    paid = Payment.objects.filter(status__in=PAID_STATUSES, succeeded_at__gte=start, succeeded_at__lt=end)
    for row in paid.values("currency").annotate(gross=Sum("amount"), fees=Sum("platform_fee")).order_by():
        gross[row["currency"]], fees[row["currency"]] = row["gross"], row["fees"]
    # Refund has no succeeded_at; a succeeded refund is never saved again (payments.services, and
    # the admin is read-only), so its updated_at is when it succeeded.
    refunds = Refund.objects.filter(status=RefundStatus.SUCCEEDED, updated_at__gte=start, updated_at__lt=end)
    for row in refunds.values("payment__currency").annotate(total=Sum("amount")).order_by():
        refunded[row["payment__currency"]] = row["total"]
    reversals = PayoutLedgerEntry.objects.filter(kind=LedgerKind.REFUND_REVERSAL, refund__in=refunds)
    for row in reversals.values("currency").annotate(total=Sum("amount")).order_by():
        reversed_shares[row["currency"]] = row["total"]  # negative: taken back from the doctor

    figures: Figures = {}
    for currency in sorted(set(gross) | set(refunded)):
        figures[(Metric.REVENUE_GROSS, currency)] = gross[currency]
        figures[(Metric.REVENUE_REFUNDS, currency)] = refunded[currency]
        figures[(Metric.REVENUE_NET, currency)] = gross[currency] - refunded[currency]
        # Of each refund, the doctor gives back their share (the reversal); the platform the rest.
        fee_refunded = refunded[currency] + reversed_shares[currency]
        figures[(Metric.PLATFORM_FEE, currency)] = fees[currency] - fee_refunded
    return figures


def compute_day(day: date) -> Figures:
    """``{(metric, dimension): value}`` for ``day``, as described in the module docstring."""
    start, end = day_bounds(day)
    scheduled = Consultation.objects.filter(scheduled_start__gte=start, scheduled_start__lt=end)
    joined = User.objects.filter(date_joined__gte=start, date_joined__lt=end)
    return {
        **_counts(scheduled, "state", Metric.CONSULTATIONS_BY_STATE, ConsultationState.values),
        **_counts(scheduled, "type", Metric.CONSULTATIONS_BY_TYPE, ConsultationType.values),
        **_counts(joined, "role", Metric.SIGNUPS_BY_ROLE, Role.values),
        **_money(day),
    }


def rollup_day(day: date) -> Figures:
    """Compute ``day`` and store it, replacing what was stored for it: rows are upserted, and rows
    the day no longer has (a currency with nothing left) are deleted. Safe to run again, and twice
    at once (both write the same figures)."""
    figures = compute_day(day)
    now = timezone.now()
    rows = [
        DailyRollup(day=day, metric=metric, dimension=dimension, value=value, computed_at=now)
        for (metric, dimension), value in figures.items()
    ]
    with transaction.atomic():
        DailyRollup.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["day", "metric", "dimension"],
            update_fields=["value", "computed_at"],
        )
        stored = DailyRollup.objects.filter(day=day).values_list("pk", "metric", "dimension")
        gone = [pk for pk, metric, dimension in stored if (metric, dimension) not in figures]
        if gone:
            DailyRollup.objects.filter(pk__in=gone).delete()
    return figures


def days_to_roll_up(today: date, backfill_days: int = BACKFILL_DAYS) -> list[date]:
    """Yesterday, always (its late changes land), and the days before it, up to ``backfill_days``
    back, that have no figures at all. Every rolled-up day has rows: the counts store zeros."""
    yesterday = today - timedelta(days=1)
    window = [yesterday - timedelta(days=n) for n in range(backfill_days)]
    done = set(DailyRollup.objects.filter(day__in=window).order_by().values_list("day", flat=True).distinct())
    return sorted({yesterday} | {day for day in window if day not in done})


def nightly_rollup(*, now: datetime | None = None, backfill_days: int = BACKFILL_DAYS) -> list[date]:
    """Roll up yesterday (UTC) and any missing day of the ``backfill_days`` before; returns the
    days rolled up."""
    now = now or timezone.now()
    days = days_to_roll_up(now.astimezone(UTC).date(), backfill_days)
    for day in days:
        rollup_day(day)
    logger.info("rolled up %s", ", ".join(day.isoformat() for day in days))
    return days
