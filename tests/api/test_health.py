"""Health checks: 200 with details when healthy, 503 with the reason when not."""

from __future__ import annotations

import os

import django
import pytest
from django.db import OperationalError, connection

from telehealth import health
from tests.api.helpers import error_of, success_data

CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def embedded_services(settings):
    """The no-environment defaults, whatever the shell running the suite has set."""
    settings.REDIS_URL = ""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.CELERY_TASK_ALWAYS_EAGER = True  # and the Celery app itself is eager (autouse fixture)


@pytest.fixture
def broken_database(monkeypatch):
    class _BrokenConnection:
        vendor = connection.vendor

        def cursor(self):
            raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr(health, "connection", _BrokenConnection())


def test_liveness_answers_ok(api_client, db):
    data = success_data(api_client.get("/health/"))

    assert data == {"status": "ok"}


def test_health_ignores_bad_credentials(api_client, db):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer garbage")

    data = success_data(api_client.get("/health/database/"))

    assert data["status"] == "ok"


def test_database_check_reports_vendor_and_latency(api_client, db):
    data = success_data(api_client.get("/health/database/"))

    assert data["status"] == "ok"
    check = data["checks"]["database"]
    assert check["status"] == "ok"
    assert check["vendor"] == connection.vendor
    assert isinstance(check["latency_ms"], int | float)
    assert check["latency_ms"] >= 0


def test_database_failure_answers_503_with_reason(api_client, db, broken_database):
    response = api_client.get("/health/database/")

    error = error_of(response, 503, "SERVICE_UNAVAILABLE")
    assert error["message"] == "Unhealthy: database."
    check = error["details"]["checks"]["database"]
    assert check["status"] == "unhealthy"
    assert check["reason"] == "OperationalError: could not connect to server: Connection refused"


def test_redis_not_configured_is_healthy(api_client, db, settings):
    settings.REDIS_URL = ""

    data = success_data(api_client.get("/health/redis/"))

    assert data["checks"]["redis"] == {"status": "not_configured"}


def test_unreachable_redis_answers_503_with_reason(api_client, db, settings):
    settings.REDIS_URL = CLOSED_PORT_REDIS

    response = api_client.get("/health/redis/")

    error = error_of(response, 503, "SERVICE_UNAVAILABLE")
    assert error["message"] == "Unhealthy: redis."
    check = error["details"]["checks"]["redis"]
    assert check["status"] == "unhealthy"
    assert check["reason"].startswith("ConnectionError: ")
    assert len(check["reason"]) <= 300


def test_detailed_health_reports_every_dependency_and_versions(api_client, db, settings, embedded_services):
    data = success_data(api_client.get("/health/detailed/"))

    assert data["status"] == "ok"
    checks = data["checks"]
    assert set(checks) == {"database", "redis", "channel_layer", "celery"}
    assert checks["database"]["status"] == "ok"
    assert checks["redis"] == {"status": "not_configured"}
    assert checks["channel_layer"]["status"] == "ok"
    assert checks["channel_layer"]["backend"] == "InMemoryChannelLayer"
    assert checks["celery"] == {"status": "not_configured", "mode": "eager"}
    versions = data["versions"]
    assert set(versions) == {"app", "python", "django", "channels", "djangorestframework"}
    assert versions["app"] == settings.APP_VERSION
    assert versions["django"] == django.get_version()


def test_detailed_health_names_every_failure_and_still_reports_the_rest(
    api_client, db, settings, embedded_services, broken_database
):
    settings.REDIS_URL = CLOSED_PORT_REDIS

    response = api_client.get("/health/detailed/")

    error = error_of(response, 503, "SERVICE_UNAVAILABLE")
    assert error["message"] == "Unhealthy: database, redis."
    checks = error["details"]["checks"]
    assert checks["database"]["status"] == "unhealthy"
    assert checks["redis"]["status"] == "unhealthy"
    assert checks["channel_layer"]["status"] == "ok"
    assert checks["celery"]["status"] == "not_configured"


def test_detailed_health_reports_missing_celery_workers(
    api_client, db, embedded_services, settings, monkeypatch
):
    from telehealth.celery import app

    app.conf.task_always_eager = False  # the autouse fixture restores it
    monkeypatch.setattr(app.control, "ping", lambda timeout: [])

    response = api_client.get("/health/detailed/")

    error = error_of(response, 503, "SERVICE_UNAVAILABLE")
    assert error["details"]["checks"]["celery"] == {
        "status": "unhealthy",
        "reason": "RuntimeError: no Celery worker answered a ping within 1s",
    }


@pytest.mark.redis
def test_real_redis_is_healthy(api_client, db, settings):
    settings.REDIS_URL = os.environ["REDIS_URL"]

    data = success_data(api_client.get("/health/redis/"))

    assert data["checks"]["redis"]["status"] == "ok"
    assert data["checks"]["redis"]["latency_ms"] >= 0
