"""Date windows for figures: calendar days in a time zone, cut into days, weeks (from Monday) or
months. ``from`` starts at local midnight and ``to`` is included up to the next local midnight;
each period is labelled with its first (local) day. Shared by every analytics endpoint and the
payments figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models.functions import TruncDay, TruncMonth, TruncWeek

TRUNCATE = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}
# The most periods one answer may hold: a year of days, five years of weeks, ten years of months.
MAX_PERIODS = {"day": 366, "week": 262, "month": 120}
RATE_DIGITS = 4


@dataclass(frozen=True)
class Window:
    start: date  # first day, inclusive
    end: date  # last day, inclusive
    zone: ZoneInfo
    granularity: str  # "day" | "week" | "month"

    @property
    def start_utc(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=self.zone).astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        """Exclusive: local midnight after the last day."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=self.zone).astimezone(UTC)

    def periods(self) -> list[date]:
        """The first day of every period that overlaps the window, in order."""
        first = period_start(self.start, self.granularity)
        out = []
        current = first
        while current <= self.end:
            out.append(current)
            current = next_period(current, self.granularity)
        return out


def period_start(day: date, granularity: str) -> date:
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def next_period(start: date, granularity: str) -> date:
    if granularity == "week":
        return start + timedelta(days=7)
    if granularity == "month":
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return start + timedelta(days=1)


def count_periods(start: date, end: date, granularity: str) -> int:
    first, last = period_start(start, granularity), period_start(end, granularity)
    if granularity == "month":
        return (last.year - first.year) * 12 + last.month - first.month + 1
    return (last - first).days // (7 if granularity == "week" else 1) + 1


def rate(part: int, whole: int) -> float:
    """``part / whole`` rounded to ``RATE_DIGITS`` (0.0 when there is nothing to divide)."""
    return round(part / whole, RATE_DIGITS) if whole else 0.0
