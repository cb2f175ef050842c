"""One Redis connection pool per process for Django's cache.

Django keeps cache objects per async context, and under ASGI every request runs in a context of its
own: each request built a new ``RedisCache`` with a new pool, i.e. a new Redis connection (connect,
handshake) for every throttled request. ``SharedConnectionPool`` hands every cache object of the
process the same pool for the same URL and options; redis-py's pool is thread-safe.
"""

from __future__ import annotations

import threading
from typing import Any

import redis


class SharedConnectionPool(redis.ConnectionPool):
    _shared: dict[tuple[str, str], redis.ConnectionPool] = {}
    _lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> redis.ConnectionPool:
        key = (url, repr(sorted(kwargs.items())))
        with cls._lock:
            pool = cls._shared.get(key)
            if pool is None:
                pool = cls._shared[key] = super().from_url(url, **kwargs)
            return pool
