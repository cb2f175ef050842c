"""Nightly roll-ups: the figures of local calendar days in each reporting time zone, computed by the
database (one grouped query per breakdown over a whole range of days, ``TruncDate`` in the zone)
and stored in ``DailyRollup``. Rolling a day up again replaces its figures.

Why per zone: a day in Asia/Kolkata (+05:30) runs from 18:30 UTC to 18:30 UTC, so it cannot be
rebuilt from UTC days. The zones are ``reporting_zones()``: ``ANALYTICS_TIME_ZONES`` (default UTC)
and the time zones of active staff accounts, whose dashboards default to their own zone.

What a day holds:

- ``consultations_by_state`` / ``consultations_by_type``: consultations scheduled to start that day,
  by their state at roll-up time and by type. Every state and type gets a row, zeros included.
- ``signups_by_role``: accounts created that day, by role (every role, zeros included).
- ``active_users_by_role``: distinct accounts that were issued a token that day (sign-in or
  refresh: simplejwt's ``OutstandingToken.created_at``), by role (every role, zeros included).
- Money, per currency (the dimension), on a cash basis: what moved that day, so a closed day's
  figures do not change later.
  ``revenue_gross``: payments that succeeded that day (``payments.analytics.paid_in``: what was
  charged; a payment refunded later still counts here, its refund counts on the refund's day).
  ``revenue_refunds``: refunds that succeeded that day.
  ``revenue_net``: gross less refunds (negative on a day with more refunded than charged).
  ``platform_fee``: the platform's fee on the day's payments, less the fee part of the day's
  refunds (a refund takes back the doctor's share pro rata, recorded in the payout ledger; the
  rest of it comes out of the fee).
  Currencies without payments or refunds that day get no rows. Disputes are not counted.

Every rolled-up day has count rows (zeros are stored), so "this zone's day has rows" means "this
day was rolled up", whatever its money rows.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from analytics.models import DailyRollup, Metric
from analytics.periods import Window
from clinical.models import Consultation, ConsultationState, ConsultationType
from payments.analytics import paid_in
from payments.models import LedgerKind, PayoutLedgerEntry, Refund, RefundStatus
from telehealth.accounts.models import STAFF_ROLES, Role, User

logger = logging.getLogger("analytics")

# The nightly run also fills any of this many past days that has no figures (a missed night).
BACKFILL_DAYS = 7
UTC_ZONE = ZoneInfo("UTC")

Figures = dict[tuple[str, str], int]
# metric -> day -> dimension -> value
Days = dict[date, dict[str, int]]

COUNT_METRICS: dict[str, list[str]] = {
    Metric.CONSULTATIONS_BY_STATE: ConsultationState.values,
    Metric.CONSULTATIONS_BY_TYPE: ConsultationType.values,
    Metric.SIGNUPS_BY_ROLE: Role.values,
    Metric.ACTIVE_USERS_BY_ROLE: Role.values,
}
MONEY_METRICS = [Metric.REVENUE_GROSS, Metric.REVENUE_REFUNDS, Metric.REVENUE_NET, Metric.PLATFORM_FEE]
# Present on every rolled-up day (zeros are stored): tells a rolled-up day from a missing one.
MARKER_METRIC = Metric.SIGNUPS_BY_ROLE


def day_bounds(day: date, zone: ZoneInfo = UTC_ZONE) -> tuple[datetime, datetime]:
    """Local midnight at the start of ``day`` in ``zone`` and at the start of the next day
    (exclusive), as aware datetimes."""
    window = Window(start=day, end=day, zone=zone, granularity="day")
    return window.start_utc, window.end_utc


def reporting_zones() -> list[ZoneInfo]:
    """``ANALYTICS_TIME_ZONES`` plus the (valid) time zones of active staff accounts, sorted."""
    names = set(settings.ANALYTICS_TIME_ZONES) | set(
        User.objects.filter(role__in=STAFF_ROLES, is_active=True)
        .values_list("timezone", flat=True)
        .distinct()
    )
    zones = []
    for name in sorted(names):
        try:
            zones.append(ZoneInfo(name))
        except (ValueError, KeyError):
            logger.warning("skipping unknown reporting time zone %r", name)
    return zones


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _by_day(queryset: QuerySet, at: str, zone: ZoneInfo, field: str, **sums) -> Iterable[dict]:
    """``queryset`` grouped by local day of ``at`` and ``field``: one query."""
    aggregates = sums or {"n": Count("pk")}
    return (
        queryset.annotate(local_day=TruncDate(at, tzinfo=zone))
        .values("local_day", field)
        .annotate(**aggregates)
        .order_by()
    )


def _count_metric(metric: str, zone: ZoneInfo, start_utc: datetime, end_utc: datetime) -> Iterable[dict]:
    if metric in (Metric.CONSULTATIONS_BY_STATE, Metric.CONSULTATIONS_BY_TYPE):
        scheduled = Consultation.objects.filter(scheduled_start__gte=start_utc, scheduled_start__lt=end_utc)
        field = "state" if metric == Metric.CONSULTATIONS_BY_STATE else "type"
        return (
            {"day": r["local_day"], "dim": r[field], "n": r["n"]}
            for r in _by_day(scheduled, "scheduled_start", zone, field)
        )
    if metric == Metric.SIGNUPS_BY_ROLE:
        joined = User.objects.filter(date_joined__gte=start_utc, date_joined__lt=end_utc)
        return (
            {"day": r["local_day"], "dim": r["role"], "n": r["n"]}
            for r in _by_day(joined, "date_joined", zone, "role")
        )
    tokens = OutstandingToken.objects.filter(
        created_at__gte=start_utc, created_at__lt=end_utc, user__isnull=False
    )
    rows = _by_day(tokens, "created_at", zone, "user__role", n=Count("user", distinct=True))
    return ({"day": r["local_day"], "dim": r["user__role"], "n": r["n"]} for r in rows)


def _money(zone: ZoneInfo, start: date, end: date) -> dict[str, Days]:
    window = Window(start=start, end=end, zone=zone, granularity="day")
    gross: Days = defaultdict(lambda: defaultdict(int))
    fees: Days = defaultdict(lambda: defaultdict(int))
    refunded: Days = defaultdict(lambda: defaultdict(int))
    reversed_shares: Days = defaultdict(lambda: defaultdict(int))
    for row in _by_day(
        paid_in(window), "succeeded_at", zone, "currency", g=Sum("amount"), f=Sum("platform_fee")
    ):
        gross[row["local_day"]][row["currency"]] = row["g"]
        fees[row["local_day"]][row["currency"]] = row["f"]
    # Refund has no succeeded_at; a succeeded refund is never saved again (payments.services, and
    # the admin is read-only), so its updated_at is when it succeeded.
    refunds = Refund.objects.filter(
        status=RefundStatus.SUCCEEDED, updated_at__gte=window.start_utc, updated_at__lt=window.end_utc
    )
    for row in _by_day(refunds, "updated_at", zone, "payment__currency", total=Sum("amount")):
        refunded[row["local_day"]][row["payment__currency"]] = row["total"]
    reversals = PayoutLedgerEntry.objects.filter(kind=LedgerKind.REFUND_REVERSAL, refund__in=refunds)
    for row in _by_day(reversals, "refund__updated_at", zone, "currency", total=Sum("amount")):
        reversed_shares[row["local_day"]][row["currency"]] = row["total"]  # negative: the doctor's

    out: dict[str, Days] = {metric: {} for metric in MONEY_METRICS}
    for day in set(gross) | set(refunded):
        for currency in sorted(set(gross[day]) | set(refunded[day])):
            g, r = gross[day][currency], refunded[day][currency]
            out[Metric.REVENUE_GROSS].setdefault(day, {})[currency] = g
            out[Metric.REVENUE_REFUNDS].setdefault(day, {})[currency] = r
            out[Metric.REVENUE_NET].setdefault(day, {})[currency] = g - r
            # Of each refund, the doctor gives back their share (the reversal); the platform the rest.
            fee_refunded = r + reversed_shares[day][currency]
            out[Metric.PLATFORM_FEE].setdefault(day, {})[currency] = fees[day][currency] - fee_refunded
    return out


def compute_metrics(metrics: Iterable[str], zone: ZoneInfo, start: date, end: date) -> dict[str, Days]:
    """``{metric: {day: {dimension: value}}}`` for every local day from ``start`` to ``end``
    (both included) in ``zone``, live from the data: one grouped query per count metric and three
    for all the money ones, whatever the number of days. Count metrics hold every dimension
    (zeros too); money metrics only the currencies that moved that day."""
    metrics = list(dict.fromkeys(metrics))
    start_utc, end_utc = day_bounds(start, zone)[0], day_bounds(end, zone)[1]
    days = _days(start, end)
    out: dict[str, Days] = {}
    for metric in metrics:
        if metric in COUNT_METRICS:
            table = {day: dict.fromkeys(COUNT_METRICS[metric], 0) for day in days}
            for row in _count_metric(metric, zone, start_utc, end_utc):
                table[row["day"]][row["dim"]] = row["n"]
            out[metric] = table
    money = [metric for metric in metrics if metric in MONEY_METRICS]
    if money:
        moved = _money(zone, start, end)
        for metric in money:
            out[metric] = {day: dict(moved[metric].get(day, {})) for day in days}
    return out


def compute_days(zone: ZoneInfo, start: date, end: date) -> dict[date, Figures]:
    """Every metric of every day from ``start`` to ``end`` in ``zone``, as ``{day: {(metric,
    dimension): value}}`` (see the module docstring)."""
    tables = compute_metrics(list(COUNT_METRICS) + MONEY_METRICS, zone, start, end)
    figures: dict[date, Figures] = {day: {} for day in _days(start, end)}
    for metric, table in tables.items():
        for day, values in table.items():
            for dimension, value in values.items():
                figures[day][(metric, dimension)] = value
    return figures


def compute_day(day: date, zone: ZoneInfo = UTC_ZONE) -> Figures:
    """``{(metric, dimension): value}`` for ``day`` in ``zone``."""
    return compute_days(zone, day, day)[day]


def rollup_days(
    zone: ZoneInfo, start: date, end: date, *, only: Iterable[date] | None = None
) -> dict[date, Figures]:
    """Compute the days from ``start`` to ``end`` in ``zone`` (or just those of them in ``only``)
    and store them, replacing what was stored for them: rows are upserted, and rows a day no
    longer has (a currency with nothing left) are deleted. Safe to run again, and twice at once
    (both write the same figures)."""
    figures = compute_days(zone, start, end)
    if only is not None:
        keep = set(only)
        figures = {day: values for day, values in figures.items() if day in keep}
    now = timezone.now()
    rows = [
        DailyRollup(
            time_zone=zone.key, day=day, metric=metric, dimension=dimension, value=value, computed_at=now
        )
        for day, day_figures in figures.items()
        for (metric, dimension), value in day_figures.items()
    ]
    with transaction.atomic():
        DailyRollup.objects.bulk_create(
            rows,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["time_zone", "day", "metric", "dimension"],
            update_fields=["value", "computed_at"],
        )
        stored = DailyRollup.objects.filter(time_zone=zone.key, day__in=list(figures)).values_list(
            "pk", "day", "metric", "dimension"
        )
        gone = [pk for pk, day, metric, dimension in stored if (metric, dimension) not in figures[day]]
        if gone:
            DailyRollup.objects.filter(pk__in=gone).delete()
    return figures


def rollup_day(day: date, zone: ZoneInfo = UTC_ZONE) -> Figures:
    """One day of ``zone`` (UTC unless told), computed and stored."""
    return rollup_days(zone, day, day)[day]


def days_to_roll_up(today: date, zone: ZoneInfo = UTC_ZONE, backfill_days: int = BACKFILL_DAYS) -> list[date]:
    """Yesterday (in ``zone``), always (its late changes land), and the days before it, up to
    ``backfill_days`` back, that have no figures at all in ``zone``."""
    yesterday = today - timedelta(days=1)
    window = [yesterday - timedelta(days=n) for n in range(backfill_days)]
    done = set(
        DailyRollup.objects.filter(time_zone=zone.key, day__in=window, metric=MARKER_METRIC)
        .order_by()
        .values_list("day", flat=True)
        .distinct()
    )
    return sorted({yesterday} | {day for day in window if day not in done})


def nightly_rollup(
    *, now: datetime | None = None, backfill_days: int = BACKFILL_DAYS
) -> dict[str, list[date]]:
    """For every reporting zone: roll up its yesterday (the local day before ``now``'s, always
    complete) and any missing day of the ``backfill_days`` before. Returns the days per zone.
    A zone's days are computed as one range (its grouped queries cover them all at once)."""
    now = now or timezone.now()
    done: dict[str, list[date]] = {}
    for zone in reporting_zones():
        days = days_to_roll_up(now.astimezone(zone).date(), zone, backfill_days)
        rollup_days(zone, days[0], days[-1], only=days)
        done[zone.key] = days
        logger.info("rolled up %s: %s", zone.key, ", ".join(day.isoformat() for day in days))
    return done


def local_today(zone: ZoneInfo) -> date:
    return timezone.now().astimezone(zone).date()
