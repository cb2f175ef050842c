"""The nightly roll-up (beat: 01:00 UTC), per reporting time zone: each zone's yesterday is a
complete local day at any hour. Re-running it, or a redelivered message, rewrites the same
figures."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from celery import shared_task
from django.db import InterfaceError, OperationalError

from analytics import rollups
from analytics.report_tasks import run_report  # noqa: F401 - workers discover only <app>.tasks


@shared_task(
    name="analytics.nightly_rollup",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=60,
    retry_backoff_max=1800,
    retry_jitter=True,
    max_retries=6,
)
def nightly_rollup() -> dict[str, list[str]]:
    """In every reporting time zone: its yesterday and any day of the week before it that has no
    figures yet. Returns ``{zone: [day, ...]}``."""
    return {zone: [day.isoformat() for day in days] for zone, days in rollups.nightly_rollup().items()}


@shared_task(name="analytics.rollup_day", acks_late=True)
def rollup_day(day: str, time_zone: str = "UTC") -> None:
    """One day again, by hand: ``rollup_day.delay("2025-03-01", "Asia/Kolkata")``."""
    rollups.rollup_day(date.fromisoformat(day), ZoneInfo(time_zone))
