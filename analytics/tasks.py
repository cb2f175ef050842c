"""The nightly roll-up (beat: 01:00 UTC). Re-running it, or a redelivered message, rewrites the
same figures."""

from __future__ import annotations

from datetime import date

from celery import shared_task
from django.db import InterfaceError, OperationalError

from analytics import rollups


@shared_task(
    name="analytics.nightly_rollup",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=60,
    retry_backoff_max=1800,
    retry_jitter=True,
    max_retries=6,
)
def nightly_rollup() -> list[str]:
    """Yesterday (UTC) and any day of the week before it that has no figures yet."""
    return [day.isoformat() for day in rollups.nightly_rollup()]


@shared_task(name="analytics.rollup_day", acks_late=True)
def rollup_day(day: str) -> None:
    """One day again, by hand: ``rollup_day.delay("2025-03-01")``."""
    rollups.rollup_day(date.fromisoformat(day))
