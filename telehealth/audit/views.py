"""The PHI audit log, for staff: who read or changed whose health data, when, from where."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets

from telehealth.api.permissions import IsAdmin
from telehealth.audit.filters import AuditEntryFilter
from telehealth.audit.models import AuditEntry
from telehealth.audit.serializers import AuditEntrySerializer


@extend_schema_view(
    list=extend_schema(
        summary="Search the audit log (staff)",
        description=(
            "Newest first. Filter by actor, subject (whose data), action (repeatable), resource, "
            "object id, IP and time range. Read-only: entries are never changed or deleted."
        ),
    ),
    retrieve=extend_schema(summary="One audit entry (staff)"),
)
@extend_schema(tags=["audit"])
class AuditEntryViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = AuditEntry.objects.select_related("actor", "subject")
    serializer_class = AuditEntrySerializer
    permission_classes = [IsAdmin]
    filterset_class = AuditEntryFilter
    search_fields = ["path", "user_agent", "actor__phone", "subject__phone"]
    ordering_fields = ["at", "action", "resource"]
    ordering = ["-at", "-id"]
