"""Query filters of the consultations lists."""

from __future__ import annotations

import django_filters

from clinical.models import Consultation, ConsultationState, ConsultationType, VitalKind, VitalSign
from telehealth.api.filters import IsoDateTimeFilter


class ConsultationFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(
        choices=ConsultationState.choices, help_text="Repeat for several: ?state=scheduled&state=waiting"
    )
    type = django_filters.MultipleChoiceFilter(choices=ConsultationType.choices)
    doctor = django_filters.UUIDFilter(field_name="doctor_id", help_text="The doctor's user id.")
    patient = django_filters.UUIDFilter(field_name="patient_id", help_text="The patient's user id.")
    clinic = django_filters.NumberFilter(field_name="clinic_id")
    starts_after = IsoDateTimeFilter(
        field_name="scheduled_start",
        lookup_expr="gte",
        help_text="Start at or after (ISO 8601, with offset).",
    )
    starts_before = IsoDateTimeFilter(
        field_name="scheduled_start", lookup_expr="lt", help_text="Start before (ISO 8601, with offset)."
    )

    class Meta:
        model = Consultation
        fields = ["state", "type", "doctor", "patient", "clinic", "starts_after", "starts_before"]


class TimelineFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=ConsultationState.choices)
    type = django_filters.MultipleChoiceFilter(choices=ConsultationType.choices)
    starts_after = IsoDateTimeFilter(field_name="scheduled_start", lookup_expr="gte")
    starts_before = IsoDateTimeFilter(field_name="scheduled_start", lookup_expr="lt")

    class Meta:
        model = Consultation
        fields = ["state", "type", "starts_after", "starts_before"]


class VitalSignFilter(django_filters.FilterSet):
    kind = django_filters.MultipleChoiceFilter(choices=VitalKind.choices)
    is_abnormal = django_filters.BooleanFilter()
    measured_after = IsoDateTimeFilter(field_name="measured_at", lookup_expr="gte")
    measured_before = IsoDateTimeFilter(field_name="measured_at", lookup_expr="lt")

    class Meta:
        model = VitalSign
        fields = ["kind", "is_abnormal", "measured_after", "measured_before"]
