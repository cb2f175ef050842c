"""Custom reports at /api/analytics/reports/ and /api/analytics/report-runs/ (staff only).

Every staff user (admin, superadmin) lists, reads and runs every definition; only its owner or a
superadmin changes or deletes it (``REPORT_NOT_EDITABLE``, 403). A run is computed by a Celery
worker: ``POST .../run/`` answers 202 with the queued run, whose ``status`` goes queued -> running
-> done (or failed, with ``error``). Once done, ``download/?format=csv|xlsx`` returns its rows.
"""

from __future__ import annotations

from django.http import FileResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, generics
from rest_framework.renderers import BaseRenderer
from rest_framework.views import APIView

from analytics.exports import streaming_content
from analytics.models import ReportStatus
from analytics.reports import error_codes, selectors, services
from analytics.reports import serializers as s
from analytics.reports.render import csv_chunks, xlsx_file
from telehealth.api.errors import ServiceError
from telehealth.api.permissions import IsAdmin
from telehealth.api.renderers import EnvelopeJSONRenderer
from telehealth.api.responses import ok
from telehealth.api.throttling import AnalyticsRateThrottle

TAG = "analytics"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class FileRenderer(BaseRenderer):
    """Lets ``?format=csv|xlsx`` (and the matching Accept) through content negotiation. The file
    leaves as a plain response; errors still leave as the JSON envelope."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return EnvelopeJSONRenderer().render(data, "application/json", renderer_context)


class CSVRenderer(FileRenderer):
    media_type = "text/csv"
    format = "csv"


class XLSXRenderer(FileRenderer):
    media_type = XLSX
    format = "xlsx"


def _definition_or_404(pk):
    definition = selectors.definitions().filter(pk=pk).first()
    if definition is None:
        raise exceptions.NotFound("No such report.")
    return definition


_EDIT_DENIED = OpenApiResponse(description="`REPORT_NOT_EDITABLE`: not its owner nor a superadmin.")


@extend_schema_view(
    get=extend_schema(summary="Saved report definitions (staff)", description="Everyone's, newest first."),
    post=extend_schema(
        summary="Save a report definition (staff)",
        description=(
            "A metric (see `reports/metrics/`), the dimensions to group by, filters, a date range and "
            "a granularity. Dates are calendar days in `time_zone`, which defaults to your profile's "
            "time zone; relative ranges (`last_30_days`: today and the 29 days before) are resolved "
            "when a run is requested. You own what you save."
        ),
        responses={201: s.ReportDefinitionSerializer},
    ),
)
@extend_schema(tags=[TAG])
class ReportListView(generics.ListCreateAPIView):
    permission_classes = [IsAdmin]
    serializer_class = s.ReportDefinitionSerializer
    filter_backends: list = []

    def get_queryset(self):
        return selectors.definitions()

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        definition = services.create_definition(request.user, spec=serializer.validated_data)
        return ok(self.get_serializer(definition).data, message="Report saved.", status=201)


@extend_schema(
    tags=[TAG],
    summary="What reports can count, group by and filter on (staff)",
    responses={200: s.MetricInfoSerializer(many=True)},
)
class ReportMetricsView(APIView):
    permission_classes = [IsAdmin]

    def get(self, request):
        return ok(s.MetricInfoSerializer(selectors.metric_catalogue(), many=True).data)


@extend_schema_view(
    get=extend_schema(summary="A report definition (staff)"),
    patch=extend_schema(
        summary="Change a report definition (its owner, superadmins)",
        description="Runs already requested keep the definition they were requested with.",
        responses={200: s.ReportDefinitionSerializer, 403: _EDIT_DENIED},
    ),
    delete=extend_schema(
        summary="Delete a report definition and its runs (its owner, superadmins)",
        responses={200: OpenApiResponse(description="Deleted (`data` is null)."), 403: _EDIT_DENIED},
    ),
)
@extend_schema(tags=[TAG])
class ReportDetailView(generics.RetrieveUpdateDestroyAPIView):
    permission_classes = [IsAdmin]
    serializer_class = s.ReportDefinitionSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_object(self):
        return _definition_or_404(self.kwargs["pk"])

    def partial_update(self, request, *args, **kwargs):
        definition = self.get_object()
        serializer = self.get_serializer(definition, data=request.data, partial=True)
        services.check_editable(request.user, definition)  # before validation: no hints to others
        serializer.is_valid(raise_exception=True)
        definition = services.update_definition(request.user, definition, spec=serializer.validated_data)
        return ok(self.get_serializer(definition).data, message="Report saved.")

    def destroy(self, request, *args, **kwargs):
        services.delete_definition(request.user, self.get_object())
        return ok(None, message="Deleted.")


@extend_schema(
    tags=[TAG],
    summary="Run a report (staff)",
    description=(
        "Queues a run of the definition as it is now, over the days its range means today in its time "
        "zone; a worker computes it. Poll `report-runs/{id}/` until `status` is `done` or `failed`."
    ),
    request=None,
    responses={202: s.ReportRunSerializer},
)
class ReportRunView(APIView):
    permission_classes = [IsAdmin]
    throttle_classes = [AnalyticsRateThrottle]

    def post(self, request, pk):
        run = services.request_run(request.user, _definition_or_404(pk))
        return ok(s.ReportRunSerializer(run).data, message="Report run queued.", status=202)


@extend_schema(tags=[TAG], summary="Runs of a report, newest first (staff)")
class ReportRunsView(generics.ListAPIView):
    permission_classes = [IsAdmin]
    serializer_class = s.ReportRunSerializer
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return selectors.runs().none()
        return selectors.runs_of(_definition_or_404(self.kwargs["pk"]))


@extend_schema(tags=[TAG], summary="A report run: status, times, row count, error (staff)")
class ReportRunDetailView(generics.RetrieveAPIView):
    permission_classes = [IsAdmin]
    serializer_class = s.ReportRunSerializer
    queryset = selectors.runs()


@extend_schema(
    tags=[TAG],
    summary="Download a finished report run as CSV or XLSX (staff)",
    description=(
        "`format=csv` (UTF-8 with a byte-order mark) or `format=xlsx`: a header row, then one row per "
        "group. Money is integer minor units next to its currency. Text cells that a spreadsheet "
        "would read as a formula (starting with = + - @) are prefixed with `'`. Until the run is done: "
        "`409 REPORT_RUN_NOT_READY` (details: `status`)."
    ),
    parameters=[s.DownloadQuerySerializer],
    responses={
        (200, "text/csv"): OpenApiTypes.BINARY,
        (200, XLSX): OpenApiTypes.BINARY,
        409: OpenApiResponse(description="`REPORT_RUN_NOT_READY`."),
    },
)
class ReportRunDownloadView(APIView):
    permission_classes = [IsAdmin]
    throttle_classes = [AnalyticsRateThrottle]
    renderer_classes = [EnvelopeJSONRenderer, CSVRenderer, XLSXRenderer]

    def get(self, request, pk):
        query = s.DownloadQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        run = selectors.run_with_rows(pk)
        if run is None:
            raise exceptions.NotFound("No such report run.")
        if run.status != ReportStatus.DONE:
            raise ServiceError(
                error_codes.REPORT_RUN_NOT_READY,
                f"The run is {run.status}; download it once it is done.",
                status=409,
                details={"status": run.status},
            )
        name = f"report-{run.date_from.isoformat()}-to-{run.date_to.isoformat()}-{str(run.pk)[:8]}"
        if query.validated_data["format"] == "xlsx":
            response = FileResponse(
                xlsx_file(run.columns, run.rows, title=run.spec.get("name", "Report")),
                content_type=XLSX,
                as_attachment=True,
                filename=f"{name}.xlsx",
            )
        else:
            response = StreamingHttpResponse(
                streaming_content(request, csv_chunks(run.columns, run.rows)),
                content_type="text/csv; charset=utf-8",
            )
            response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response
