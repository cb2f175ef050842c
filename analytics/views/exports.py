"""Raw CSV exports at /api/analytics/export/<consultations|payments|users>/ (staff only).

``from``/``to`` are calendar days, both included, in ``tz`` or else the admin's profile time zone;
default the last 30 days. Filters take comma-separated values (``?state=completed,no_show``). The
columns, and what is deliberately left out, are in ``analytics.exports``.
"""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from analytics import exports
from analytics.params import WindowQuerySerializer, window_from_query
from analytics.views.reports import CSVRenderer
from telehealth.api.permissions import IsAdmin
from telehealth.api.renderers import EnvelopeJSONRenderer
from telehealth.api.throttling import AnalyticsRateThrottle
from telehealth.audit.models import AuditAction
from telehealth.audit.services import audit_phi_access

TAG = "analytics"


def _query_serializer(export: exports.Export) -> type[serializers.Serializer]:
    def validate_filter(key: str):
        def validate(self, value: str) -> list[Any]:
            values = [part.strip() for part in value.split(",") if part.strip()]
            if not values:
                raise serializers.ValidationError("One or more comma-separated values.")
            try:
                return sorted({export.filters[key].clean(part) for part in values}, key=str)
            except (TypeError, ValueError) as error:
                raise serializers.ValidationError(str(error)) from None

        return validate

    attrs: dict[str, Any] = {
        # Exports are not cut into periods; the window may span up to 120 months.
        "granularity": None,
    }
    for key, spec in export.filters.items():
        attrs[key] = serializers.CharField(required=False, max_length=2000, help_text=spec.help)
        attrs[f"validate_{key}"] = validate_filter(key)
    name = f"{export.name.title()}ExportQuerySerializer"
    return type(name, (WindowQuerySerializer,), attrs)


class _ExportView(APIView):
    export: exports.Export
    query_class: type[serializers.Serializer]
    permission_classes = [IsAdmin]
    throttle_classes = [AnalyticsRateThrottle]
    renderer_classes = [EnvelopeJSONRenderer, CSVRenderer]

    def get(self, request):
        query = self.query_class(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        window = window_from_query(request.user, {**data, "granularity": "month"})
        filters = {key: data[key] for key in self.export.filters if key in data}
        count = self.export.queryset(window, filters).count()
        audit_phi_access(
            request,
            subject_id=None,
            action=AuditAction.DOWNLOAD,
            resource=f"{self.export.name}_export",
            object_id=f"{window.start.isoformat()}..{window.end.isoformat()} rows={count}",
        )
        response = StreamingHttpResponse(
            exports.streaming_content(request, exports.export_csv(self.export, window, filters)),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="{exports.filename(self.export, window)}"'
        response["X-Export-Rows"] = str(count)
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response


def _view(name: str, summary: str) -> type[_ExportView]:
    export = exports.EXPORTS[name]
    query_class = _query_serializer(export)
    columns = ", ".join(header for header, _ in export.columns)
    view = type(f"{name.title()}ExportView", (_ExportView,), {"export": export, "query_class": query_class})
    return extend_schema(
        tags=[TAG],
        summary=summary,
        description=(
            f"CSV (UTF-8 with a byte-order mark), streamed, of the {name} whose `{export.date_field}` "
            f"falls between `from` and `to` (calendar days, both included, in `tz`, else your profile's "
            f"time zone; default the last 30 days; at most 120 months). Columns: {columns}. Times are "
            "ISO 8601 in that time zone; money is integer minor units. Filters take comma-separated "
            "values. `X-Export-Rows` says how many rows follow. Audited (one entry per export)."
        ),
        parameters=[query_class],
        responses={(200, "text/csv"): OpenApiTypes.BINARY},
    )(view)


ConsultationsExportView = _view("consultations", "Export consultations as CSV (staff)")
PaymentsExportView = _view("payments", "Export payments as CSV (staff)")
UsersExportView = _view("users", "Export users as CSV (staff)")
