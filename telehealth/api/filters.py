"""Query-string filters shared by every list endpoint."""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_filters.fields import IsoDateTimeField


class UTCIsoDateTimeField(IsoDateTimeField):
    def to_python(self, value):
        value = super().to_python(value)
        if value is None or timezone.is_naive(value):
            return value
        try:
            return value.astimezone(UTC)
        except OverflowError:  # 0001-01-01T00:00+05:00 is before year 1 in UTC
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time, converted to UTC before it reaches the database.

    Python accepts UTC offsets up to ±23:59; PostgreSQL refuses beyond ±15:59, so
    ``?created_after=2024-01-01T00:00:00+16:44`` was a 500 there instead of a filter.
    """

    field_class = UTCIsoDateTimeField


class IPAddressFilter(django_filters.CharFilter):
    """An IPv4 or IPv6 address; anything else is a validation error, not a 500 from PostgreSQL's
    ``inet`` column."""

    field_class = forms.GenericIPAddressField
