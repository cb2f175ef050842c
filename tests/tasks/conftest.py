"""Fixtures of the scheduled jobs: a fixed clock, bookings between the cast's ``patient`` and
``doctor``, and the payments fixtures (``paid``, ``after_commit``, fake gateways) for no-shows.

The jobs take ``now`` explicitly; tests call them at the times they need, never sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from clinical.models import Consultation
from telehealth.notifications.models import Notification
from tests.factories import ConsultationFactory

# The payments fixtures, shared rather than copied: a paid booking at tests.payments.conftest.SLOT.
from tests.payments.conftest import (  # noqa: F401
    after_commit,
    awaiting_payment,
    doctor_profile,
    fake_gateway,
    fake_gateways,
    make_booking,
    paid,
    pending_payment,
)

NOW = datetime(2030, 3, 4, 10, 0, tzinfo=UTC)


@pytest.fixture
def booking(patient, doctor) -> Callable[..., Consultation]:
    """``booking(start, state="scheduled", booked=...)``: ``patient`` with ``doctor``, booked three
    days before ``NOW`` unless ``booked`` says when."""

    def make(start: datetime, state: str = "scheduled", booked: datetime | None = None, **fields):
        fields.setdefault("patient", patient)
        fields.setdefault("doctor", doctor)
        return ConsultationFactory(
            scheduled_start=start,
            state=state,
            created_at=booked or NOW - timedelta(days=3),
            **fields,
        )

    return make


def received(user, kind: str | None = None) -> list[Notification]:
    notifications = Notification.objects.filter(recipient=user).order_by("pk")
    return list(notifications.filter(kind=kind) if kind else notifications)


def run_at_once(job: Callable[[], Any], copies: int = 2) -> list[Any]:
    """Run ``job`` on ``copies`` threads released together, each on its own database connection."""
    barrier = threading.Barrier(copies)
    results: list[Any] = [None] * copies
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = job()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors
    return results
