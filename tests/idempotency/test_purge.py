from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from telehealth.idempotency import services
from telehealth.idempotency.models import IdempotencyRecord
from telehealth.idempotency.tasks import purge_expired_keys

pytestmark = pytest.mark.django_db


def claim(user, key: str, *, age: timedelta) -> IdempotencyRecord:
    return services.claim_idempotency_key(
        user, method="POST", path="/api/x/", key=key, fingerprint="f", now=timezone.now() - age
    )


def test_purge_deletes_only_expired_records(patient, settings):
    settings.IDEMPOTENCY_KEY_TTL_HOURS = 24
    claim(patient, "old", age=timedelta(hours=25))
    claim(None, "old-anonymous", age=timedelta(hours=24, seconds=1))
    kept = claim(patient, "recent", age=timedelta(hours=23))

    deleted = services.purge_expired_keys()

    assert deleted == 2
    assert list(IdempotencyRecord.objects.all()) == [kept]


def test_purge_task_is_registered_under_its_module_path(patient):
    claim(patient, "old", age=timedelta(days=2))

    result = purge_expired_keys.apply()

    assert purge_expired_keys.name == "telehealth.idempotency.tasks.purge_expired_keys"
    assert result.get() == 1
    assert not IdempotencyRecord.objects.exists()


def test_purge_task_is_scheduled_on_beat(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    assert "telehealth.idempotency.tasks.purge_expired_keys" in tasks
