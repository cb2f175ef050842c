"""Pluggable SMS delivery. ``SMS_BACKEND`` picks one; tests use the in-memory backend."""

from __future__ import annotations

import logging

import httpx
from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger("telehealth.sms")


class SMSDeliveryError(Exception):
    """The provider did not accept the message; the sending task retries."""


class BaseSMSBackend:
    def send(self, phone: str, message: str) -> None:
        raise NotImplementedError


class ConsoleSMSBackend(BaseSMSBackend):
    """Development backend: writes the message (and so the OTP) to the log. Never use in production."""

    def send(self, phone: str, message: str) -> None:
        logger.info("SMS to %s: %s", phone, message)


class LocMemSMSBackend(BaseSMSBackend):
    """Test backend: keeps messages in ``LocMemSMSBackend.outbox``."""

    outbox: list[tuple[str, str]] = []

    def send(self, phone: str, message: str) -> None:
        self.outbox.append((phone, message))


class HTTPSMSBackend(BaseSMSBackend):
    """A generic HTTP provider: ``POST SMS_HTTP_URL`` with a JSON body
    ``{"to", "from", "message"}`` and ``Authorization: Bearer SMS_HTTP_TOKEN``."""

    def send(self, phone: str, message: str) -> None:
        headers = {"Authorization": f"Bearer {settings.SMS_HTTP_TOKEN}"} if settings.SMS_HTTP_TOKEN else {}
        try:
            response = httpx.post(
                settings.SMS_HTTP_URL,
                json={"to": phone, "from": settings.SMS_HTTP_SENDER, "message": message},
                headers=headers,
                timeout=settings.SMS_HTTP_TIMEOUT_SECONDS,
            )
        except httpx.HTTPError as exc:
            raise SMSDeliveryError(f"SMS provider unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 300:
            raise SMSDeliveryError(f"SMS provider answered HTTP {response.status_code}")


def get_sms_backend() -> BaseSMSBackend:
    return import_string(settings.SMS_BACKEND)()
