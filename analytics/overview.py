"""The staff overview figures: the live dashboard, user growth with cohort retention, and
consultation statistics. Every figure is aggregated by the database; Python only shapes the few
aggregated rows. Daily series come from ``analytics.history`` (roll-ups for past days, live for
the rest).

Time zones: a window's ``from``/``to`` are calendar days in ``window.zone`` (the ``tz`` asked for,
else the admin's profile zone), from local midnight to local midnight; periods and the heatmap's
hours are local too. The dashboard's "today" and "month" are the admin's (or ``tz``'s) local
today and the calendar month up to and including it.

Definitions:

- Active user (in a period): a distinct account that was issued a token in it, i.e. signed in or
  refreshed its session (``OutstandingToken.created_at``). Consultations are not counted: joining
  one needs a session anyway. Distinct counts do not add up, so each period's figure, and the
  window's total, is counted over the whole period (day periods come from the roll-ups).
- Booking (for retention): a consultation that was not cancelled and is not the replacement of a
  rescheduled one (``rescheduled_from`` empty), dated by when it was booked (``created_at``).
  A patient's cohort is the local period of their first booking ever; the cohort is those whose
  first booking falls in the window. ``rebooked_N``: another booking made more than zero and at
  most N days after the first. A patient counts towards N (``eligible_N``) only once N days have
  passed since their first booking, so young cohorts do not drag the rates down;
  ``rebooked_within[N] = sum(rebooked_N) / sum(eligible_N)``.
- Consultations: those scheduled to start in the window, whatever their state. A consultation
  whose doctor has several specialisations counts once under each (so ``by_specialisation`` may
  add up to more than ``total``); one whose doctor has none is under ``null``.
- Rates: out of the consultations with an outcome (completed, cancelled or no-show; upcoming,
  ongoing and rescheduled ones have none): ``completion``, ``cancellation``, ``no_show``.
- Heatmap: all 168 cells (weekday 0 = Monday .. 6, hour 0-23 of the local ``scheduled_start``),
  zeros included.
- Average duration: ``ended_at - started_at`` of completed consultations; average wait:
  ``started_at - waiting_since`` of those that waited and started. In minutes, 2 decimals.
- Active consultations right now: consultations waiting or in progress whose room has at least
  one presence entry that is not stale (``signaling.presence``): someone is really there.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import (
    Avg,
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from analytics import history, rollups
from analytics.models import Metric
from analytics.periods import TRUNCATE, Window, rate
from clinical.models import (
    Consultation,
    ConsultationState,
    DoctorProfile,
    Review,
    VerificationStatus,
)
from signaling.presence import get_presence, is_stale
from telehealth.accounts.models import Role, User

RETENTION_DAYS = (30, 60, 90)
LIVE_STATES = (ConsultationState.WAITING, ConsultationState.IN_PROGRESS)
OUTCOME_STATES = (ConsultationState.COMPLETED, ConsultationState.CANCELLED, ConsultationState.NO_SHOW)
MINUTE_DIGITS = 2


def _local_day(value: datetime | date, zone: ZoneInfo) -> date:
    if isinstance(value, datetime):
        return (value.astimezone(zone) if value.tzinfo else value).date()
    return value


def _minutes(value: timedelta | float | None) -> float | None:
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else value / 1_000_000
    return round(seconds / 60, MINUTE_DIGITS)


# --- Dashboard -------------------------------------------------------------------------------------


def today_window(zone: ZoneInfo) -> Window:
    today = rollups.local_today(zone)
    return Window(start=today, end=today, zone=zone, granularity="day")


def month_window(zone: ZoneInfo) -> Window:
    today = rollups.local_today(zone)
    return Window(start=today.replace(day=1), end=today, zone=zone, granularity="day")


def _revenue(window: Window) -> list[dict[str, Any]]:
    """Per currency: payments that succeeded in the window, refunds that succeeded in it, and the
    difference (``analytics.rollups`` money definitions: ``payments.analytics.paid_in`` and
    succeeded refunds)."""
    values = history.daily_values_many([Metric.REVENUE_GROSS, Metric.REVENUE_REFUNDS], window)
    gross = history.totals(values[Metric.REVENUE_GROSS])
    refunds = history.totals(values[Metric.REVENUE_REFUNDS])
    return [
        {
            "currency": currency,
            "gross": gross.get(currency, 0),
            "refunds": refunds.get(currency, 0),
            "net": gross.get(currency, 0) - refunds.get(currency, 0),
        }
        for currency in sorted(set(gross) | set(refunds))
    ]


def dashboard_figures(zone: ZoneInfo) -> dict[str, Any]:
    """Everything on the dashboard but the live room count (see ``active_consultations``)."""
    today = today_window(zone)
    users = dict.fromkeys(Role.values, 0)
    for row in User.objects.filter(is_active=True).values("role").annotate(n=Count("pk")).order_by():
        users[row["role"]] = row["n"]
    day = history.daily_values_many([Metric.CONSULTATIONS_BY_STATE, Metric.SIGNUPS_BY_ROLE], today)
    ratings = Review.objects.aggregate(average=Avg("rating"), count=Count("pk"))
    average = ratings["average"]
    return {
        "time_zone": zone.key,
        "generated_at": timezone.now(),
        "today": today.start.isoformat(),
        "users_by_role": users,
        "consultations_today": day[Metric.CONSULTATIONS_BY_STATE][today.start],
        "revenue_today": _revenue(today),
        "revenue_month_to_date": _revenue(month_window(zone)),
        "new_signups_today": day[Metric.SIGNUPS_BY_ROLE][today.start],
        "pending_doctor_verifications": DoctorProfile.objects.filter(
            verification_status=VerificationStatus.PENDING
        ).count(),
        "average_rating": round(float(average), 2) if average is not None else None,
        "rating_count": ratings["count"],
    }


def active_consultations() -> int:
    """Consultations waiting or in progress whose room holds someone right now: at least one
    presence entry that is not stale. One presence read per such room (rooms are keyed by
    consultation id); the database only lists the candidates."""
    presence = get_presence()
    candidates = Consultation.objects.filter(state__in=LIVE_STATES).values_list("pk", flat=True)
    return sum(
        1
        for pk in candidates
        if any(not is_stale(entry) for entry in presence.entries_sync(str(pk)).values())
    )


# --- User growth -------------------------------------------------------------------------------------


def _active_by_period(window: Window, role: str | None) -> tuple[dict[date, dict[str, int]], dict[str, int]]:
    tokens = OutstandingToken.objects.filter(
        created_at__gte=window.start_utc, created_at__lt=window.end_utc, user__isnull=False
    )
    if role:
        tokens = tokens.filter(user__role=role)
    distinct = Count("user", distinct=True)
    total = {
        row["user__role"]: row["n"] for row in tokens.values("user__role").annotate(n=distinct).order_by()
    }
    if window.granularity == "day":
        days = history.daily_values(Metric.ACTIVE_USERS_BY_ROLE, window)
        return dict(days.items()), total
    trunc = TRUNCATE[window.granularity]("created_at", tzinfo=window.zone)
    periods: dict[date, dict[str, int]] = {start: {} for start in window.periods()}
    for row in tokens.annotate(period=trunc).values("period", "user__role").annotate(n=distinct).order_by():
        periods[_local_day(row["period"], window.zone)][row["user__role"]] = row["n"]
    return periods, total


def bookings() -> QuerySet[Consultation]:
    """What counts as a booking for retention (see the module docstring)."""
    return Consultation.objects.exclude(state=ConsultationState.CANCELLED).filter(
        rescheduled_from__isnull=True
    )


def retention(window: Window) -> dict[str, Any]:
    """Cohorts of patients by the local period of their first booking, and how many booked again
    within 30/60/90 days (see the module docstring). One grouped query."""
    now = timezone.now()
    first = Subquery(
        bookings().filter(patient=OuterRef("pk")).order_by("created_at").values("created_at")[:1],
        output_field=DateTimeField(),
    )
    second = Subquery(
        bookings()
        .filter(patient=OuterRef("pk"), created_at__gt=OuterRef("first"))
        .order_by("created_at")
        .values("created_at")[:1],
        output_field=DateTimeField(),
    )
    aggregates: dict[str, Any] = {"patients": Count("pk")}
    for days in RETENTION_DAYS:
        old_enough = Q(first__lte=now - timedelta(days=days))
        aggregates[f"eligible_{days}"] = Count("pk", filter=old_enough)
        aggregates[f"rebooked_{days}"] = Count(
            "pk", filter=old_enough & Q(second__lte=F("first") + timedelta(days=days))
        )
    rows = (
        User.objects.filter(role=Role.PATIENT)
        .annotate(first=first)
        .filter(first__gte=window.start_utc, first__lt=window.end_utc)
        .annotate(second=second, period=TRUNCATE[window.granularity]("first", tzinfo=window.zone))
        .values("period")
        .annotate(**aggregates)
        .order_by()
    )
    empty = {"patients": 0} | {f"{kind}_{d}": 0 for d in RETENTION_DAYS for kind in ("rebooked", "eligible")}
    cohorts: dict[date, dict[str, int]] = {start: dict(empty) for start in window.periods()}
    for row in rows:
        cohorts[_local_day(row["period"], window.zone)] = {key: row[key] for key in empty}
    sums = {key: sum(cohort[key] for cohort in cohorts.values()) for key in empty}
    return {
        "cohort_size": sums["patients"],
        "rebooked_within": {
            str(d): rate(sums[f"rebooked_{d}"], sums[f"eligible_{d}"]) for d in RETENTION_DAYS
        },
        "eligible": {str(d): sums[f"eligible_{d}"] for d in RETENTION_DAYS},
        "cohorts": [{"period": start.isoformat(), **values} for start, values in cohorts.items()],
    }


def user_growth(window: Window, role: str | None = None) -> dict[str, Any]:
    """Sign-ups and active users per period and role, their totals, and patients' retention."""
    roles = [role] if role else Role.values
    signups_days = history.daily_values(Metric.SIGNUPS_BY_ROLE, window)
    signups = history.per_period(signups_days, window)
    signup_totals = history.totals(signups_days)
    active, active_totals = _active_by_period(window, role)

    def pick(values: dict[str, int]) -> dict[str, int]:
        return {r: values.get(r, 0) for r in roles}

    return {
        "series": [
            {
                "period": start.isoformat(),
                "signups": pick(signups[start]),
                "active": pick(active.get(start, {})),
            }
            for start in window.periods()
        ],
        "totals": {"signups": pick(signup_totals), "active": pick(active_totals)},
        "retention": retention(window),
    }


# --- Consultations -----------------------------------------------------------------------------------


def consultation_stats(window: Window) -> dict[str, Any]:
    """Volume, breakdowns, heatmap, outcome rates and timings of the consultations scheduled to
    start in the window (see the module docstring)."""
    values = history.daily_values_many([Metric.CONSULTATIONS_BY_STATE, Metric.CONSULTATIONS_BY_TYPE], window)
    by_state_days = values[Metric.CONSULTATIONS_BY_STATE]
    per_period = history.per_period(by_state_days, window)
    by_state = history.totals(by_state_days)
    by_type = history.totals(values[Metric.CONSULTATIONS_BY_TYPE])
    total = sum(by_state.values())

    scheduled = Consultation.objects.filter(
        scheduled_start__gte=window.start_utc, scheduled_start__lt=window.end_utc
    )
    by_specialisation = sorted(
        scheduled.values(name=F("doctor__doctor_profile__specialisations__name"))
        .annotate(count=Count("pk"))
        .order_by(),
        key=lambda row: (-row["count"], row["name"] is None, row["name"] or ""),
    )
    cells = {(weekday, hour): 0 for weekday in range(7) for hour in range(24)}
    heat = (
        scheduled.annotate(
            weekday=ExtractIsoWeekDay("scheduled_start", tzinfo=window.zone),
            hour=ExtractHour("scheduled_start", tzinfo=window.zone),
        )
        .values("weekday", "hour")
        .annotate(count=Count("pk"))
        .order_by()
    )
    for row in heat:
        cells[(row["weekday"] - 1, row["hour"])] = row["count"]

    timings = scheduled.aggregate(
        duration=Avg(
            ExpressionWrapper(F("ended_at") - F("started_at"), output_field=DurationField()),
            filter=Q(state=ConsultationState.COMPLETED, started_at__isnull=False, ended_at__isnull=False),
        ),
        wait=Avg(
            ExpressionWrapper(F("started_at") - F("waiting_since"), output_field=DurationField()),
            filter=Q(waiting_since__isnull=False, started_at__isnull=False),
        ),
    )
    concluded = sum(by_state.get(state, 0) for state in OUTCOME_STATES)
    return {
        "total": total,
        "series": [
            {"period": start.isoformat(), "count": sum(v.values())} for start, v in per_period.items()
        ],
        "by_type": sorted(
            ({"type": key, "count": n} for key, n in by_type.items()), key=lambda r: (-r["count"], r["type"])
        ),
        "by_state": sorted(
            ({"state": key, "count": n} for key, n in by_state.items()),
            key=lambda r: (-r["count"], r["state"]),
        ),
        "by_specialisation": [
            {"specialisation": row["name"], "count": row["count"]} for row in by_specialisation
        ],
        "heatmap": [
            {"weekday": weekday, "hour": hour, "count": n} for (weekday, hour), n in sorted(cells.items())
        ],
        "concluded": concluded,
        "rates": {
            "completion": rate(by_state.get(ConsultationState.COMPLETED, 0), concluded),
            "cancellation": rate(by_state.get(ConsultationState.CANCELLED, 0), concluded),
            "no_show": rate(by_state.get(ConsultationState.NO_SHOW, 0), concluded),
        },
        "average_duration_minutes": _minutes(timings["duration"]),
        "average_wait_minutes": _minutes(timings["wait"]),
    }
