"""Django's PostgreSQL backend with one change to its connection pool (``DATABASE_POOL``): when a
pooled connection turns out dead, the whole pool is swept at once.

After a failover or ``pg_terminate_backend`` every idle connection in the pool is dead. psycopg's
pool finds that out one connection per ``getconn()`` attempt and pauses between attempts with an
exponential backoff (1 s, 2 s, 4 s, ...), so the first request after the outage could wait many
seconds for its connection. Here the first dead connection starts ``pool.check()`` in the
background, which throws out every dead one and opens replacements: the request waits one pause.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.core.exceptions import ImproperlyConfigured
from django.db.backends.postgresql import base
from psycopg import Connection
from psycopg_pool import ConnectionPool


def sweeping_check(pool_ref: Callable[[], ConnectionPool | None]) -> Callable[[Connection], None]:
    """psycopg's own check, plus a sweep of the pool (one at a time) when it fails."""
    sweeping = threading.Lock()

    def sweep(pool: ConnectionPool) -> None:
        try:
            pool.check()
        finally:
            sweeping.release()

    def check(conn: Connection) -> None:
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            pool = pool_ref()
            if pool is not None and sweeping.acquire(blocking=False):
                threading.Thread(target=sweep, args=(pool,), name="db-pool-sweep", daemon=True).start()
            raise

    return check


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> ConnectionPool | None:
        pool_options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == base.NO_DB_ALIAS or not pool_options or self.alias in self._connection_pools:
            return super().pool
        # As Django builds it (``super().pool``), with the sweeping check.
        if self.settings_dict.get("CONN_MAX_AGE", 0) != 0:
            raise ImproperlyConfigured("Pooling doesn't support persistent connections.")
        connect_kwargs = self.get_connection_params()
        connect_kwargs["autocommit"] = True  # Django sets the real mode later
        pools, alias = self._connection_pools, self.alias
        checks = self.settings_dict["CONN_HEALTH_CHECKS"]
        pool = ConnectionPool(
            kwargs=connect_kwargs,
            open=False,
            configure=self._configure_connection,
            # The pool that won the race below (threads may build one each) is the one swept.
            check=sweeping_check(lambda: pools.get(alias)) if checks else None,
            **({} if pool_options is True else pool_options),
        )
        self._connection_pools.setdefault(self.alias, pool)
        return self._connection_pools[self.alias]
