"""Idempotency keys: run a mutating request once, answer its retries with the stored response.

The flow, driven by ``telehealth.idempotency.drf.IdempotentPostMixin``:

1. ``claim_idempotency_key`` records the key as in progress in its own committed transaction (so a
   concurrent request with the same key sees it) and returns the new record, or returns the
   completed record of an earlier request to replay, or raises a 409 ``ServiceError``.
2. The view runs.
3. ``complete_idempotency_key`` stores the response (status < 500), or ``release_idempotency_key``
   forgets the key (5xx, exception) so the client may retry.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from telehealth.api import error_codes
from telehealth.api.errors import ServiceError
from telehealth.idempotency.models import IdempotencyRecord, KeyState

logger = logging.getLogger("telehealth.idempotency")

# An in-progress key older than this belongs to a request whose process died before it could
# finish or release it; it is taken over instead of blocking the client until it expires. Far longer
# than any request may run.
ABANDONED_AFTER = timedelta(minutes=10)
# Claim attempts before giving up: each retry follows a record vanishing (released, expired,
# abandoned) between our INSERT and our SELECT, which needs yet another request to race us.
_CLAIM_ATTEMPTS = 3


def scope_digest(user, *, method: str, path: str, key: str) -> str:
    """The identity of a key use: the same key from another user, method or path is another key."""
    caller = f"user:{user.pk}" if user is not None and user.is_authenticated else "anonymous"
    canonical = json.dumps([caller, method.upper(), path, key], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def key_ttl() -> timedelta:
    return timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)


def _conflict(code: str, message: str, **kwargs) -> ServiceError:
    return ServiceError(code, message, status=409, **kwargs)


def claim_idempotency_key(
    user, *, method: str, path: str, key: str, fingerprint: str, now: datetime | None = None
) -> IdempotencyRecord:
    """Claim ``key`` for one request by ``user`` (``None`` or anonymous for no one).

    Returns a new in-progress record (run the request, then complete or release it) or the
    completed record of an earlier request with the same body (replay it: ``record.is_completed``).
    Raises a 409 ``ServiceError``: ``IDEMPOTENCY_KEY_REUSED`` when the key was used with another
    body, ``IDEMPOTENCY_KEY_IN_PROGRESS`` while the first request still runs.

    Runs in its own durable transaction: the in-progress mark must be committed before the request
    runs, or a concurrent request with the same key could not see it.
    """
    now = now or timezone.now()
    digest = scope_digest(user, method=method, path=path, key=key)
    owner = user if user is not None and user.is_authenticated else None
    for _ in range(_CLAIM_ATTEMPTS):
        try:
            with transaction.atomic(durable=True):
                return IdempotencyRecord.objects.create(
                    scope_digest=digest,
                    user=owner,
                    key=key,
                    method=method.upper(),
                    path=path,
                    request_fingerprint=fingerprint,
                    created_at=now,
                    expires_at=now + key_ttl(),
                )
        except IntegrityError:
            pass  # the key is taken: look at who holds it
        existing = IdempotencyRecord.objects.filter(scope_digest=digest).first()
        if existing is None:
            continue  # released between our INSERT and SELECT
        if existing.expires_at <= now:
            IdempotencyRecord.objects.filter(pk=existing.pk, expires_at__lte=now).delete()
            continue
        if existing.request_fingerprint != fingerprint:
            raise _conflict(
                error_codes.IDEMPOTENCY_KEY_REUSED,
                "This Idempotency-Key was already used with a different request body.",
                details={"idempotency_key": key},
            )
        if existing.is_completed:
            return existing
        if existing.created_at <= now - ABANDONED_AFTER:
            logger.warning("Taking over abandoned idempotency key %s on %s %s", existing.pk, method, path)
            IdempotencyRecord.objects.filter(
                pk=existing.pk, state=KeyState.IN_PROGRESS, created_at__lte=now - ABANDONED_AFTER
            ).delete()
            continue
        break
    raise _conflict(
        error_codes.IDEMPOTENCY_KEY_IN_PROGRESS,
        "A request with this Idempotency-Key is still being processed; retry shortly.",
        details={"idempotency_key": key, "retry_after": 1},
        headers={"Retry-After": "1"},
    )


def complete_idempotency_key(
    record: IdempotencyRecord, *, status_code: int, body: bytes, content_type: str
) -> None:
    """Store the final response of the request that claimed ``record``, for replay."""
    if status_code >= 500:
        raise ValueError("5xx responses are not stored: release the key so the client may retry.")
    IdempotencyRecord.objects.filter(pk=record.pk, state=KeyState.IN_PROGRESS).update(
        state=KeyState.COMPLETED,
        status_code=status_code,
        response_body=bytes(body),
        content_type=content_type[:255],
        completed_at=timezone.now(),
    )


def release_idempotency_key(record: IdempotencyRecord) -> None:
    """Forget a claimed key whose request failed (5xx or exception): the client may retry with it."""
    IdempotencyRecord.objects.filter(pk=record.pk, state=KeyState.IN_PROGRESS).delete()


def purge_expired_keys(*, now: datetime | None = None) -> int:
    """Delete records past their expiry; returns how many. Expired records are already ignored by
    ``claim_idempotency_key``: this only keeps the table small."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
