"""Writing the PHI audit log. Views call ``audit_phi_access`` whenever someone reads or changes
another person's health data (and when such an attempt is denied)."""

from __future__ import annotations

import logging

from django.db.models import Model

from telehealth.audit.models import AuditAction, AuditEntry

logger = logging.getLogger("telehealth.audit")


def _client_ip(request) -> str | None:
    from telehealth.api.throttling import AuthRateThrottle

    ip = AuthRateThrottle().get_ident(request)
    return ip or None


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
    actor = request.user if getattr(request, "user", None) and request.user.is_authenticated else None
    if not force and actor is not None and subject_id is not None and str(actor.pk) == str(subject_id):
        return None
    if isinstance(object_id, Model):
        object_id = object_id.pk
    return AuditEntry.objects.create(
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


__all__ = ["AuditAction", "audit_phi_access"]
