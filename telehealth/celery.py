"""The Celery app. Broker and result backend come from settings (``REDIS_URL``); without Redis
tasks run eagerly in the calling process."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telehealth.settings")

app = Celery("telehealth")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="telehealth.ping")
def ping() -> str:
    """Round-trip check used by /health/detailed/ and the worker tests."""
    return "pong"
