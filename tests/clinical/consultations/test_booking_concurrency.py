"""Many patients race for one slot on PostgreSQL: exactly one booking, everyone else a clear 409."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from rest_framework.test import APIClient

from clinical.consultations import selectors
from clinical.models import ACTIVE_STATES, Consultation
from telehealth.accounts.services import issue_tokens
from tests.clinical.consultations.conftest import SLOT, URL, with_hours
from tests.factories import DoctorProfileFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

RACERS = 10


def race(clients: list[APIClient], payload_for) -> list[tuple[int, dict]]:
    """Each client sends its request at the same moment, on its own connection."""
    barrier = threading.Barrier(len(clients))
    results: list[tuple[int, dict]] = [None] * len(clients)  # type: ignore[list-item]

    def run(index: int, client: APIClient) -> None:
        try:
            barrier.wait()
            response = client.post(URL, payload_for(index), format="json")
            results[index] = (response.status_code, response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.fixture
def bookable_doctor():
    profile = DoctorProfileFactory(slot_minutes=30)
    with_hours(profile)
    return profile.user


@pytest.fixture
def racers() -> list[APIClient]:
    clients = []
    for _ in range(RACERS):
        client = APIClient()
        token = issue_tokens(UserFactory(role="patient"))["access"]
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        clients.append(client)
    return clients


def assert_exactly_one_winner(results, doctor) -> None:
    statuses = Counter(status for status, _ in results)
    assert statuses == {201: 1, 409: RACERS - 1}, results
    losers = [body["error"] for status, body in results if status == 409]
    assert {e["code"] for e in losers} == {"SLOT_TAKEN"}
    assert all(e["details"]["doctor"] == str(doctor.pk) for e in losers)
    active = Consultation.objects.filter(doctor=doctor, scheduled_start=SLOT, state__in=ACTIVE_STATES)
    assert active.count() == 1
    winner = next(body["data"] for status, body in results if status == 201)
    assert str(active.get().pk) == winner["id"]


def test_racing_bookings_for_one_slot_make_exactly_one(bookable_doctor, racers):
    payload = {"doctor": str(bookable_doctor.pk), "scheduled_start": SLOT.isoformat(), "type": "video"}

    results = race(racers, lambda _: payload)

    assert_exactly_one_winner(results, bookable_doctor)


def test_the_database_constraint_alone_prevents_double_booking(bookable_doctor, racers, monkeypatch):
    # Without the friendly pre-check every racer reaches the INSERT: only the constraint stops them.
    monkeypatch.setattr(selectors, "slot_is_taken", lambda *args: False)
    payload = {"doctor": str(bookable_doctor.pk), "scheduled_start": SLOT.isoformat(), "type": "video"}

    results = race(racers, lambda _: payload)

    assert_exactly_one_winner(results, bookable_doctor)
    assert Consultation.objects.count() == 1
