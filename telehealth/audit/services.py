"""Writing the PHI audit log. Views call ``audit_phi_access`` whenever someone reads or changes
another person's health data (and when such an attempt is denied)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from typing import Any

from django.db import connections, transaction
from django.db.models import Model, QuerySet

from telehealth.audit.models import AuditAction, AuditEntry

logger = logging.getLogger("telehealth.audit")


def _client_ip(request) -> str | None:
    from telehealth.api.throttling import AuthRateThrottle

    ip = AuthRateThrottle().get_ident(request)
    # Behind a proxy the address comes from X-Forwarded-For, which a client can fill with anything.
    try:
        return str(ipaddress.ip_address(ip)) if ip else None
    except ValueError:
        return None


def _entry(request, actor, *, subject_id, action: str, resource: str, object_id: object) -> AuditEntry:
    if isinstance(object_id, Model):
        object_id = object_id.pk
    return AuditEntry(
        actor=actor,
        actor_role=getattr(actor, "role", "") or "",
        subject_id=subject_id,
        action=action,
        resource=resource,
        object_id=str(object_id or "")[:64],
        ip=_client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        method=request.method,
        path=request.path[:300],
    )


def _actor(request):
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def audit_phi_access(
    request,
    *,
    subject_id,
    action: str,
    resource: str,
    object_id: object = "",
    force: bool = False,
) -> AuditEntry | None:
    """Record that ``request.user`` did ``action`` on ``subject_id``'s ``resource``.

    Reading your own data is not audited (unless ``force``); everything else is, including denials.
    """
    actor = _actor(request)
    if not force and actor is not None and subject_id is not None and str(actor.pk) == str(subject_id):
        return None
    entry = _entry(
        request, actor, subject_id=subject_id, action=action, resource=resource, object_id=object_id
    )
    entry.save()
    return entry


def audit_phi_reads(request, items: Iterable[tuple[Any, Any]], *, resource: str) -> list[AuditEntry]:
    """One ``read`` entry per ``(subject id, object id)`` of someone else that a list showed, all in
    one INSERT, so a page costs the same number of queries whatever its size."""
    actor = _actor(request)
    me = str(actor.pk) if actor is not None else None
    entries = [
        _entry(request, actor, subject_id=subject, action=AuditAction.READ, resource=resource, object_id=obj)
        for subject, obj in dict.fromkeys((s, o) for s, o in items)
        if str(subject) != me
    ]
    return AuditEntry.objects.bulk_create(entries) if entries else []


def purge_entries(entries: QuerySet[AuditEntry]) -> int:
    """Delete audit entries, past the append-only guards. Only for records about fake people
    (``seed_demo --reset``): real entries are never deleted by the application.

    The database triggers let a DELETE through only inside this transaction (PostgreSQL: the
    ``telehealth.audit_purge`` setting, local to the transaction; SQLite: an uncommitted row in
    ``audit_purge_allowed``, invisible to other connections). UPDATE stays refused.
    """
    alias = entries.db
    vendor = connections[alias].vendor
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute("SELECT set_config('telehealth.audit_purge', 'on', true)")
        elif vendor == "sqlite":
            cursor.execute("INSERT INTO audit_purge_allowed DEFAULT VALUES")
        deleted = entries._raw_delete(alias)
        # Closed again at once, in case the caller's transaction goes on (a failure above rolls
        # the opening back with everything else).
        if vendor == "postgresql":
            cursor.execute("SELECT set_config('telehealth.audit_purge', 'off', true)")
        elif vendor == "sqlite":
            cursor.execute("DELETE FROM audit_purge_allowed")
    if deleted:
        logger.info("Purged %d audit entries", deleted)
    return deleted


__all__ = ["AuditAction", "audit_phi_access", "audit_phi_reads", "purge_entries"]
