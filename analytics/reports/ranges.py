"""Date ranges of a report: relative (``last_30_days``) or absolute (``custom`` with from/to),
resolved to calendar days in the report's time zone on the day a run is requested."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import models
from django.utils import timezone

from analytics.periods import MAX_PERIODS, count_periods

# The longest custom range, whatever the granularity (periods are capped separately).
MAX_RANGE_DAYS = 3660


class DateRange(models.TextChoices):
    TODAY = "today", "Today"
    YESTERDAY = "yesterday", "Yesterday"
    LAST_7_DAYS = "last_7_days", "The last 7 days, today included"
    LAST_30_DAYS = "last_30_days", "The last 30 days, today included"
    LAST_90_DAYS = "last_90_days", "The last 90 days, today included"
    THIS_WEEK = "this_week", "This week (from Monday) up to today"
    LAST_WEEK = "last_week", "Last week (Monday to Sunday)"
    THIS_MONTH = "this_month", "This month up to today"
    LAST_MONTH = "last_month", "Last month"
    THIS_YEAR = "this_year", "This year up to today"
    LAST_YEAR = "last_year", "Last year"
    CUSTOM = "custom", "From date_from to date_to, both included"


def resolve_dates(
    kind: str, date_from: date | None, date_to: date | None, zone: ZoneInfo, *, now: datetime | None = None
) -> tuple[date, date]:
    """First and last day (both included) of the range, ``today`` being today in ``zone``."""
    today = (now or timezone.now()).astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    first_of_month = today.replace(day=1)
    last_month_end = first_of_month - timedelta(days=1)
    match kind:
        case DateRange.TODAY:
            return today, today
        case DateRange.YESTERDAY:
            return today - timedelta(days=1), today - timedelta(days=1)
        case DateRange.LAST_7_DAYS:
            return today - timedelta(days=6), today
        case DateRange.LAST_30_DAYS:
            return today - timedelta(days=29), today
        case DateRange.LAST_90_DAYS:
            return today - timedelta(days=89), today
        case DateRange.THIS_WEEK:
            return monday, today
        case DateRange.LAST_WEEK:
            return monday - timedelta(days=7), monday - timedelta(days=1)
        case DateRange.THIS_MONTH:
            return first_of_month, today
        case DateRange.LAST_MONTH:
            return last_month_end.replace(day=1), last_month_end
        case DateRange.THIS_YEAR:
            return today.replace(month=1, day=1), today
        case DateRange.LAST_YEAR:
            return date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)
        case DateRange.CUSTOM:
            if date_from is None or date_to is None:
                raise ValueError("A custom range needs date_from and date_to.")
            return date_from, date_to
    raise ValueError(f"Unknown range {kind!r}.")


def range_problems(start: date, end: date, granularity: str, *, by_period: bool) -> list[str]:
    """Why a range cannot be reported on (empty when it can)."""
    if start > end:
        return ["date_from must not be after date_to."]
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        return [f"At most {MAX_RANGE_DAYS} days."]
    if by_period and count_periods(start, end, granularity) > MAX_PERIODS[granularity]:
        return [f"At most {MAX_PERIODS[granularity]} periods of a {granularity}: use a coarser granularity."]
    return []
