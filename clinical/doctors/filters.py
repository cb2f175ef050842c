"""Query filters of the doctors' lists."""

from __future__ import annotations

import django_filters
from django import forms
from django.core.validators import RegexValidator
from django.db.models import F
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from clinical.doctors import selectors
from clinical.doctors.serializers import validate_slot_date
from clinical.models import (
    AvailabilityException,
    AvailabilityRule,
    DoctorProfile,
    Document,
    Education,
    ExceptionKind,
    Experience,
    Language,
    Review,
    Specialisation,
    VerificationStatus,
)


@extend_schema_field(OpenApiTypes.INT)
class IntegerFilter(django_filters.Filter):
    field_class = forms.IntegerField


class NullsLastOrderingFilter(django_filters.OrderingFilter):
    """``?ordering=`` where missing values (no rating yet) sort last either way, with the primary
    key as tie-break so pages never overlap."""

    def filter(self, qs, value):
        if not value:
            return qs
        expressions = []
        for param in value:
            descending = param.startswith("-")
            field = F(self.param_map[param.lstrip("-")])
            expressions.append(field.desc(nulls_last=True) if descending else field.asc(nulls_last=True))
        return qs.order_by(*expressions, "pk")


class DoctorFilterForm(forms.Form):
    def clean(self):
        data = super().clean()
        has_range = data.get("fee_min") is not None or data.get("fee_max") is not None
        if has_range and not data.get("currency"):
            self.add_error(
                "currency", "Give the currency of fee_min/fee_max: fees are never compared across currencies."
            )
        low, high = data.get("fee_min"), data.get("fee_max")
        if low is not None and high is not None and low > high:
            self.add_error("fee_max", "fee_max must not be below fee_min.")
        return data


class DoctorFilter(django_filters.FilterSet):
    """Filters apply in declaration order; the availability ones come last because they compute
    slots for the doctors that are still left."""

    specialisation = django_filters.CharFilter(
        field_name="specialisations__slug", help_text="Specialisation slug, e.g. cardiology"
    )
    language = django_filters.CharFilter(field_name="languages__code", help_text="ISO 639-1 code, e.g. hi")
    currency = django_filters.CharFilter(
        field_name="fee_currency",
        method="filter_currency",
        validators=[RegexValidator(r"^[A-Za-z]{3}$", "Use an ISO 4217 code such as INR or USD.")],
        help_text="ISO 4217 currency of the fee",
    )
    fee_min = IntegerFilter(
        field_name="fee_amount", lookup_expr="gte", min_value=0, help_text="Minor units; needs currency"
    )
    fee_max = IntegerFilter(
        field_name="fee_amount", lookup_expr="lte", min_value=0, help_text="Minor units; needs currency"
    )
    rating_min = django_filters.NumberFilter(
        field_name="rating_avg", lookup_expr="gte", min_value=1, max_value=5, help_text="Average rating, 1-5"
    )
    experience_min = IntegerFilter(
        field_name="years_of_experience", lookup_expr="gte", min_value=0, help_text="Years"
    )
    verification_status = django_filters.ChoiceFilter(
        choices=VerificationStatus.choices,
        help_text="Useful to staff: pending and rejected doctors are never listed publicly",
    )
    available_on = django_filters.DateFilter(
        method="filter_available_on",
        validators=[validate_slot_date],
        help_text="Has a free slot on this date (in each doctor's own time zone)",
    )
    has_slot_within_days = IntegerFilter(
        method="filter_has_slot_within_days",
        min_value=1,
        max_value=selectors.MAX_SLOT_WINDOW_DAYS,
        help_text="Has a free slot within this many days, today included",
    )
    ordering = NullsLastOrderingFilter(
        fields=(("fee_amount", "fee"), ("rating_avg", "rating"), ("years_of_experience", "experience")),
        help_text="fee, rating or experience; prefix - for descending",
    )

    class Meta:
        model = DoctorProfile
        fields: list[str] = []
        form = DoctorFilterForm

    def filter_currency(self, queryset, name, value):
        return queryset.filter(fee_currency=value.strip().upper())

    def filter_available_on(self, queryset, name, value):
        return selectors.with_free_slot_on(queryset, value)

    def filter_has_slot_within_days(self, queryset, name, value):
        return selectors.with_free_slot_within(queryset, value)


class SpecialisationFilter(django_filters.FilterSet):
    class Meta:
        model = Specialisation
        fields = {"slug": ["exact"], "name": ["icontains"]}


class LanguageFilter(django_filters.FilterSet):
    class Meta:
        model = Language
        fields = {"code": ["exact"], "name": ["icontains"]}


class EducationFilter(django_filters.FilterSet):
    class Meta:
        model = Education
        fields = {"year": ["exact", "gte", "lte"]}


class ExperienceFilter(django_filters.FilterSet):
    current = django_filters.BooleanFilter(
        field_name="end_date", lookup_expr="isnull", help_text="Only positions without an end date"
    )

    class Meta:
        model = Experience
        fields = {"start_date": ["gte", "lte"]}


class AvailabilityRuleFilter(django_filters.FilterSet):
    class Meta:
        model = AvailabilityRule
        fields = ["weekday", "clinic"]


class AvailabilityExceptionFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=ExceptionKind.choices)

    class Meta:
        model = AvailabilityException
        fields = {"date": ["exact", "gte", "lte"]}


class ReviewFilter(django_filters.FilterSet):
    class Meta:
        model = Review
        fields = {"rating": ["exact", "gte", "lte"]}


class DocumentFilter(django_filters.FilterSet):
    class Meta:
        model = Document
        fields = ["content_type"]
