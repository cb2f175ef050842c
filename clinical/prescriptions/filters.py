from __future__ import annotations

import django_filters

from clinical.models import DosageForm, Medication, Prescription, PrescriptionItem, PrescriptionStatus
from telehealth.api.filters import IsoDateTimeFilter


class MedicationFilter(django_filters.FilterSet):
    form = django_filters.ChoiceFilter(choices=DosageForm.choices)
    drug_class = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Medication
        fields = ["form", "drug_class"]


class PrescriptionFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=PrescriptionStatus.choices)
    doctor = django_filters.UUIDFilter(field_name="doctor_id")
    patient = django_filters.UUIDFilter(field_name="patient_id")
    consultation = django_filters.UUIDFilter(field_name="consultation_id")
    medication = django_filters.NumberFilter(method="filter_medication", label="Contains this medication id")
    issued_after = IsoDateTimeFilter(field_name="issued_at", lookup_expr="gte")
    issued_before = IsoDateTimeFilter(field_name="issued_at", lookup_expr="lt")

    class Meta:
        model = Prescription
        fields = ["status", "doctor", "patient", "consultation"]

    def filter_medication(self, queryset, name, value):
        # A subquery rather than a join: no duplicate rows, no DISTINCT.
        return queryset.filter(
            pk__in=PrescriptionItem.objects.filter(medication_id=value).values("prescription_id")
        )
