"""Daily figures computed at night (``analytics.rollups``): one row per UTC day, metric and
dimension. Dashboards read these instead of scanning bookings and payments.

Money metrics take the currency as their dimension and are integer minor units: amounts in
different currencies never share a row.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Metric(models.TextChoices):
    # Consultations scheduled to start that day, by their state when rolled up / by type.
    CONSULTATIONS_BY_STATE = "consultations_by_state", "Consultations by state"
    CONSULTATIONS_BY_TYPE = "consultations_by_type", "Consultations by type"
    # Accounts created that day, by role.
    SIGNUPS_BY_ROLE = "signups_by_role", "Sign-ups by role"
    # Money moved that day, per currency (see analytics.rollups for the exact definitions).
    REVENUE_GROSS = "revenue_gross", "Gross revenue"
    REVENUE_REFUNDS = "revenue_refunds", "Refunds"
    REVENUE_NET = "revenue_net", "Net revenue"
    PLATFORM_FEE = "platform_fee", "Platform fee kept"


class DailyRollup(models.Model):
    day = models.DateField(help_text="UTC calendar day")
    metric = models.CharField(max_length=32, choices=Metric.choices)
    # The state, type, role or currency the value is for.
    dimension = models.CharField(max_length=32)
    value = models.BigIntegerField(help_text="A count, or signed minor units of the dimension's currency")
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-day", "metric", "dimension"]
        constraints = [
            models.UniqueConstraint(fields=["day", "metric", "dimension"], name="daily_rollup_unique"),
        ]
        indexes = [models.Index(fields=["metric", "day"], name="daily_rollup_metric_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.metric}[{self.dimension}] = {self.value}"
