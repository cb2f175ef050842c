"""Query filters of the payments lists."""

from __future__ import annotations

import django_filters

from payments.models import Coupon, CouponKind, CouponScope, GatewayName, LedgerKind, Payment, PaymentStatus
from payments.models import PayoutLedgerEntry as LedgerEntry
from telehealth.api.filters import IsoDateTimeFilter


class PaymentFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(
        choices=PaymentStatus.choices, help_text="Repeat for several: ?status=succeeded&status=refunded"
    )
    gateway = django_filters.MultipleChoiceFilter(choices=GatewayName.choices)
    currency = django_filters.CharFilter(field_name="currency", lookup_expr="iexact")
    consultation = django_filters.UUIDFilter(field_name="consultation_id")
    patient = django_filters.UUIDFilter(field_name="patient_id", help_text="The patient's user id.")
    doctor = django_filters.UUIDFilter(field_name="doctor_id", help_text="The doctor's user id.")
    created_after = IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Started at or after (ISO 8601, with offset)."
    )
    created_before = IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Started before (ISO 8601, with offset)."
    )
    succeeded_after = IsoDateTimeFilter(field_name="succeeded_at", lookup_expr="gte")
    succeeded_before = IsoDateTimeFilter(field_name="succeeded_at", lookup_expr="lt")

    class Meta:
        model = Payment
        fields = [
            "status",
            "gateway",
            "currency",
            "consultation",
            "patient",
            "doctor",
            "created_after",
            "created_before",
            "succeeded_after",
            "succeeded_before",
        ]


class CouponFilter(django_filters.FilterSet):
    active = django_filters.BooleanFilter()
    kind = django_filters.ChoiceFilter(choices=CouponKind.choices)
    scope = django_filters.ChoiceFilter(choices=CouponScope.choices)
    currency = django_filters.CharFilter(field_name="currency", lookup_expr="iexact")

    class Meta:
        model = Coupon
        fields = ["active", "kind", "scope", "currency"]


class LedgerEntryFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=LedgerKind.choices)
    currency = django_filters.CharFilter(field_name="currency", lookup_expr="iexact")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = LedgerEntry
        fields = ["kind", "currency", "created_after", "created_before"]
