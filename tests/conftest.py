"""Shared fixtures: the fixed cast of users, API clients, and the real-service switches.

``DATABASE_URL`` and ``REDIS_URL`` decide which services the suite talks to. When one is set and the
service does not answer, the whole run stops with a clear message: it never falls back silently.
Tests marked ``postgres``, ``redis`` or ``celery_worker`` are skipped, with the reason, only when
their URL is not set.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator

import pytest
from django.db.backends.postgresql.operations import DatabaseOperations as PostgresOperations
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tests.fakes import FakeSMSProvider, running_sms_provider

# The log guard: after the run, no log line may hold a JWT, an OTP code or health data. The flush
# plugin lets transactional SQLite tests empty the append-only audit table (see each module).
pytest_plugins = ["tests.log_guard", "tests.security.sqlite_flush"]


def _check_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url, connect_timeout=3) as conn:
        conn.execute("SELECT 1")


def _check_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    finally:
        client.close()


def pytest_configure(config: pytest.Config) -> None:
    for var, check in (("DATABASE_URL", _check_postgres), ("REDIS_URL", _check_redis)):
        url = os.environ.get(var, "").strip()
        if not url:
            continue
        if var == "DATABASE_URL" and not url.startswith(("postgres://", "postgresql://")):
            continue
        try:
            check(url)
        except Exception as exc:
            pytest.exit(
                f"{var} is set to {url!r} but the service is unreachable: {type(exc).__name__}: {exc}. "
                f"Start it (see README) or unset {var} to use the embedded default.",
                returncode=3,
            )


_MARKER_NEEDS = {
    "postgres": ("DATABASE_URL", "postgres"),
    "redis": ("REDIS_URL", "redis"),
    "celery_worker": ("REDIS_URL", "redis"),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for marker, (var, scheme) in _MARKER_NEEDS.items():
            if marker in item.keywords and not os.environ.get(var, "").startswith(scheme):
                item.add_marker(pytest.mark.skip(reason=f"{marker}: {var} is not set to a {scheme} URL"))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep each phase's report on the test item (``item.report_call``), so fixtures can tell in
    their teardown whether the test failed (the live servers then print their logs)."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


_truncating_flush = PostgresOperations.sql_flush


def _flush_by_delete(self, style, tables, *, reset_sequences=False, allow_cascade=False):
    """Empty the tables after a transactional test with DELETE rather than Django's TRUNCATE: the
    TRUNCATE of 65 tables costs PostgreSQL about 0.5 s, paid after every such test, while their few
    rows delete in milliseconds. Triggers are off for the flush's own transaction (``replica``
    role: the audit log's no-DELETE trigger, and the foreign keys, so any order works); that takes
    a superuser, otherwise (and to reset sequences) it stays a TRUNCATE."""
    if reset_sequences or not tables or not _is_superuser(self.connection):
        return _truncating_flush(
            self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
    return ["SET LOCAL session_replication_role = replica;"] + [
        f"DELETE FROM {self.quote_name(table)};"  # noqa: S608 (names from introspection, quoted)
        for table in tables
    ]


def _is_superuser(connection) -> bool:
    if not hasattr(_is_superuser, "answer"):
        with connection.cursor() as cursor:
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            _is_superuser.answer = bool(cursor.fetchone()[0])
    return _is_superuser.answer


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> Iterator[None]:
    """On SQLite the test database is a WAL file in memory (``/dev/shm`` where there is one), not
    Django's shared-cache in-memory database: shared-cache locks fail at once ("database table is
    locked") when a socket's storage thread and the test write at the same moment, where a file
    database waits for the lock like the real server does. Its transactions stay DEFERRED: with
    the server's IMMEDIATE, the transaction wrapping a ``django_db`` test would hold the write
    lock for the whole test, and the socket it drives could not store anything."""
    import tempfile

    from django.conf import settings

    database = settings.DATABASES["default"]
    if not database["ENGINE"].endswith("sqlite3"):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(PostgresOperations, "sql_flush", _flush_by_delete)
            yield
        return
    folder = tempfile.mkdtemp(
        prefix="telehealth-test-db-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None
    )
    database.setdefault("TEST", {})["NAME"] = os.path.join(folder, "test.sqlite3")
    database["OPTIONS"] = {**database.get("OPTIONS", {}), "transaction_mode": None}
    yield
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def _isolated_state(request, settings):
    """Every test starts with empty caches (throttles, OTP failure counters), an empty SMS outbox,
    and Celery tasks running inline, except in tests that bring a real worker."""
    from django.core.cache import cache

    from telehealth.accounts.sms import LocMemSMSBackend
    from telehealth.celery import app as celery_app

    settings.SMS_BACKEND = "telehealth.accounts.sms.LocMemSMSBackend"
    eager_before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = "celery_worker" not in request.keywords
    cache.clear()
    LocMemSMSBackend.outbox.clear()
    yield
    cache.clear()
    celery_app.conf.task_always_eager = eager_before


@pytest.fixture
def sms_outbox() -> list[tuple[str, str]]:
    from telehealth.accounts.sms import LocMemSMSBackend

    return LocMemSMSBackend.outbox


# --- The cast ------------------------------------------------------------------------------------


@pytest.fixture
def patient(db):
    return UserFactory(role="patient", first_name="Alice")


@pytest.fixture
def other_patient(db):
    return UserFactory(role="patient", first_name="Bob")


@pytest.fixture
def doctor(db):
    return UserFactory(role="doctor", first_name="Dana")


@pytest.fixture
def other_doctor(db):
    return UserFactory(role="doctor", first_name="Derek")


@pytest.fixture
def admin_user(db):
    return UserFactory(role="admin", first_name="Ada")


@pytest.fixture
def superadmin(db):
    return UserFactory(role="superadmin", first_name="Sam")


# --- Clients -------------------------------------------------------------------------------------


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for() -> Callable[..., APIClient]:
    """``client_for(user)``: an API client sending that user's access token."""
    from telehealth.accounts.services import issue_tokens

    def make(user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user)['access']}")
        return client

    return make


@pytest.fixture
def fake_sms_provider() -> Iterator[FakeSMSProvider]:
    """A loopback SMS provider; set ``.fail_first = N`` to answer 500 to the first N requests."""
    with running_sms_provider() as provider:
        yield provider
