"""Two requests with one key at the same moment on PostgreSQL: one runs, the other is told to wait."""

from __future__ import annotations

import queue
import threading

import pytest
from django.db import connection

from tests.idempotency.conftest import CHARGE

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.idempotency.urls"),
]

SLOW = "/api/test-idem/slow/"


def test_concurrent_requests_with_one_key_run_once(patient, client_for, key, runs):
    clients = [client_for(patient), client_for(patient)]
    barrier = threading.Barrier(len(clients))
    finished: queue.Queue[tuple[int, dict]] = queue.Queue()

    def send(client) -> None:
        try:
            barrier.wait()
            response = client.post(SLOW, {"amount": 5}, format="json", HTTP_IDEMPOTENCY_KEY=key)
            finished.put((response.status_code, response.json(), response.get("Retry-After")))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    try:
        # The winner waits inside the view, holding the key, so whoever answers first lost the race.
        status, body, retry_after = finished.get(timeout=30)
        assert status == 409, body
        assert body["error"]["code"] == "IDEMPOTENCY_KEY_IN_PROGRESS"
        assert retry_after == "1"
        assert runs.entered.is_set()
    finally:
        runs.release.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)

    status, body, _ = finished.get_nowait()
    assert status == 201
    assert body["data"] == {"run": 1}
    assert runs.count == 1

    replay = clients[0].post(SLOW, {"amount": 5}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["data"] == {"run": 1}
    assert runs.count == 1


def test_racing_claims_leave_exactly_one_in_progress_record(patient, key):
    """The unique constraint alone decides: many threads claim one key, one gets it."""
    from telehealth.api.errors import ServiceError
    from telehealth.idempotency import services
    from telehealth.idempotency.models import IdempotencyRecord

    racers = 8
    barrier = threading.Barrier(racers)
    outcomes: queue.Queue[str] = queue.Queue()

    def claim() -> None:
        try:
            barrier.wait()
            services.claim_idempotency_key(patient, method="POST", path=CHARGE, key=key, fingerprint="f")
            outcomes.put("claimed")
        except ServiceError as exc:
            outcomes.put(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    results = sorted(outcomes.get_nowait() for _ in range(racers))
    assert results == ["IDEMPOTENCY_KEY_IN_PROGRESS"] * (racers - 1) + ["claimed"]
    assert IdempotencyRecord.objects.get().state == "in_progress"
