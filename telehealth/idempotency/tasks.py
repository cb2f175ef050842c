from __future__ import annotations

import logging

from celery import shared_task

from telehealth.idempotency import services

logger = logging.getLogger("telehealth.idempotency")


@shared_task(name="telehealth.idempotency.tasks.purge_expired_keys")
def purge_expired_keys() -> int:
    """Periodic clean-up of expired idempotency records (beat: hourly)."""
    deleted = services.purge_expired_keys()
    logger.info("Purged %d expired idempotency keys", deleted)
    return deleted
