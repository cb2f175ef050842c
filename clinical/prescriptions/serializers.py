from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinical.models import (
    Frequency,
    Medication,
    Prescription,
    PrescriptionItem,
    PrescriptionStatus,
    Route,
)
from clinical.prescriptions import interactions, selectors
from clinical.prescriptions.services import OVERRIDE_REASON_MIN_LENGTH

MAX_ITEMS = 20


class CatalogueMedicationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Medication
        fields = ["id", "generic_name", "brand_name", "form", "strength", "drug_class"]
        read_only_fields = fields


class PersonSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField(source="full_name")


class PrescriptionItemSerializer(serializers.ModelSerializer):
    medication = CatalogueMedicationSerializer(read_only=True)

    class Meta:
        model = PrescriptionItem
        fields = [
            "id",
            "medication",
            "dose",
            "route",
            "frequency",
            "duration_days",
            "quantity",
            "instructions",
        ]
        read_only_fields = fields


class PrescriptionItemInputSerializer(serializers.Serializer):
    medication = serializers.PrimaryKeyRelatedField(queryset=Medication.objects.all())
    dose = serializers.CharField(max_length=50)
    route = serializers.ChoiceField(choices=Route.choices, default=Route.ORAL)
    frequency = serializers.ChoiceField(choices=Frequency.choices)
    duration_days = serializers.IntegerField(min_value=1, max_value=365)
    quantity = serializers.IntegerField(min_value=1, max_value=1000)
    instructions = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class _ItemsField(serializers.ListField):
    child = PrescriptionItemInputSerializer()

    def __init__(self, **kwargs):
        super().__init__(min_length=1, max_length=MAX_ITEMS, **kwargs)

    def to_internal_value(self, data):
        items = super().to_internal_value(data)
        seen: set[int] = set()
        for item in items:
            if item["medication"].pk in seen:
                raise serializers.ValidationError(
                    f"{item['medication']} is listed twice; use one item with the total quantity."
                )
            seen.add(item["medication"].pk)
        return items


class PrescriptionCreateSerializer(serializers.Serializer):
    # Resolved by the view: an unknown id and someone else's consultation get the same 404.
    consultation = serializers.UUIDField(help_text="A consultation you are the doctor of.")
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    items = _ItemsField()


class PrescriptionUpdateSerializer(serializers.Serializer):
    """PUT replaces notes and items; PATCH changes what it names. ``items`` replaces the whole list."""

    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    items = _ItemsField()


class FindingSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=[
            interactions.KIND_INTERACTION,
            interactions.KIND_DUPLICATE,
            interactions.KIND_ALLERGY,
            interactions.KIND_CROSS_REACTIVITY,
        ]
    )
    severity = serializers.ChoiceField(choices=list(interactions.SEVERITIES))
    item = serializers.CharField(help_text="The prescribed medicine")
    other = serializers.CharField(help_text="The other medicine, or the allergy substance")
    against = serializers.ChoiceField(
        choices=[
            interactions.AGAINST_PRESCRIPTION,
            interactions.AGAINST_CURRENT_MEDICATION,
            interactions.AGAINST_ACTIVE_PRESCRIPTION,
            interactions.AGAINST_ALLERGY,
        ]
    )
    drugs = serializers.ListField(child=serializers.CharField())
    effect = serializers.CharField()
    source = serializers.CharField(help_text="Reference the finding comes from")


class CheckResultSerializer(serializers.Serializer):
    findings = FindingSerializer(many=True)
    blocking = serializers.BooleanField(help_text="True when issue needs an override_reason")
    disclaimer = serializers.CharField()


class IssueSerializer(serializers.Serializer):
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        min_length=OVERRIDE_REASON_MIN_LENGTH,
        max_length=1000,
        help_text="Required when the check finds something severe: why you prescribe anyway.",
    )


class PrescriptionSerializer(serializers.ModelSerializer):
    doctor = PersonSerializer(read_only=True)
    patient = PersonSerializer(read_only=True)
    doctor_registration_number = serializers.SerializerMethodField()
    correction = serializers.SerializerMethodField()
    verification_code = serializers.SerializerMethodField()
    warnings = FindingSerializer(many=True, read_only=True)
    items = PrescriptionItemSerializer(many=True, read_only=True)

    class Meta:
        model = Prescription
        fields = [
            "id",
            "consultation",
            "doctor",
            "doctor_registration_number",
            "patient",
            "status",
            "version",
            "previous",
            "correction",
            "notes",
            "items",
            "issued_at",
            "verification_code",
            "override_reason",
            "warnings",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_doctor_registration_number(self, obj: Prescription) -> str | None:
        profile = selectors.doctor_profile(obj.doctor)
        return profile.registration_number if profile else None

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_correction(self, obj: Prescription):
        correction = selectors.correction_of(obj)
        return correction.pk if correction else None

    @extend_schema_field(serializers.CharField(allow_null=True, help_text="As printed: XXXXX-XXXXX"))
    def get_verification_code(self, obj: Prescription) -> str | None:
        return selectors.format_code(obj.verification_code) if obj.verification_code else None


class MyMedicationSerializer(serializers.Serializer):
    item = serializers.IntegerField(source="item.pk")
    prescription = serializers.UUIDField(source="item.prescription_id")
    prescription_version = serializers.IntegerField(source="item.prescription.version")
    prescribed_by = serializers.CharField(source="item.prescription.doctor.full_name")
    medication = CatalogueMedicationSerializer(source="item.medication")
    dose = serializers.CharField(source="item.dose")
    route = serializers.CharField(source="item.route")
    frequency = serializers.CharField(source="item.frequency")
    duration_days = serializers.IntegerField(source="item.duration_days")
    quantity = serializers.IntegerField(source="item.quantity")
    instructions = serializers.CharField(source="item.instructions")
    starts_at = serializers.DateTimeField(source="course.starts_at")
    ends_at = serializers.DateTimeField(
        source="course.ends_at", help_text="Local midnight after the last day"
    )


class UnscheduledSerializer(serializers.Serializer):
    prescription = serializers.UUIDField()
    item = serializers.IntegerField()
    medication = CatalogueMedicationSerializer()
    dose = serializers.CharField()
    route = serializers.CharField()
    frequency = serializers.CharField()
    instructions = serializers.CharField()


class DoseSerializer(UnscheduledSerializer):
    at = serializers.DateTimeField(help_text="UTC")
    local_time = serializers.CharField(
        help_text="The same moment in the patient's zone, ISO-8601 with offset"
    )


class ReminderScheduleSerializer(serializers.Serializer):
    timezone = serializers.CharField()
    from_time = serializers.DateTimeField()
    until = serializers.DateTimeField()
    days = serializers.IntegerField()
    doses = DoseSerializer(many=True)
    unscheduled = UnscheduledSerializer(many=True, help_text="PRN items: taken when needed")


class ReminderQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=31, default=7)


class StatsQuerySerializer(serializers.Serializer):
    issued_after = serializers.DateTimeField(required=False)
    issued_before = serializers.DateTimeField(required=False)
    doctor = serializers.UUIDField(required=False, help_text="Staff only; doctors always see their own")
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)


class DoctorCountSerializer(serializers.Serializer):
    doctor = serializers.UUIDField()
    name = serializers.CharField()
    prescriptions = serializers.IntegerField()


class MedicineCountSerializer(serializers.Serializer):
    medication = serializers.IntegerField()
    generic_name = serializers.CharField()
    brand_name = serializers.CharField()
    strength = serializers.CharField()
    form = serializers.CharField()
    prescriptions = serializers.IntegerField()
    items = serializers.IntegerField()
    total_quantity = serializers.IntegerField()


class StatsSerializer(serializers.Serializer):
    total_prescriptions = serializers.IntegerField()
    total_items = serializers.IntegerField()
    by_doctor = DoctorCountSerializer(many=True)
    by_medicine = MedicineCountSerializer(many=True)


class VerifiedDoctorSerializer(serializers.Serializer):
    name = serializers.CharField()
    registration_number = serializers.CharField(allow_null=True)
    council = serializers.CharField(allow_null=True)


class VerifiedItemSerializer(serializers.Serializer):
    medicine = serializers.CharField()
    quantity = serializers.IntegerField()


# Named in ENUM_NAME_OVERRIDES: drf-spectacular would otherwise call it VerificationStatusEnum, the
# name doctors' and clinics' verification_status already has, and one would overwrite the other.
CODE_STATUSES = ["valid", "superseded"]


class VerificationSerializer(serializers.Serializer):
    """What a pharmacy learns from a code: enough to match the paper, nothing more."""

    status = serializers.ChoiceField(choices=CODE_STATUSES)
    valid = serializers.BooleanField()
    issued_at = serializers.DateTimeField()
    version = serializers.IntegerField()
    doctor = VerifiedDoctorSerializer()
    patient_initials = serializers.CharField()
    items = VerifiedItemSerializer(many=True, help_text="Empty when superseded: it must not be dispensed")

    @staticmethod
    def build(prescription: Prescription) -> dict:
        profile = selectors.doctor_profile(prescription.doctor)
        valid = prescription.status == PrescriptionStatus.ISSUED
        return {
            "status": "valid" if valid else "superseded",
            "valid": valid,
            "issued_at": prescription.issued_at,
            "version": prescription.version,
            "doctor": {
                "name": prescription.doctor.full_name,
                "registration_number": profile.registration_number if profile else None,
                "council": profile.council if profile else None,
            },
            "patient_initials": selectors.initials(prescription.patient),
            "items": [
                {"medicine": selectors.medication_label(item), "quantity": item.quantity}
                for item in prescription.items.all()
            ]
            if valid
            else [],
        }


# The PDF is binary; documented as such.
PDF_RESPONSE = {(200, "application/pdf"): OpenApiTypes.BINARY}
