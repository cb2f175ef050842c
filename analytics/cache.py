"""Heavy figures are cached for a short time (``ANALYTICS_CACHE_SECONDS``) in the shared cache
(Redis with ``REDIS_URL``) and dropped as soon as the data under them changes: every cached answer
is keyed by a version number that any relevant write bumps (after its transaction commits).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

T = TypeVar("T")
VERSION_KEY = "analytics:version"


def _version() -> int:
    version = cache.get(VERSION_KEY)
    if version is None:
        cache.add(VERSION_KEY, 1, None)
        version = cache.get(VERSION_KEY, 1)
    return version


def cached(name: str, params: dict[str, Any], compute: Callable[[], T], ttl: int | None = None) -> T:
    """``compute()``'s answer for ``name`` and ``params``, from the cache while it is fresh."""
    seconds = settings.ANALYTICS_CACHE_SECONDS if ttl is None else ttl
    if seconds <= 0:
        return compute()
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:32]
    key = f"analytics:{name}:v{_version()}:{digest}"
    hit = cache.get(key)
    if hit is not None:
        return hit
    value = compute()
    cache.set(key, value, seconds)
    return value


def invalidate() -> None:
    """Forget every cached figure (the next request computes afresh)."""
    try:
        cache.incr(VERSION_KEY)
    except ValueError:  # never set, or evicted
        cache.set(VERSION_KEY, 2, None)


def invalidate_on_commit(*args: Any, **kwargs: Any) -> None:
    """Signal receiver: a relevant row changed; drop cached figures once it is committed."""
    if kwargs.get("raw"):
        return
    transaction.on_commit(invalidate)


def connect_signals() -> None:
    """Every model whose rows the figures count. Called from ``AnalyticsConfig.ready``."""
    from django.db.models.signals import post_delete, post_save

    from clinical.models import Clinic, Consultation, DoctorProfile, PatientProfile
    from clinical.models.doctors import Review
    from payments.models import Payment, PayoutLedgerEntry, Refund
    from telehealth.accounts.models import User

    for model in (
        User,
        Consultation,
        DoctorProfile,
        PatientProfile,
        Review,
        Clinic,
        Payment,
        Refund,
        PayoutLedgerEntry,
    ):
        uid = f"analytics.cache.{model._meta.label}"
        post_save.connect(invalidate_on_commit, sender=model, dispatch_uid=f"{uid}.save")
        post_delete.connect(invalidate_on_commit, sender=model, dispatch_uid=f"{uid}.delete")
