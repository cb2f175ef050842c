"""Daily figures computed at night (``analytics.rollups``): one row per reporting time zone, local
calendar day, metric and dimension. A day is kept per zone because a local day cannot be rebuilt
from UTC days (Asia/Kolkata's day straddles two of them). Dashboards read these
(``analytics.history``) instead of scanning bookings and payments.

Money metrics take the currency as their dimension and are integer minor units: amounts in
different currencies never share a row.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Metric(models.TextChoices):
    # Consultations scheduled to start that day, by their state when rolled up / by type.
    CONSULTATIONS_BY_STATE = "consultations_by_state", "Consultations by state"
    CONSULTATIONS_BY_TYPE = "consultations_by_type", "Consultations by type"
    # Accounts created that day, by role.
    SIGNUPS_BY_ROLE = "signups_by_role", "Sign-ups by role"
    # Distinct accounts that signed in or refreshed a token that day, by role.
    ACTIVE_USERS_BY_ROLE = "active_users_by_role", "Active users by role"
    # Money moved that day, per currency (see analytics.rollups for the exact definitions).
    REVENUE_GROSS = "revenue_gross", "Gross revenue"
    REVENUE_REFUNDS = "revenue_refunds", "Refunds"
    REVENUE_NET = "revenue_net", "Net revenue"
    PLATFORM_FEE = "platform_fee", "Platform fee kept"


class DailyRollup(models.Model):
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA zone the day is in")
    day = models.DateField(help_text="Calendar day in time_zone")
    metric = models.CharField(max_length=32, choices=Metric.choices)
    # The state, type, role or currency the value is for.
    dimension = models.CharField(max_length=32)
    value = models.BigIntegerField(help_text="A count, or signed minor units of the dimension's currency")
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["time_zone", "-day", "metric", "dimension"]
        constraints = [
            models.UniqueConstraint(
                fields=["time_zone", "day", "metric", "dimension"], name="daily_rollup_zone_unique"
            ),
        ]
        indexes = [models.Index(fields=["time_zone", "metric", "day"], name="daily_rollup_zone_metric_day")]

    def __str__(self) -> str:
        return f"{self.time_zone} {self.day} {self.metric}[{self.dimension}] = {self.value}"


# --- Custom reports (analytics.reports) -------------------------------------------------------------


class ReportGranularity(models.TextChoices):
    DAY = "day", "Day"
    WEEK = "week", "Week (from Monday)"
    MONTH = "month", "Month"


class ReportDefinition(models.Model):
    """A report an admin saved: a metric from ``analytics.reports.registry``, the dimensions it is
    grouped by, filters (dimension -> allowed values), a date range (relative, or ``custom`` with
    ``date_from``/``date_to``), a granularity for the ``period`` dimension and the time zone its
    days are in. Validated by ``analytics.reports.specs``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=200)
    metric = models.CharField(max_length=32)
    dimensions = models.JSONField(default=list, blank=True)
    filters = models.JSONField(default=dict, blank=True)
    date_range = models.CharField(max_length=16, default="last_30_days")
    date_from = models.DateField(null=True, blank=True)
    date_to = models.DateField(null=True, blank=True)
    granularity = models.CharField(
        max_length=5, choices=ReportGranularity.choices, default=ReportGranularity.DAY
    )
    time_zone = models.CharField(max_length=64, default="UTC")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.metric})"


class ReportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ReportRun(models.Model):
    """One run of a definition, as it was when the run was requested (``spec``), over the days its
    range meant that day. The result is kept as rows (aggregated, so few) and rendered as CSV or
    XLSX on download."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    definition = models.ForeignKey(ReportDefinition, on_delete=models.CASCADE, related_name="runs")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    spec = models.JSONField(help_text="The definition's fields when the run was requested")
    date_from = models.DateField()
    date_to = models.DateField()
    status = models.CharField(
        max_length=8, choices=ReportStatus.choices, default=ReportStatus.QUEUED, db_index=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    row_count = models.PositiveIntegerField(null=True, blank=True)
    columns = models.JSONField(default=list, blank=True)
    rows = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["definition", "-created_at"], name="report_run_definition")]

    def __str__(self) -> str:
        return f"Run {self.id} of {self.definition_id} ({self.status})"
