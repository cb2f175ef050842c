"""Queries and answers of the revenue, geography and doctor performance endpoints. The answers are
a contract with the dashboard's charts: keys are only ever added. Money is integer minor units."""

from __future__ import annotations

from rest_framework import serializers

from analytics.money import LEVELS, PERFORMANCE_ORDERINGS
from analytics.params import WindowQuerySerializer, WindowSerializer
from payments.models import GatewayName
from payments.serializers import AnalyticsQuerySerializer

# --- Queries -------------------------------------------------------------------------------------


class RevenueQuerySerializer(AnalyticsQuerySerializer):
    limit = serializers.IntegerField(
        required=False, default=20, min_value=1, max_value=100, help_text="Rows in by_doctor and by_clinic."
    )


class GeographyQuerySerializer(WindowQuerySerializer):
    level = serializers.ChoiceField(
        choices=list(LEVELS), default="city", help_text="How fine the places are."
    )
    limit = serializers.IntegerField(
        required=False, default=200, min_value=1, max_value=1000, help_text="Most places in `rows`."
    )


def _orderings() -> list[str]:
    return [prefix + name for name in PERFORMANCE_ORDERINGS for prefix in ("", "-")]


class PerformanceQuerySerializer(WindowQuerySerializer):
    doctor = serializers.UUIDField(
        required=False, help_text="Staff: only this doctor. Doctors: yourself (may be left out)."
    )
    ordering = serializers.ChoiceField(
        choices=_orderings(),
        default="-consultations",
        help_text="`-` for descending; doctors without the figure (no rating, no response time) last.",
    )
    limit = serializers.IntegerField(required=False, default=50, min_value=1, max_value=500)
    offset = serializers.IntegerField(required=False, default=0, min_value=0)


# --- Revenue -------------------------------------------------------------------------------------


class RevenueMoneySerializer(serializers.Serializer):
    gross = serializers.IntegerField(help_text="What the payments charged.")
    refunds = serializers.IntegerField(help_text="Refunded of them so far (succeeded refunds).")
    net = serializers.IntegerField(help_text="gross - refunds.")
    platform_fee = serializers.IntegerField(help_text="net - doctor_share: what the platform keeps.")
    doctor_share = serializers.IntegerField(help_text="What the doctors keep (ledger: earnings - reversals).")


class RevenueCountedSerializer(RevenueMoneySerializer):
    payments = serializers.IntegerField()


class RevenuePeriodSerializer(RevenueMoneySerializer):
    period = serializers.DateField(help_text="The period's first day, in the answer's time zone.")


class RevenueGatewaySerializer(RevenueCountedSerializer):
    gateway = serializers.ChoiceField(choices=GatewayName.choices)


class RevenueDoctorSerializer(RevenueCountedSerializer):
    doctor_id = serializers.UUIDField()
    name = serializers.CharField()


class RevenueSpecialisationSerializer(RevenueCountedSerializer):
    specialisation = serializers.CharField(help_text='"" for doctors without a specialisation.')


class RevenueClinicSerializer(RevenueCountedSerializer):
    clinic_id = serializers.IntegerField(allow_null=True, help_text="null: consultations without a clinic.")
    name = serializers.CharField()


class RevenueCurrencySerializer(serializers.Serializer):
    currency = serializers.CharField()
    totals = RevenueCountedSerializer()
    series = RevenuePeriodSerializer(many=True, help_text="Every period of the window, empty ones too.")
    by_gateway = RevenueGatewaySerializer(many=True)
    by_doctor = RevenueDoctorSerializer(many=True, help_text="The `limit` best earning, by gross.")
    by_specialisation = RevenueSpecialisationSerializer(
        many=True, help_text="A payment counts in each of its doctor's specialisations."
    )
    by_clinic = RevenueClinicSerializer(many=True, help_text="The `limit` best, by gross.")


class RevenueSerializer(serializers.Serializer):
    window = WindowSerializer()
    currencies = RevenueCurrencySerializer(many=True, help_text="One entry per currency, never mixed.")


# --- Geography -----------------------------------------------------------------------------------


class GeographyRowSerializer(serializers.Serializer):
    country = serializers.CharField(help_text='ISO 3166-1 alpha-2; "" unknown.')
    state = serializers.CharField(allow_null=True, help_text='"" unknown; null at level country.')
    city = serializers.CharField(allow_null=True, help_text='"" unknown; null at levels country and state.')
    patients = serializers.IntegerField()
    doctors = serializers.IntegerField()
    clinics = serializers.IntegerField()
    consultations = serializers.IntegerField()


class GeographySerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=list(LEVELS))
    window = WindowSerializer()
    total_rows = serializers.IntegerField(help_text="Places in all (rows holds at most `limit`).")
    rows = GeographyRowSerializer(many=True, help_text="Most consultations, then most patients, first.")


# --- Doctor performance --------------------------------------------------------------------------


class PerformanceRevenueSerializer(RevenueCountedSerializer):
    currency = serializers.CharField()


class PerformanceDoctorSerializer(serializers.Serializer):
    doctor_id = serializers.UUIDField()
    name = serializers.CharField()
    consultations = serializers.IntegerField(help_text="Scheduled in the window, any state.")
    completed = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    no_show = serializers.IntegerField()
    completion_rate = serializers.FloatField(help_text="completed / (completed + cancelled + no_show), 0-1.")
    average_rating = serializers.FloatField(allow_null=True)
    rating_count = serializers.IntegerField()
    revenue = PerformanceRevenueSerializer(many=True, help_text="Per currency, never mixed.")
    average_response_minutes = serializers.FloatField(
        allow_null=True, help_text="Mean minutes from waiting_since to started_at."
    )


class PerformanceSerializer(serializers.Serializer):
    window = WindowSerializer()
    total = serializers.IntegerField(help_text="Doctors in all (doctors holds `limit` from `offset`).")
    doctors = PerformanceDoctorSerializer(many=True)
