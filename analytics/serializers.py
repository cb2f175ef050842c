"""Query and response serializers of the overview endpoints (dashboard, user growth,
consultations). The response shapes are a contract with the HTML dashboard: keys are only added."""

from __future__ import annotations

import zoneinfo

from rest_framework import serializers

from analytics.params import WindowQuerySerializer, WindowSerializer
from clinical.models import ConsultationState, ConsultationType
from telehealth.accounts.models import Role


def _counts_serializer(name: str, keys: list[str], help_text: str) -> type[serializers.Serializer]:
    """A serializer with one integer per key; keys an answer leaves out (a role filter) are left out."""
    fields = {key: serializers.IntegerField(required=False, help_text=help_text) for key in keys}
    return type(name, (serializers.Serializer,), fields)


RoleCountsSerializer = _counts_serializer("RoleCounts", Role.values, "Accounts of this role.")
StateCountsSerializer = _counts_serializer(
    "ConsultationStateCounts", ConsultationState.values, "Consultations in this state."
)


# --- Dashboard -------------------------------------------------------------------------------------


class DashboardQuerySerializer(serializers.Serializer):
    tz = serializers.CharField(
        required=False,
        max_length=64,
        help_text="IANA time zone of 'today' and 'this month' (default: your profile's time zone).",
    )

    def validate_tz(self, value: str) -> str:
        if value not in zoneinfo.available_timezones():
            raise serializers.ValidationError("An IANA time zone such as Asia/Kolkata or UTC.")
        return value


class RevenueLineSerializer(serializers.Serializer):
    currency = serializers.CharField()
    gross = serializers.IntegerField(help_text="Payments that succeeded, minor units.")
    refunds = serializers.IntegerField(help_text="Refunds that succeeded, minor units.")
    net = serializers.IntegerField(help_text="gross - refunds (may be negative).")


class DashboardSerializer(serializers.Serializer):
    time_zone = serializers.CharField()
    generated_at = serializers.DateTimeField(help_text="When these figures were computed (cached briefly).")
    today = serializers.DateField(help_text="The local day 'today' is.")
    users_by_role = RoleCountsSerializer(help_text="Active (not deactivated) accounts.")
    active_consultations = serializers.IntegerField(
        help_text="Waiting or in progress with someone present in the room right now."
    )
    consultations_today = StateCountsSerializer(help_text="Scheduled to start today, by state.")
    revenue_today = RevenueLineSerializer(many=True, help_text="One line per currency, never added up.")
    revenue_month_to_date = RevenueLineSerializer(many=True)
    new_signups_today = RoleCountsSerializer()
    pending_doctor_verifications = serializers.IntegerField()
    average_rating = serializers.FloatField(allow_null=True, help_text="Of every review, 1-5; null: none.")
    rating_count = serializers.IntegerField()


# --- User growth -------------------------------------------------------------------------------------


class UserGrowthQuerySerializer(WindowQuerySerializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False, help_text="Only this role.")


class GrowthPeriodSerializer(serializers.Serializer):
    period = serializers.DateField(help_text="The period's first (local) day.")
    signups = RoleCountsSerializer()
    active = RoleCountsSerializer(
        help_text="Distinct accounts issued a token (sign-in/refresh) in the period."
    )


class GrowthTotalsSerializer(serializers.Serializer):
    signups = RoleCountsSerializer()
    active = RoleCountsSerializer(help_text="Distinct over the whole window (not a sum of periods).")


class RetentionDaysSerializer(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        return {str(days): self.field_class() for days in (30, 60, 90)}

    field_class = serializers.FloatField


class EligibleDaysSerializer(RetentionDaysSerializer):
    field_class = serializers.IntegerField


class CohortSerializer(serializers.Serializer):
    period = serializers.DateField(help_text="Local period of the patients' first booking.")
    patients = serializers.IntegerField()
    rebooked_30 = serializers.IntegerField()
    rebooked_60 = serializers.IntegerField()
    rebooked_90 = serializers.IntegerField()
    eligible_30 = serializers.IntegerField(help_text="Patients whose first booking is 30+ days old.")
    eligible_60 = serializers.IntegerField()
    eligible_90 = serializers.IntegerField()


class RetentionSerializer(serializers.Serializer):
    cohort_size = serializers.IntegerField(help_text="Patients whose first booking is in the window.")
    rebooked_within = RetentionDaysSerializer(
        help_text="Share (0-1) of the eligible patients who booked again within 30/60/90 days."
    )
    eligible = EligibleDaysSerializer(help_text="Patients old enough to count towards each N.")
    cohorts = CohortSerializer(many=True)


class UserGrowthSerializer(serializers.Serializer):
    window = WindowSerializer()
    series = GrowthPeriodSerializer(many=True, help_text="Every period of the window, empty ones too.")
    totals = GrowthTotalsSerializer()
    retention = RetentionSerializer()


# --- Consultations -----------------------------------------------------------------------------------


class CountPeriodSerializer(serializers.Serializer):
    period = serializers.DateField()
    count = serializers.IntegerField()


class TypeCountSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=ConsultationType.choices)
    count = serializers.IntegerField()


class StateCountSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=ConsultationState.choices)
    count = serializers.IntegerField()


class SpecialisationCountSerializer(serializers.Serializer):
    specialisation = serializers.CharField(allow_null=True, help_text="null: the doctor has none.")
    count = serializers.IntegerField()


class HeatCellSerializer(serializers.Serializer):
    weekday = serializers.IntegerField(min_value=0, max_value=6, help_text="0 = Monday.")
    hour = serializers.IntegerField(min_value=0, max_value=23)
    count = serializers.IntegerField()


class RatesSerializer(serializers.Serializer):
    completion = serializers.FloatField()
    cancellation = serializers.FloatField()
    no_show = serializers.FloatField()


class ConsultationStatsSerializer(serializers.Serializer):
    window = WindowSerializer()
    total = serializers.IntegerField()
    series = CountPeriodSerializer(many=True)
    by_type = TypeCountSerializer(many=True)
    by_state = StateCountSerializer(many=True)
    by_specialisation = SpecialisationCountSerializer(
        many=True, help_text="Once per specialisation of the doctor: may add up to more than total."
    )
    heatmap = HeatCellSerializer(many=True, help_text="All 168 cells, local time of scheduled_start.")
    concluded = serializers.IntegerField(help_text="Completed, cancelled or no-show: the rates' base.")
    rates = RatesSerializer(help_text="Out of `concluded` (0-1).")
    average_duration_minutes = serializers.FloatField(allow_null=True)
    average_wait_minutes = serializers.FloatField(allow_null=True)
