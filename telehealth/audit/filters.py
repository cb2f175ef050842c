from __future__ import annotations

import django_filters

from telehealth.api.filters import IPAddressFilter, IsoDateTimeFilter
from telehealth.audit.models import AuditAction, AuditEntry


class AuditEntryFilter(django_filters.FilterSet):
    actor = django_filters.UUIDFilter(field_name="actor_id", label="Who acted (user id)")
    subject = django_filters.UUIDFilter(field_name="subject_id", label="Whose data (user id)")
    action = django_filters.MultipleChoiceFilter(choices=AuditAction.choices)
    resource = django_filters.CharFilter(label="e.g. patient_profile, medical_record, document")
    object_id = django_filters.CharFilter()
    actor_role = django_filters.CharFilter()
    ip = IPAddressFilter(label="Client IP address")
    at_after = IsoDateTimeFilter(field_name="at", lookup_expr="gte", label="At or after")
    at_before = IsoDateTimeFilter(field_name="at", lookup_expr="lt", label="Before")

    class Meta:
        model = AuditEntry
        fields: list[str] = []
