from __future__ import annotations

import django_filters

from telehealth.api.filters import IsoDateTimeFilter
from telehealth.notifications.models import Notification, NotificationKind


class NotificationFilter(django_filters.FilterSet):
    unread = django_filters.BooleanFilter(
        field_name="read_at", lookup_expr="isnull", label="Only unread (true)"
    )
    kind = django_filters.MultipleChoiceFilter(choices=NotificationKind.choices)
    after_id = django_filters.NumberFilter(field_name="id", lookup_expr="gt", label="Newer than this id")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")

    class Meta:
        model = Notification
        fields = ["unread", "kind", "after_id", "created_after"]
