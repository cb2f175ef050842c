from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError

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
    """Deliver one SMS through the configured backend; provider failures retry with backoff.

    The message may hold a login code: queue it with ``queue_sms``, never ``delay``.
    """
    get_sms_backend().send(phone, message)
    logger.info("SMS handed to provider for %s", mask_phone(phone))


def queue_sms(phone: str, message: str) -> None:
    """Queue ``send_sms`` with its arguments masked wherever Celery shows them (worker log lines,
    events, ``inspect``). Eager runs ignore ``argsrepr``; ``HideSMSArguments`` covers their logs."""
    send_sms.apply_async((phone, message), argsrepr=repr((mask_phone(phone), "<message>")), kwargsrepr="{}")


class HideSMSArguments(logging.Filter):
    """Celery's task log lines carry the task's arguments (``record.args`` and the ``data`` extra,
    which the JSON log format writes out). For ``send_sms`` those are the SMS text, login code
    included: replaced here, on the Celery loggers that emit them (see ``AccountsConfig.ready``)."""

    TASKS = frozenset({send_sms.name})
    LOGGERS = ("celery.app.trace", "celery.worker.strategy")

    def filter(self, record: logging.LogRecord) -> bool:
        for attr in ("args", "data"):
            value = getattr(record, attr, None)
            if isinstance(value, dict) and value.get("name") in self.TASKS:
                setattr(record, attr, {**value, "args": "(<hidden>)", "kwargs": "{}"})
        return True


# --- Housekeeping (beat) -----------------------------------------------------------------------------
# Deletes of what is past its time: running one twice, or after a redelivery, deletes nothing more.
# The bodies live in services, which imports this module (send_sms): imported on call.

HOUSEKEEPING = {
    "acks_late": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 10,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(name="accounts.purge_expired_otps", **HOUSEKEEPING)
def purge_expired_otps() -> int:
    """Login codes finished more than ``OTP_RETENTION_HOURS`` ago (beat: hourly)."""
    from telehealth.accounts import services

    return services.purge_expired_otps()


@shared_task(name="accounts.flush_expired_tokens", **HOUSEKEEPING)
def flush_expired_tokens() -> int:
    """Expired refresh tokens and their blacklist entries (beat: daily)."""
    from telehealth.accounts import services

    return services.flush_expired_tokens()


@shared_task(name="accounts.clear_expired_sessions", **HOUSEKEEPING)
def clear_expired_sessions() -> None:
    """Expired Django sessions (beat: daily)."""
    from telehealth.accounts import services

    services.clear_expired_sessions()
