"""The one interface every push backend implements, and the plain values it speaks in.

A backend turns a ``PushMessage`` into one request to its provider for one ``Device`` and answers
with a ``PushResult``: sent, the token is dead (the device is deactivated), a transient failure
(the task retries later), or a permanent failure for this message. Backends never raise for a
provider's answer; only a missing configuration raises (``ImproperlyConfigured``, on construction).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from django.utils import timezone

from telehealth.notifications.models import Device


class Outcome(enum.StrEnum):
    SENT = "sent"
    INVALID_TOKEN = "invalid_token"  # noqa: S105  (the provider says the token is dead for good)
    RETRY = "retry"  # transient (rate limit, 5xx, network): the same request may work later
    FAILED = "failed"  # permanent for this message (refused payload, rejected credentials)


@dataclass(frozen=True)
class PushMessage:
    """What a device is told: ``title``, ``body`` and ``data`` (the notification id and kind plus
    the notification's own data: ids and links, never clinical content).

    ``collapse_id`` and ``expires_at`` are delivery hints, not content: the collapse id is the same
    for every send of one notification, so a send repeated after a crash replaces the first on the
    device instead of showing twice; nothing is delivered after ``expires_at``.
    """

    title: str
    body: str
    data: dict[str, Any]
    collapse_id: str
    expires_at: datetime

    def ttl_seconds(self, now: datetime | None = None) -> int:
        """Seconds left to deliver (0: deliver now or never)."""
        return max(0, int((self.expires_at - (now or timezone.now())).total_seconds()))


@dataclass(frozen=True)
class PushResult:
    outcome: Outcome
    detail: str = ""  # for PushAttempt.detail and logs: provider codes, never the message content
    retry_after: float | None = field(default=None)  # seconds the provider asked us to wait

    @classmethod
    def sent(cls, detail: str = "") -> PushResult:
        return cls(Outcome.SENT, detail)

    @classmethod
    def invalid_token(cls, detail: str) -> PushResult:
        return cls(Outcome.INVALID_TOKEN, detail)

    @classmethod
    def retry(cls, detail: str, *, retry_after: float | None = None) -> PushResult:
        return cls(Outcome.RETRY, detail, retry_after)

    @classmethod
    def failed(cls, detail: str) -> PushResult:
        return cls(Outcome.FAILED, detail)


class PushBackend(ABC):
    """One provider. Instances are long-lived (one per process, see ``push.get_backend``) so they
    can keep connections and access tokens between sends; they must be thread-safe."""

    name: str = ""

    @abstractmethod
    def send(self, device: Device, message: PushMessage) -> PushResult:
        """Push ``message`` to ``device``; never raises for what the provider answers."""

    def close(self) -> None:  # noqa: B027  (optional hook: most backends hold nothing to close)
        """Release connections (called when settings change in tests, and at shutdown)."""


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header (seconds or an HTTP date) in seconds from now; None if absent or
    unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - timezone.now()).total_seconds())


def short(text: Any, limit: int = 200) -> str:
    """Provider text for a log line or ``PushAttempt.detail``: one line, bounded."""
    return " ".join(str(text).split())[:limit]


def inline_or_file(value: str, *, setting: str, inline_marker: str, pem: bool = False) -> str:
    """A secret given either inline (it contains ``inline_marker``, e.g. ``-----BEGIN``) or as the
    path of a file holding it. For a ``pem`` given inline, escaped newlines (``\\n``, as one-line
    env files carry PEM) are restored; JSON keeps its own escapes."""
    from django.core.exceptions import ImproperlyConfigured

    if inline_marker in value:
        return value.replace("\\n", "\n") if pem else value
    try:
        with open(value, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise ImproperlyConfigured(
            f"{setting} must hold the secret itself or the path of a readable file holding it; "
            f"could not read {value!r}: {exc.strerror}"
        ) from exc
