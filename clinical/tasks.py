"""Scheduled clinical work (beat runs each every minute): appointment and medication reminders, and
no-show detection. The bodies live in ``clinical.schedule_jobs``; running a task twice, late, or
twice at once is harmless there, so a redelivered message (``acks_late``) costs nothing."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from clinical import schedule_jobs

# A lost database connection or a deadlock is worth another try soon; the next tick (a minute
# later) would do the same work anyway, so the retries stay few and short.
MINUTELY = {
    "acks_late": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "retry_backoff_max": 30,
    "retry_jitter": True,
    "max_retries": 3,
}


@shared_task(name="clinical.send_appointment_reminders", **MINUTELY)
def send_appointment_reminders() -> int:
    """24-hour and 15-minute reminders to patient and doctor of confirmed bookings, once each."""
    return schedule_jobs.send_appointment_reminders()


@shared_task(name="clinical.send_medication_reminders", **MINUTELY)
def send_medication_reminders() -> int:
    """Dose reminders from running prescriptions, at the patient's local dose times, once per dose."""
    return schedule_jobs.send_medication_reminders()


@shared_task(name="clinical.detect_no_shows", **MINUTELY)
def detect_no_shows() -> int:
    """Consultations not started ``NO_SHOW_GRACE_MINUTES`` after their start become no-shows."""
    return schedule_jobs.detect_no_shows()
