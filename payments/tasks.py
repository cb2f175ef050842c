"""Background work of payments: paying refunds out through the gateway, and letting unpaid
bookings go."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval

from payments import services
from payments.gateways.base import GatewayError

logger = logging.getLogger("payments")

REFUND_MAX_RETRIES = 8
REFUND_BACKOFF_SECONDS = 5
REFUND_BACKOFF_MAX_SECONDS = 600


def refund_retry_countdown(retries: int) -> int:
    """Exponential backoff with full jitter: up to 5 s, 10 s, 20 s, ... capped at 10 minutes."""
    return get_exponential_backoff_interval(
        factor=REFUND_BACKOFF_SECONDS, retries=retries, maximum=REFUND_BACKOFF_MAX_SECONDS, full_jitter=True
    )


@shared_task(name="payments.process_refund", bind=True, acks_late=True, max_retries=REFUND_MAX_RETRIES)
def process_refund(self, refund_id: str) -> str:
    """Pay one refund out. A retryable gateway failure is retried with backoff (the provider sees
    the same idempotency key each time); anything else, or running out of retries, marks the refund
    failed so the amount can be refunded again. Running twice is harmless."""
    try:
        return services.execute_refund(refund_id)
    except GatewayError as error:
        if error.retryable and self.request.retries < self.max_retries:
            logger.warning("refund %s: %s; retry %d", refund_id, error, self.request.retries + 1)
            raise self.retry(exc=error, countdown=refund_retry_countdown(self.request.retries)) from error
        services.fail_refund(refund_id, f"{error.code}: {error}")
        return "failed"


@shared_task(name="payments.expire_pending_payments", acks_late=True)
def expire_pending_payments() -> int:
    """Cancel unpaid bookings past ``PAYMENT_PENDING_EXPIRY_MINUTES`` (run it every few minutes)."""
    return services.expire_pending_payments()


@shared_task(name="payments.requeue_stale_refunds", acks_late=True)
def requeue_stale_refunds() -> int:
    """Queue again the refunds whose task was lost (run it every few minutes)."""
    refund_ids = services.stale_refund_ids()
    for refund_id in refund_ids:
        process_refund.delay(refund_id)
    return len(refund_ids)
