"""Celery tasks of the notifications app: push delivery to devices."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval

from telehealth.notifications.push import delivery

logger = logging.getLogger("telehealth.notifications.push")

PUSH_MAX_RETRIES = 6
PUSH_BACKOFF_SECONDS = 10
PUSH_BACKOFF_MAX_SECONDS = 900
# A provider's Retry-After is honoured up to this long; past it the push has little left to say.
PUSH_RETRY_AFTER_MAX_SECONDS = 3600


def push_retry_countdown(retries: int) -> int:
    """Exponential backoff with full jitter: up to 10 s, 20 s, 40 s, ... capped at 15 minutes.
    The jitter spreads the retries of many notifications hit by one provider outage."""
    return get_exponential_backoff_interval(
        factor=PUSH_BACKOFF_SECONDS, retries=retries, maximum=PUSH_BACKOFF_MAX_SECONDS, full_jitter=True
    )


@shared_task(
    name="notifications.send_push",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=PUSH_MAX_RETRIES,
)
def send_push(self, notification_id: int) -> dict[str, int | str]:
    """Push one notification to the recipient's devices (queued by ``services.deliver`` when the
    recipient has no notification socket open). Devices that already had it are skipped, so a
    retried or duplicated run never pushes twice; transient provider failures are retried with
    backoff (at least as long as the provider's Retry-After), then recorded as failed."""
    final = self.request.retries >= self.max_retries
    report = delivery.push_notification(notification_id, final=final)
    if report.needs_retry and not final:
        asked = min(int(report.retry_after or 0), PUSH_RETRY_AFTER_MAX_SECONDS)
        countdown = max(push_retry_countdown(self.request.retries), asked)
        logger.info(
            "Push of notification %s: %s; retry %d in %ds",
            notification_id,
            report.skipped or f"{report.waiting} device(s) waiting",
            self.request.retries + 1,
            countdown,
        )
        raise self.retry(countdown=countdown)
    return report.summary()
