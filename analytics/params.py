"""The query every analytics endpoint shares: a date window in the caller's time zone.

``from`` and ``to`` are calendar days, both included, in the time zone ``tz`` if given, else the
caller's profile time zone (``User.timezone``, UTC unless they set one). Default: the last 30 days
up to today. ``granularity`` cuts the window into days, weeks (from Monday) or months.
"""

from __future__ import annotations

import zoneinfo
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone
from rest_framework import exceptions, serializers

from analytics.periods import MAX_PERIODS, TRUNCATE, Window, count_periods

DEFAULT_DAYS = 30


class WindowQuerySerializer(serializers.Serializer):
    granularity = serializers.ChoiceField(choices=list(TRUNCATE), default="day")
    # ``from`` is a Python keyword: declared in get_fields under its real name.
    to = serializers.DateField(required=False, help_text="Last day, included (default: today).")
    tz = serializers.CharField(
        required=False,
        max_length=64,
        help_text="IANA time zone the dates and periods are in (default: your profile's time zone).",
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = serializers.DateField(
            required=False, help_text="First day, included (default: 29 days before `to`)."
        )
        return fields

    def validate_tz(self, value: str) -> str:
        if value not in zoneinfo.available_timezones():
            raise serializers.ValidationError("An IANA time zone such as Asia/Kolkata or UTC.")
        return value


def profile_zone(user: Any) -> ZoneInfo:
    try:
        return ZoneInfo(getattr(user, "timezone", "") or "UTC")
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return ZoneInfo("UTC")


def window_from_query(user: Any, data: dict[str, Any]) -> Window:
    """The window a validated ``WindowQuerySerializer`` describes, for ``user``. Raises a
    ValidationError (400 in the envelope) when it is upside down or holds too many periods."""
    zone = ZoneInfo(data["tz"]) if data.get("tz") else profile_zone(user)
    end = data.get("to") or timezone.now().astimezone(zone).date()
    start = data.get("from") or end - timedelta(days=DEFAULT_DAYS - 1)
    granularity = data.get("granularity", "day")
    if start > end:
        raise exceptions.ValidationError({"from": ["Must not be after `to`."]})
    if count_periods(start, end, granularity) > MAX_PERIODS[granularity]:
        limit = MAX_PERIODS[granularity]
        raise exceptions.ValidationError({"from": [f"At most {limit} periods of a {granularity}."]})
    return Window(start=start, end=end, zone=zone, granularity=granularity)


def window_json(window: Window) -> dict[str, str]:
    """How an answer says which window it is about."""
    return {
        "from": window.start.isoformat(),
        "to": window.end.isoformat(),
        "time_zone": window.zone.key,
        "granularity": window.granularity,
    }


class WindowSerializer(serializers.Serializer):
    to = serializers.DateField()
    time_zone = serializers.CharField()
    granularity = serializers.ChoiceField(choices=list(TRUNCATE))

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = serializers.DateField()
        return fields
