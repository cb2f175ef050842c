"""Running a report definition: one aggregate query grouped by the chosen dimensions. The database
does the counting; Python only turns the (few) aggregated rows into cells."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from analytics.periods import TRUNCATE, Window
from analytics.reports.registry import METRICS, PERIOD, Dimension, Metric

# Aggregated rows one run may hold; more fails the run (ask for fewer dimensions or a shorter range).
MAX_ROWS = 50_000


class ReportTooLarge(Exception):
    pass


@dataclass(frozen=True)
class Result:
    columns: list[str]
    rows: list[list[Any]]


def effective_dimensions(metric: Metric, keys: list[str]) -> list[str]:
    """The dimensions a run groups by: those asked for, plus ``currency`` for money (after the
    period, so a report reads period by period)."""
    keys = list(keys)
    if metric.money and "currency" not in keys:
        keys.insert(1 if PERIOD in keys[:1] else 0, "currency")
    return keys


def _local_day(value: datetime | date, window: Window) -> str:
    if isinstance(value, datetime):
        value = value.astimezone(window.zone).date()
    return value.isoformat()


def _number(value: Any, metric: Metric) -> Any:
    if value is None:
        return None
    if metric.decimals is not None:
        return round(float(Decimal(value)), metric.decimals)
    return int(value)


def compute(
    metric_key: str, dimension_keys: list[str], filters: dict[str, list[Any]], window: Window
) -> Result:
    """The figures of ``metric_key`` in ``window``, one row per combination of the dimensions that
    has any rows. Raises ``ReportTooLarge`` past ``MAX_ROWS``."""
    metric = METRICS[metric_key]
    dimensions: list[Dimension] = [metric.by_key[key] for key in effective_dimensions(metric, dimension_keys)]
    rows = metric.rows().filter(
        **{f"{metric.date_field}__gte": window.start_utc, f"{metric.date_field}__lt": window.end_utc}
    )
    for key, values in filters.items():
        rows = rows.filter(metric.by_key[key].q(values))
    columns = [column for dimension in dimensions for column in dimension.columns] + [metric.key]

    if not dimensions:
        total = rows.aggregate(value=metric.aggregate())["value"]
        return Result(columns, [[_number(total, metric)]])

    if any(dimension.key == PERIOD for dimension in dimensions):
        rows = rows.annotate(**{PERIOD: TRUNCATE[window.granularity](metric.date_field, tzinfo=window.zone)})
    group = [path for dimension in dimensions for path in dimension.group_by]
    grouped = rows.values(*group).annotate(value=metric.aggregate()).order_by(*group)

    out: list[list[Any]] = []
    for row in grouped[: MAX_ROWS + 1].iterator():
        if len(out) == MAX_ROWS:
            raise ReportTooLarge(
                f"More than {MAX_ROWS} rows: choose fewer dimensions, filters or a shorter range."
            )
        cells: list[Any] = []
        for dimension in dimensions:
            values = [row[path] for path in dimension.group_by]
            if dimension.key == PERIOD:
                cells.append(_local_day(values[0], window))
            else:
                cells.extend(dimension.cells(values))
        out.append([*cells, _number(row["value"], metric)])
    return Result(columns, out)
