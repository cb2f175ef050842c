"""``telehealth.postgres``: after every pooled connection died (failover, ``pg_terminate_backend``),
the next ``getconn()`` waits one pause, not psycopg's backoff once per dead connection."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from psycopg_pool import ConnectionPool

from telehealth.postgres.base import sweeping_check
from tests.faults.helpers import terminate_backends

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

APPLICATION_NAME = "pool-sweep-test"
POOL_SIZE = 4


@pytest.fixture
def pool():
    params = connection.get_connection_params() | {"autocommit": True, "application_name": APPLICATION_NAME}
    holder: dict[str, ConnectionPool] = {}
    pool = ConnectionPool(
        kwargs=params,
        min_size=POOL_SIZE,
        max_size=POOL_SIZE,
        open=False,
        check=sweeping_check(lambda: holder.get("pool")),
    )
    holder["pool"] = pool
    pool.open(wait=True, timeout=10)
    yield pool
    pool.close()


def test_the_first_dead_connection_sweeps_the_whole_pool(pool):
    assert terminate_backends(APPLICATION_NAME) == POOL_SIZE
    started = time.monotonic()
    with pool.connection(timeout=10) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    # psycopg's check alone pauses 1 s, 2 s, 4 s... between dead connections: 7 s for 4.
    assert time.monotonic() - started < 2.5
    pool.wait(timeout=10)  # the sweep's replacements are in
    assert pool.get_stats()["pool_available"] == POOL_SIZE
    for _ in range(POOL_SIZE):
        with pool.connection(timeout=1) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
