"""The fuzz run's world: the permission matrix's scenario, built once per module inside a
transaction that is rolled back at the end (the same pattern as ``tests/test_permission_matrix.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import override_settings

from clinical.models.patients import private_storage
from tests.permission_matrix import World, build_world


def _point_storage_at(location: str) -> None:
    # ``private_storage`` was built at import with an explicit location (see the patients conftest).
    private_storage._location = location
    private_storage.__dict__.pop("base_location", None)
    private_storage.__dict__.pop("location", None)


@pytest.fixture(scope="module", autouse=True)
def _keep_connection_across_requests() -> Iterator[None]:
    """Requests go through the WSGI handler, which closes a connection that is inside a transaction
    at the end of each request; the test client stops that the same way, and so must we, or the
    first request would drop the world (and the test's transaction) on PostgreSQL."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[World]:
    media = tmp_path_factory.mktemp("fuzz-media")
    original = private_storage._location
    _point_storage_at(str(media / "private"))
    with override_settings(MEDIA_ROOT=str(media)), django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield build_world()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            _point_storage_at(original)
