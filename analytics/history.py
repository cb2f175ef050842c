"""The reader of daily figures over a window: complete past days come from the nightly roll-ups of
the window's own time zone, the rest (today, later days, days or zones never rolled up) is
computed live, in one grouped query per metric whatever the number of days. So a year's range
costs the same few queries as a week's, and the answer is the same either way.

A rolled-up day shows the data as it was at roll-up time (yesterday is rolled up again every
night); consultation states that change days later are seen live only after a new roll-up.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from analytics import rollups
from analytics.models import DailyRollup
from analytics.periods import Window, period_start

Days = dict[date, dict[str, int]]


def daily_values_many(metrics: Iterable[str], window: Window) -> dict[str, Days]:
    """``{metric: {day: {dimension: value}}}`` for every local day of ``window``: one query for the
    roll-ups, plus the live queries for the days they do not cover."""
    metrics = list(dict.fromkeys(metrics))
    zone = window.zone
    today = rollups.local_today(zone)
    past_end = min(window.end, today - timedelta(days=1))
    out: dict[str, Days] = {metric: {} for metric in metrics}
    covered: set[date] = set()
    if window.start <= past_end:
        rows = DailyRollup.objects.filter(
            time_zone=zone.key,
            day__gte=window.start,
            day__lte=past_end,
            metric__in=[*metrics, rollups.MARKER_METRIC],
        ).values_list("day", "metric", "dimension", "value")
        stored: dict[str, Days] = {metric: {} for metric in [*metrics, rollups.MARKER_METRIC]}
        for day, metric, dimension, value in rows:
            stored[metric].setdefault(day, {})[dimension] = value
        covered = set(stored[rollups.MARKER_METRIC])
        for metric in metrics:
            defaults = rollups.COUNT_METRICS.get(metric, [])
            for day in covered:
                out[metric][day] = {**dict.fromkeys(defaults, 0), **stored[metric].get(day, {})}

    missing = [day for day in _days(window.start, window.end) if day not in covered]
    if missing:
        live = rollups.compute_metrics(metrics, zone, missing[0], missing[-1])
        for metric in metrics:
            for day in missing:
                out[metric][day] = live[metric][day]
    return {metric: dict(sorted(days.items())) for metric, days in out.items()}


def daily_values(metric: str, window: Window) -> Days:
    """``{day: {dimension: value}}`` of ``metric`` for every local day of ``window`` (see
    ``daily_values_many``). Count metrics hold every dimension; money metrics only the currencies
    that moved that day."""
    return daily_values_many([metric], window)[metric]


def per_period(days: Days, window: Window) -> dict[date, dict[str, int]]:
    """Daily values added up into the window's periods (only for additive figures: counts of
    events and money, never distinct users)."""
    periods: dict[date, dict[str, int]] = {start: {} for start in window.periods()}
    for day, values in days.items():
        bucket = periods[period_start(day, window.granularity)]
        for dimension, value in values.items():
            bucket[dimension] = bucket.get(dimension, 0) + value
    return periods


def totals(days: Days) -> dict[str, int]:
    """Daily values added up over the whole window (additive figures only)."""
    out: dict[str, int] = {}
    for values in days.values():
        for dimension, value in values.items():
            out[dimension] = out.get(dimension, 0) + value
    return out


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]
