"""Database work for the consumers, on a thread pool of its own.

Channels' ``database_sync_to_async`` runs every call of the process on one shared thread, so one
slow write would hold up every room. Chat and vitals are stored before they are sent, so their
writes go to ``SIGNALING_DB_THREADS`` threads instead: rooms write in parallel, while each room's
writes are still ordered by the lock on its consultation row.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from asgiref.sync import SyncToAsync
from django.conf import settings
from django.db import close_old_connections

P = ParamSpec("P")
R = TypeVar("R")

_executor: ThreadPoolExecutor | None = None


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(
            max_workers=settings.SIGNALING_DB_THREADS, thread_name_prefix="signaling-db"
        )
    return _executor


def _with_fresh_connection(func: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return run


def storage(func: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """``await storage(service)(args)``: run a sync service on the storage threads."""
    return SyncToAsync(_with_fresh_connection(func), thread_sensitive=False, executor=_get_executor())
