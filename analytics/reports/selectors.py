"""Reads of custom reports. Every staff user sees every definition and run (see services)."""

from __future__ import annotations

from django.db.models import QuerySet

from analytics.models import ReportDefinition, ReportRun
from analytics.reports.registry import METRICS, PERIOD


def definitions() -> QuerySet[ReportDefinition]:
    return ReportDefinition.objects.select_related("owner").order_by("-created_at", "pk")


def runs() -> QuerySet[ReportRun]:
    # The rows stay in the database until a download asks for them.
    return ReportRun.objects.select_related("requested_by").defer("rows").order_by("-created_at", "pk")


def runs_of(definition: ReportDefinition) -> QuerySet[ReportRun]:
    return runs().filter(definition=definition)


def run_with_rows(pk) -> ReportRun | None:
    return ReportRun.objects.filter(pk=pk).first()


def metric_catalogue() -> list[dict]:
    return [
        {
            "key": metric.key,
            "label": metric.label,
            "description": metric.description,
            "money": metric.money,
            "dimensions": [
                {"key": d.key, "label": d.label, "columns": list(d.columns)} for d in metric.dimensions
            ],
            "filters": [d.key for d in metric.dimensions if d.key != PERIOD],
        }
        for metric in METRICS.values()
    ]
