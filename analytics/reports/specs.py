"""Checking what a report definition asks for against the registry. A spec is the definition's
fields as a dict (the same dict a run keeps as its snapshot)."""

from __future__ import annotations

import zoneinfo
from datetime import date
from typing import Any

from analytics.models import ReportGranularity
from analytics.reports.ranges import DateRange, range_problems, resolve_dates
from analytics.reports.registry import METRICS, PERIOD

SPEC_FIELDS = (
    "name",
    "metric",
    "dimensions",
    "filters",
    "date_range",
    "date_from",
    "date_to",
    "granularity",
    "time_zone",
)
# Values one filter may list.
MAX_FILTER_VALUES = 100


def spec_of(definition) -> dict[str, Any]:
    spec = {name: getattr(definition, name) for name in SPEC_FIELDS}
    for name in ("date_from", "date_to"):
        spec[name] = spec[name].isoformat() if spec[name] else None
    return spec


def check_spec(spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """``(cleaned, errors)``: the spec with filter values normalised (``inr`` -> ``INR``), and the
    problems per field (empty when the spec is valid)."""
    errors: dict[str, list[str]] = {}
    cleaned = dict(spec)
    metric = METRICS.get(spec.get("metric") or "")
    if metric is None:
        errors["metric"] = [f"One of: {', '.join(METRICS)}."]
        return cleaned, errors

    dimensions = spec.get("dimensions") or []
    if not isinstance(dimensions, list) or not all(isinstance(key, str) for key in dimensions):
        errors["dimensions"] = ["A list of dimension names."]
    else:
        unknown = [key for key in dimensions if key not in metric.by_key]
        if unknown:
            allowed = ", ".join(metric.by_key)
            errors["dimensions"] = [
                f"{metric.key} cannot be grouped by {', '.join(unknown)}; only by {allowed}."
            ]
        elif len(set(dimensions)) != len(dimensions):
            errors["dimensions"] = ["Each dimension at most once."]
        elif PERIOD in dimensions and dimensions[0] != PERIOD:
            errors["dimensions"] = [f"{PERIOD!r} comes first when it is used."]

    filters = spec.get("filters") or {}
    if not isinstance(filters, dict):
        errors["filters"] = ["An object: dimension name -> list of values."]
    else:
        clean_filters: dict[str, list[Any]] = {}
        problems: list[str] = []
        for key, values in filters.items():
            dimension = metric.by_key.get(key)
            if dimension is None or key == PERIOD:
                filterable = [name for name in metric.by_key if name != PERIOD]
                problems.append(
                    f"{metric.key} cannot be filtered on {key!r}; it can on {', '.join(filterable)}."
                )
                continue
            if not isinstance(values, list) or not values or len(values) > MAX_FILTER_VALUES:
                problems.append(f"{key}: a list of 1 to {MAX_FILTER_VALUES} values.")
                continue
            try:
                clean_filters[key] = sorted({dimension.clean(value) for value in values}, key=str)
            except (ValueError, TypeError) as error:
                problems.append(f"{key}: {error}")
        if problems:
            errors["filters"] = problems
        cleaned["filters"] = clean_filters

    if spec.get("granularity") not in ReportGranularity.values:
        errors["granularity"] = [f"One of: {', '.join(ReportGranularity.values)}."]
    if spec.get("time_zone") not in zoneinfo.available_timezones():
        errors["time_zone"] = ["An IANA time zone such as Asia/Kolkata or UTC."]

    kind = spec.get("date_range")
    cleaned["date_from"], cleaned["date_to"] = _as_date(spec.get("date_from")), _as_date(spec.get("date_to"))
    if kind not in DateRange.values:
        errors["date_range"] = [f"One of: {', '.join(DateRange.values)}."]
    elif kind == DateRange.CUSTOM:
        start, end = _as_date(spec.get("date_from")), _as_date(spec.get("date_to"))
        if start is None or end is None:
            errors["date_range"] = ["A custom range needs date_from and date_to."]
        elif "granularity" not in errors and isinstance(dimensions, list):
            problems = range_problems(start, end, spec["granularity"], by_period=PERIOD in dimensions)
            if problems:
                errors["date_range"] = problems
    elif spec.get("date_from") or spec.get("date_to"):
        errors["date_range"] = ["date_from and date_to go with a custom range only."]
    return cleaned, errors


def run_dates(spec: dict[str, Any], *, now=None) -> tuple[date, date]:
    """The days a run requested now covers (in the spec's zone)."""
    zone = zoneinfo.ZoneInfo(spec["time_zone"])
    return resolve_dates(
        spec["date_range"], _as_date(spec.get("date_from")), _as_date(spec.get("date_to")), zone, now=now
    )


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None
