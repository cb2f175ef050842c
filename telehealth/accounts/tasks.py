from __future__ import annotations

import logging

from celery import shared_task

from telehealth.accounts.phone import mask_phone
from telehealth.accounts.sms import SMSDeliveryError, get_sms_backend

logger = logging.getLogger("telehealth.sms")


@shared_task(
    name="accounts.send_sms",
    autoretry_for=(SMSDeliveryError,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
    acks_late=True,
)
def send_sms(phone: str, message: str) -> None:
    """Deliver one SMS through the configured backend; provider failures retry with backoff."""
    get_sms_backend().send(phone, message)
    logger.info("SMS handed to provider for %s", mask_phone(phone))
