from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from clinical.documents import ALLOWED_TYPES
from clinical.models import (
    Allergy,
    BloodGroup,
    Condition,
    CurrentMedication,
    Document,
    EmergencyContact,
    FamilyHistory,
    Insurance,
    MedicalRecord,
    PatientNote,
    Severity,
    Sex,
    Surgery,
)
from clinical.patients.selectors import years_before
from telehealth.accounts.models import User
from telehealth.api.filters import IsoDateTimeFilter

_MAX_AGE = 150


@extend_schema_field(OpenApiTypes.INT)
class _YearsFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class PatientFilter(django_filters.FilterSet):
    city = django_filters.CharFilter(field_name="patient_profile__city", lookup_expr="iexact")
    state = django_filters.CharFilter(field_name="patient_profile__state", lookup_expr="iexact")
    country = django_filters.CharFilter(field_name="patient_profile__country", lookup_expr="iexact")
    sex = django_filters.ChoiceFilter(field_name="patient_profile__sex", choices=Sex.choices)
    blood_group = django_filters.ChoiceFilter(
        field_name="patient_profile__blood_group", choices=BloodGroup.choices
    )
    condition = django_filters.CharFilter(
        method="filter_condition", label="Has a condition whose name contains this (any case)"
    )
    age_min = _YearsFilter(
        method="filter_age_min", min_value=0, max_value=_MAX_AGE, label="At least this old (years)"
    )
    age_max = _YearsFilter(
        method="filter_age_max", min_value=0, max_value=_MAX_AGE, label="At most this old (years)"
    )
    last_consultation_after = IsoDateTimeFilter(
        field_name="last_consultation", lookup_expr="gte", label="Last consultation at or after"
    )
    last_consultation_before = IsoDateTimeFilter(
        field_name="last_consultation", lookup_expr="lt", label="Last consultation before"
    )

    class Meta:
        model = User
        fields: list[str] = []

    def filter_condition(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        matching = Condition.objects.filter(patient=OuterRef("pk"), name__icontains=value)
        return queryset.filter(Exists(matching))

    def filter_age_min(self, queryset: QuerySet, name: str, value) -> QuerySet:
        born_by = years_before(timezone.localdate(), int(value))
        return queryset.filter(patient_profile__date_of_birth__lte=born_by)

    def filter_age_max(self, queryset: QuerySet, name: str, value) -> QuerySet:
        born_after = years_before(timezone.localdate(), int(value) + 1)
        return queryset.filter(patient_profile__date_of_birth__gt=born_after)


class _CreatedFilter(django_filters.FilterSet):
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")


class ConditionFilter(_CreatedFilter):
    class Meta:
        model = Condition
        fields = ["active", "icd10_code"]


class AllergyFilter(_CreatedFilter):
    severity = django_filters.ChoiceFilter(choices=Severity.choices)

    class Meta:
        model = Allergy
        fields = ["severity"]


class SurgeryFilter(_CreatedFilter):
    performed_after = django_filters.DateFilter(field_name="performed_on", lookup_expr="gte")
    performed_before = django_filters.DateFilter(field_name="performed_on", lookup_expr="lte")

    class Meta:
        model = Surgery
        fields: list[str] = []


class FamilyHistoryFilter(_CreatedFilter):
    relation = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = FamilyHistory
        fields = ["relation"]


class MedicationFilter(_CreatedFilter):
    class Meta:
        model = CurrentMedication
        fields: list[str] = []


class InsuranceFilter(_CreatedFilter):
    valid_on = django_filters.DateFilter(method="filter_valid_on", label="Valid on this date")

    class Meta:
        model = Insurance
        fields: list[str] = []

    def filter_valid_on(self, queryset: QuerySet, name: str, value) -> QuerySet:
        return queryset.exclude(valid_from__gt=value).exclude(valid_until__lt=value) if value else queryset


class EmergencyContactFilter(_CreatedFilter):
    class Meta:
        model = EmergencyContact
        fields: list[str] = []


class MedicalRecordFilter(_CreatedFilter):
    record_date_after = django_filters.DateFilter(field_name="record_date", lookup_expr="gte")
    record_date_before = django_filters.DateFilter(field_name="record_date", lookup_expr="lte")

    class Meta:
        model = MedicalRecord
        fields = ["record_type", "authored_by"]


class DocumentFilter(_CreatedFilter):
    content_type = django_filters.ChoiceFilter(choices=[(t, t) for t in sorted(ALLOWED_TYPES)])

    class Meta:
        model = Document
        fields = ["content_type", "consultation", "uploaded_by"]


class PatientNoteFilter(_CreatedFilter):
    class Meta:
        model = PatientNote
        fields = ["author"]
