"""The scheduled jobs are on the beat schedule, name registered tasks, and are configured not to be
lost (acks_late) and to retry transient database errors with backoff and jitter."""

from __future__ import annotations

import pytest
from celery.schedules import crontab
from django.conf import settings
from django.db import OperationalError

from telehealth.celery import app

JOBS = {
    "send-appointment-reminders": ("clinical.send_appointment_reminders", 60),
    "send-medication-reminders": ("clinical.send_medication_reminders", 60),
    "detect-no-shows": ("clinical.detect_no_shows", 60),
    "purge-expired-otps": ("accounts.purge_expired_otps", crontab(minute=20)),
    "flush-expired-tokens": ("accounts.flush_expired_tokens", crontab(hour=2, minute=30)),
    "clear-expired-sessions": ("accounts.clear_expired_sessions", crontab(hour=2, minute=40)),
    "nightly-analytics-rollup": ("analytics.nightly_rollup", crontab(hour=1, minute=0)),
}


@pytest.mark.parametrize(("entry", "expected"), JOBS.items())
def test_each_job_is_scheduled(entry, expected):
    app.loader.import_default_modules()
    task, schedule = expected
    scheduled = settings.CELERY_BEAT_SCHEDULE[entry]
    assert (scheduled["task"], scheduled["schedule"]) == (task, schedule)
    assert task in app.tasks


@pytest.mark.parametrize(
    "entry", ["send-appointment-reminders", "send-medication-reminders", "detect-no-shows"]
)
def test_a_minutely_tick_left_in_the_queue_expires_before_the_next(entry):
    assert settings.CELERY_BEAT_SCHEDULE[entry]["options"]["expires"] < 60


@pytest.mark.parametrize("entry", JOBS)
def test_jobs_are_acked_late_and_retry_database_hiccups_with_jitter(entry):
    app.loader.import_default_modules()
    task = app.tasks[JOBS[entry][0]]
    assert task.acks_late
    assert OperationalError in task.autoretry_for
    assert task.retry_backoff
    assert task.retry_jitter
    assert task.max_retries >= 1
