"""Shapes of the consultations API. Input serializers check types and formats; the rules (slots,
roles, states, policy) are in ``services``."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinical import vitals as vital_rules
from clinical.models import (
    ALLOWED_TRANSITIONS,
    ICD10_PATTERN,
    Clinic,
    Consultation,
    ConsultationEvent,
    ConsultationNote,
    ConsultationState,
    ConsultationType,
    NoShowParty,
    VitalKind,
    VitalSign,
)
from telehealth.accounts.models import User

UNITS_HELP = "; ".join(f"{kind}: {', '.join(rule.units)}" for kind, rule in vital_rules.RULES.items())


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time that must carry its UTC offset; stored and returned in UTC."""

    default_error_messages = {"naive": "Include a UTC offset, e.g. 2030-01-07T09:00:00Z."}

    def to_internal_value(self, value):
        if isinstance(value, str):
            parsed = parse_datetime(value.strip())
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        elif isinstance(value, datetime) and value.tzinfo is None:
            self.fail("naive")
        return super().to_internal_value(value).astimezone(UTC)


class SymptomsField(serializers.ListField):
    child = serializers.CharField(max_length=100)

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 30)
        kwargs.setdefault("help_text", "Short phrases, e.g. ['fever', 'dry cough'].")
        super().__init__(**kwargs)


class UserRefSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="full_name", read_only=True)

    class Meta:
        model = User
        fields = ["id", "name"]
        read_only_fields = fields


class ClinicRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Clinic
        fields = ["id", "name"]
        read_only_fields = fields


# --- Consultations ---------------------------------------------------------------------------------


class BookingSerializer(serializers.Serializer):
    doctor = serializers.UUIDField(help_text="The doctor's user id.")
    scheduled_start = AwareDateTimeField(
        help_text="The start of one of the doctor's free slots, exactly, with a UTC offset."
    )
    type = serializers.ChoiceField(choices=ConsultationType.choices, default=ConsultationType.VIDEO)
    clinic = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="Required for in_clinic: a verified clinic where the doctor practises.",
    )
    patient = serializers.UUIDField(
        required=False, allow_null=True, help_text="Staff only: the patient the booking is for."
    )
    chief_complaint = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    symptoms = SymptomsField(required=False, default=list)


class ConsultationSerializer(serializers.ModelSerializer):
    """A consultation as lists show it."""

    patient = UserRefSerializer(read_only=True)
    doctor = UserRefSerializer(read_only=True)
    clinic = ClinicRefSerializer(read_only=True, allow_null=True)
    scheduled_end = serializers.DateTimeField(read_only=True)

    class Meta:
        model = Consultation
        fields = [
            "id",
            "patient",
            "doctor",
            "type",
            "state",
            "scheduled_start",
            "scheduled_end",
            "duration_minutes",
            "clinic",
            "fee_amount",
            "fee_currency",
            "chief_complaint",
            "rescheduled_from",
            "created_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "fee_amount": {"help_text": "The fee at booking time, in minor units of fee_currency."},
            "fee_currency": {"help_text": "ISO 4217 code."},
        }


class ConsultationDetailSerializer(ConsultationSerializer):
    """A consultation with its clinical record (doctors' private notes are separate)."""

    rescheduled_to = serializers.SerializerMethodField()
    allowed_transitions = serializers.SerializerMethodField()

    class Meta(ConsultationSerializer.Meta):
        fields = [
            *ConsultationSerializer.Meta.fields,
            "symptoms",
            "diagnosis",
            "icd10_code",
            "treatment_plan",
            "follow_up_date",
            "cancellation_reason",
            "cancelled_by",
            "no_show_party",
            "booked_by",
            "rescheduled_to",
            "waiting_since",
            "started_at",
            "ended_at",
            "allowed_transitions",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.UUIDField(allow_null=True))
    def get_rescheduled_to(self, consultation: Consultation) -> str | None:
        try:
            return str(consultation.rescheduled_to.pk)
        except Consultation.rescheduled_to.RelatedObjectDoesNotExist:
            return None

    @extend_schema_field(
        serializers.ListField(child=serializers.ChoiceField(choices=ConsultationState.choices))
    )
    def get_allowed_transitions(self, consultation: Consultation) -> list[str]:
        return sorted(ALLOWED_TRANSITIONS[consultation.state])


class ClinicalDetailsSerializer(serializers.Serializer):
    """What PATCH changes. The patient may send only chief_complaint and symptoms."""

    chief_complaint = serializers.CharField(max_length=500, required=False, allow_blank=True)
    symptoms = SymptomsField(required=False)
    diagnosis = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    icd10_code = serializers.CharField(
        max_length=8,
        required=False,
        allow_blank=True,
        help_text="ICD-10 code such as A09, J45.909, S72.001A or U07.1 (blank clears it).",
    )
    treatment_plan = serializers.CharField(max_length=10000, required=False, allow_blank=True)
    follow_up_date = serializers.DateField(
        required=False, allow_null=True, help_text="Today or later, in your own time zone."
    )

    def validate_icd10_code(self, value: str) -> str:
        value = value.strip().upper()
        if value and not re.fullmatch(ICD10_PATTERN, value):
            raise serializers.ValidationError(
                "Not an ICD-10 code: a letter, a digit, a digit or A/B, then optionally a dot and "
                "1-4 letters or digits, e.g. A09, J45.909, S72.001A."
            )
        return value

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Send at least one field to change.")
        return attrs


class CancelSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="Why, for the other party.")


class RescheduleSerializer(serializers.Serializer):
    scheduled_start = AwareDateTimeField(
        help_text="The start of another free slot of the same doctor, exactly, with a UTC offset."
    )


class TransitionSerializer(serializers.Serializer):
    state = serializers.ChoiceField(
        choices=ConsultationState.choices,
        help_text="waiting (patient checks in), in_progress (doctor starts), completed (doctor or "
        "staff), no_show (doctor or staff, after the start). Cancel and reschedule have their own "
        "endpoints; a booking awaiting payment becomes scheduled only through its payment.",
    )
    no_show_party = serializers.ChoiceField(
        choices=NoShowParty.choices,
        required=False,
        help_text="With no_show: who did not come. Default patient; only staff record the doctor's "
        "(the patient's payment is then refunded).",
    )


# --- Notes and vitals ------------------------------------------------------------------------------


class NoteSerializer(serializers.ModelSerializer):
    author = UserRefSerializer(read_only=True)
    text = serializers.CharField(max_length=10000)

    class Meta:
        model = ConsultationNote
        fields = ["id", "author", "text", "created_at"]
        read_only_fields = ["id", "author", "created_at"]


class VitalSignSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=VitalKind.choices)
    unit = serializers.CharField(max_length=16, help_text=f"Accepted units per kind: {UNITS_HELP}.")
    value = serializers.DecimalField(
        max_digits=7,
        decimal_places=2,
        coerce_to_string=False,
        help_text="The reading; for blood pressure the systolic value.",
    )
    value2 = serializers.DecimalField(
        max_digits=7,
        decimal_places=2,
        coerce_to_string=False,
        required=False,
        allow_null=True,
        help_text="Blood pressure only: the diastolic value.",
    )
    measured_at = AwareDateTimeField(required=False, help_text="When it was measured; default now.")
    recorded_by = UserRefSerializer(read_only=True, allow_null=True)
    normal_range = serializers.SerializerMethodField()

    class Meta:
        model = VitalSign
        fields = [
            "id",
            "kind",
            "unit",
            "value",
            "value2",
            "measured_at",
            "recorded_at",
            "recorded_by",
            "is_abnormal",
            "normal_range",
        ]
        read_only_fields = ["id", "recorded_at", "recorded_by", "is_abnormal", "normal_range"]

    @extend_schema_field(
        serializers.DictField(
            child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
            help_text="Normal [low, high] per field (value, value2); a reading outside is abnormal.",
        )
    )
    def get_normal_range(self, vital: VitalSign) -> dict[str, list[float]]:
        ranges = vital_rules.normal_ranges().get(vital.kind, {}).get(vital.unit, {})
        return {field: [float(low), float(high)] for field, (low, high) in ranges.items()}


# --- Timeline --------------------------------------------------------------------------------------


class TimelineEventSerializer(serializers.ModelSerializer):
    from_state = serializers.SerializerMethodField()
    to_state = serializers.SerializerMethodField()
    by = UserRefSerializer(source="actor", read_only=True, allow_null=True)

    class Meta:
        model = ConsultationEvent
        fields = ["seq", "from_state", "to_state", "by", "created_at"]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=ConsultationState.choices))
    def get_from_state(self, event: ConsultationEvent) -> str:
        return event.payload.get("from")

    @extend_schema_field(serializers.ChoiceField(choices=ConsultationState.choices))
    def get_to_state(self, event: ConsultationEvent) -> str:
        return event.payload.get("to")


class TimelineVitalSerializer(serializers.ModelSerializer):
    value = serializers.DecimalField(max_digits=7, decimal_places=2, coerce_to_string=False)
    value2 = serializers.DecimalField(max_digits=7, decimal_places=2, coerce_to_string=False, allow_null=True)

    class Meta:
        model = VitalSign
        fields = ["id", "kind", "unit", "value", "value2", "measured_at", "is_abnormal"]
        read_only_fields = fields


class TimelineEntrySerializer(serializers.ModelSerializer):
    """One consultation in a patient's history, with what happened in it, in order."""

    doctor = UserRefSerializer(read_only=True)
    clinic = ClinicRefSerializer(read_only=True, allow_null=True)
    scheduled_end = serializers.DateTimeField(read_only=True)
    prescriptions_count = serializers.IntegerField(read_only=True, help_text="Issued prescriptions.")
    vitals = TimelineVitalSerializer(many=True, read_only=True)
    events = TimelineEventSerializer(source="state_events", many=True, read_only=True)

    class Meta:
        model = Consultation
        fields = [
            "id",
            "type",
            "state",
            "scheduled_start",
            "scheduled_end",
            "doctor",
            "clinic",
            "chief_complaint",
            "symptoms",
            "diagnosis",
            "icd10_code",
            "treatment_plan",
            "follow_up_date",
            "prescriptions_count",
            "rescheduled_from",
            "created_at",
            "vitals",
            "events",
        ]
        read_only_fields = fields
