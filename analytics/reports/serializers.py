"""Report definitions and runs over the API."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analytics.models import ReportDefinition, ReportGranularity, ReportRun
from analytics.params import profile_zone
from analytics.periods import TRUNCATE
from analytics.reports.ranges import DateRange
from analytics.reports.registry import METRICS
from analytics.reports.specs import SPEC_FIELDS, check_spec, spec_of


class OwnerSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField(source="full_name")


class ReportDefinitionSerializer(serializers.ModelSerializer):
    owner = OwnerSerializer(read_only=True)
    metric = serializers.ChoiceField(choices=list(METRICS))
    dimensions = serializers.ListField(
        child=serializers.CharField(max_length=32),
        required=False,
        max_length=6,
        help_text="What the figures are grouped by, from the metric's `dimensions` (see reports/metrics/). "
        "`period` (by `granularity`) comes first when used. Money metrics are always grouped by `currency`.",
    )
    filters = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField(max_length=100), allow_empty=False),
        required=False,
        help_text='Dimension name -> the values to keep, e.g. {"state": ["completed", "no_show"]}.',
    )
    date_range = serializers.ChoiceField(
        choices=DateRange.choices, required=False, default=DateRange.LAST_30_DAYS
    )
    # The same choices as every analytics query's ``granularity`` (one enum in the schema).
    granularity = serializers.ChoiceField(
        choices=list(TRUNCATE), required=False, default=ReportGranularity.DAY
    )
    time_zone = serializers.CharField(
        max_length=64,
        required=False,
        help_text="IANA zone the range's days and the periods are in (default: your profile's time zone).",
    )
    editable = serializers.SerializerMethodField()

    class Meta:
        model = ReportDefinition
        fields = [
            "id",
            "name",
            "owner",
            "metric",
            "dimensions",
            "filters",
            "date_range",
            "date_from",
            "date_to",
            "granularity",
            "time_zone",
            "editable",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "owner", "editable", "created_at", "updated_at"]

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_editable(self, definition: ReportDefinition) -> bool:
        from analytics.reports.services import may_edit

        request = self.context.get("request")
        return bool(request and may_edit(request.user, definition))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The whole definition is checked, a PATCH merged into what is stored first."""
        if self.instance is not None:
            spec = {**spec_of(self.instance), **attrs}
            if attrs.get("date_range", DateRange.CUSTOM) != DateRange.CUSTOM:
                # A relative range has no dates: switching to one drops the stored ones.
                spec.update(date_from=attrs.get("date_from"), date_to=attrs.get("date_to"))
        else:
            request = self.context["request"]
            spec = {
                "dimensions": [],
                "filters": {},
                "date_from": None,
                "date_to": None,
                "time_zone": profile_zone(request.user).key,
                **attrs,
            }
        cleaned, errors = check_spec(spec)
        if errors:
            raise serializers.ValidationError(errors)
        return {name: cleaned[name] for name in SPEC_FIELDS}


class WindowOfRunSerializer(serializers.Serializer):
    to = serializers.DateField(source="date_to")
    time_zone = serializers.CharField(source="spec.time_zone")
    granularity = serializers.CharField(source="spec.granularity")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = serializers.DateField(source="date_from")
        return fields


class DownloadsSerializer(serializers.Serializer):
    csv = serializers.CharField()
    xlsx = serializers.CharField()


class ReportRunSerializer(serializers.ModelSerializer):
    definition = serializers.UUIDField(source="definition_id", read_only=True)
    name = serializers.CharField(source="spec.name", read_only=True)
    metric = serializers.CharField(source="spec.metric", read_only=True)
    requested_by = OwnerSerializer(read_only=True)
    window = serializers.SerializerMethodField()
    spec = serializers.JSONField(
        read_only=True, help_text="The definition as it was when the run was requested."
    )
    downloads = serializers.SerializerMethodField()

    class Meta:
        model = ReportRun
        fields = [
            "id",
            "definition",
            "name",
            "metric",
            "status",
            "window",
            "spec",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
            "attempts",
            "row_count",
            "columns",
            "error",
            "downloads",
        ]
        read_only_fields = fields

    @extend_schema_field(WindowOfRunSerializer)
    def get_window(self, run: ReportRun) -> dict[str, Any]:
        return WindowOfRunSerializer(run).data

    @extend_schema_field(DownloadsSerializer(allow_null=True))
    def get_downloads(self, run: ReportRun) -> dict[str, str] | None:
        from analytics.models import ReportStatus

        if run.status != ReportStatus.DONE:
            return None
        path = reverse("analytics:report-run-download", args=[run.pk])
        return {"csv": f"{path}?format=csv", "xlsx": f"{path}?format=xlsx"}


class DimensionInfoSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    columns = serializers.ListField(child=serializers.CharField())


class MetricInfoSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    money = serializers.BooleanField(help_text="Integer minor units, always per currency.")
    dimensions = DimensionInfoSerializer(many=True)
    filters = serializers.ListField(child=serializers.CharField(), help_text="Dimensions it can filter on.")


class DownloadQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["csv", "xlsx"], default="csv")
