"""Input validation and output shapes of /api/doctors/. No rules here beyond the input's own
shape: those live in services.py."""

from __future__ import annotations

import re
from datetime import date, timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinical.doctors import selectors
from clinical.models import (
    AvailabilityException,
    AvailabilityRule,
    Clinic,
    ConsultationState,
    DoctorProfile,
    Document,
    Education,
    Experience,
    Language,
    Review,
    Specialisation,
)

_CURRENCY = re.compile(r"^[A-Z]{3}$")


class AwareDateTimeField(serializers.DateTimeField):
    """An ISO-8601 datetime that must carry its UTC offset: a naive time is ambiguous."""

    def to_internal_value(self, value):
        if isinstance(value, str):
            parsed = parse_datetime(value.strip())
            if parsed is not None and parsed.tzinfo is None:
                self.fail("naive")
        return super().to_internal_value(value)

    default_error_messages = {
        **serializers.DateTimeField.default_error_messages,
        "naive": "Give a UTC offset, e.g. 2030-01-07T09:00:00Z.",
    }


# How far ahead anyone may ask about slots; also keeps date arithmetic far from datetime's limits.
SLOT_HORIZON_DAYS = 366


def validate_slot_date(value: date) -> None:
    """A date someone may ask slots for: from yesterday (the earliest local date somewhere on
    Earth) to a year ahead. Raises Django's ValidationError, understood by forms and DRF."""
    today = timezone.now().date()
    if not today - timedelta(days=1) <= value <= today + timedelta(days=SLOT_HORIZON_DAYS):
        raise DjangoValidationError(f"Choose a date between today and {SLOT_HORIZON_DAYS} days ahead.")


def clean_currency(value: str) -> str:
    value = value.strip().upper()
    if not _CURRENCY.match(value):
        raise serializers.ValidationError("Use an ISO 4217 code such as INR or USD.")
    return value


# --- Reference data ------------------------------------------------------------------------------


class SpecialisationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Specialisation
        fields = ["id", "name", "slug"]


class LanguageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Language
        fields = ["code", "name"]


# --- Slots ---------------------------------------------------------------------------------------


class DoctorSlotSerializer(serializers.Serializer):
    start = serializers.DateTimeField(help_text="UTC")
    end = serializers.DateTimeField(help_text="UTC")
    clinic_id = serializers.IntegerField(allow_null=True, help_text="Set for in-clinic hours")


class AvailableSlotsQuerySerializer(serializers.Serializer):
    date = serializers.DateField(
        validators=[validate_slot_date], help_text="YYYY-MM-DD, a date in the doctor's own time zone"
    )


class AvailableSlotsSerializer(serializers.Serializer):
    doctor_id = serializers.UUIDField()
    date = serializers.DateField(help_text="In the doctor's time zone")
    timezone = serializers.CharField(help_text="The doctor's IANA time zone, e.g. Asia/Kolkata")
    slot_minutes = serializers.IntegerField()
    buffer_minutes = serializers.IntegerField()
    slots = DoctorSlotSerializer(many=True, help_text="Free slots, start and end in UTC")


# --- Education and experience --------------------------------------------------------------------


class EducationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Education
        fields = ["id", "degree", "institution", "year"]

    def validate_year(self, value: int) -> int:
        if value > timezone.now().year:
            raise serializers.ValidationError("The year is in the future.")
        return value


class ExperienceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Experience
        fields = ["id", "organisation", "title", "start_date", "end_date"]

    def validate(self, attrs):
        start = attrs.get("start_date", getattr(self.instance, "start_date", None))
        end = attrs.get("end_date", getattr(self.instance, "end_date", None))
        today = timezone.now().date()
        if start and start > today:
            raise serializers.ValidationError({"start_date": ["The start date is in the future."]})
        if start and end and end < start:
            raise serializers.ValidationError({"end_date": ["The end date is before the start date."]})
        return attrs


# --- Profiles ------------------------------------------------------------------------------------


class DoctorListSerializer(serializers.ModelSerializer):
    """A doctor as anyone sees them in the listing."""

    id = serializers.UUIDField(source="user_id", read_only=True, help_text="The doctor's user id")
    first_name = serializers.CharField(source="user.first_name", read_only=True)
    last_name = serializers.CharField(source="user.last_name", read_only=True)
    timezone = serializers.CharField(source="user.timezone", read_only=True)
    specialisations = SpecialisationSerializer(many=True, read_only=True)
    languages = LanguageSerializer(many=True, read_only=True)
    rating_average = serializers.DecimalField(
        max_digits=3, decimal_places=2, coerce_to_string=False, read_only=True, allow_null=True
    )
    next_available_slot = serializers.SerializerMethodField()

    class Meta:
        model = DoctorProfile
        fields = [
            "id",
            "first_name",
            "last_name",
            "timezone",
            "specialisations",
            "languages",
            "fee_amount",
            "fee_currency",
            "years_of_experience",
            "bio",
            "rating_average",
            "rating_count",
            "next_available_slot",
        ]
        read_only_fields = fields

    @extend_schema_field(DoctorSlotSerializer(allow_null=True))
    def get_next_available_slot(self, profile: DoctorProfile):
        slots = self.context.get("next_slots")
        slot = slots.get(profile.user_id) if slots is not None else selectors.next_slot_for(profile)
        return DoctorSlotSerializer(slot).data if slot else None


class DoctorDetailSerializer(DoctorListSerializer):
    """A public doctor's page: adds credentials, education and experience."""

    education = EducationSerializer(many=True, read_only=True)
    experience = ExperienceSerializer(many=True, read_only=True)

    class Meta(DoctorListSerializer.Meta):
        fields = [
            *DoctorListSerializer.Meta.fields,
            "registration_number",
            "council",
            "slot_minutes",
            "buffer_minutes",
            "education",
            "experience",
        ]
        read_only_fields = fields


class DoctorPrivateSerializer(DoctorDetailSerializer):
    """What the doctor and staff see: adds the verification state."""

    verified_by = serializers.UUIDField(source="verified_by_id", read_only=True, allow_null=True)

    class Meta(DoctorDetailSerializer.Meta):
        fields = [
            *DoctorDetailSerializer.Meta.fields,
            "verification_status",
            "rejection_reason",
            "verified_by",
            "verified_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class DoctorProfileWriteSerializer(serializers.ModelSerializer):
    """The doctor's own editable fields. ``specialisations`` are slugs, ``languages`` ISO 639-1
    codes, both from the reference lists; each replaces the current set when given."""

    specialisations = serializers.SlugRelatedField(
        many=True, slug_field="slug", queryset=Specialisation.objects.all(), required=False
    )
    languages = serializers.SlugRelatedField(
        many=True, slug_field="code", queryset=Language.objects.all(), required=False
    )
    fee_currency = serializers.CharField(max_length=3, required=False, help_text="ISO 4217, e.g. INR")

    class Meta:
        model = DoctorProfile
        fields = [
            "registration_number",
            "council",
            "specialisations",
            "languages",
            "fee_amount",
            "fee_currency",
            "bio",
            "years_of_experience",
            "slot_minutes",
            "buffer_minutes",
        ]
        extra_kwargs = {"fee_amount": {"help_text": "Consultation fee in minor units (paise, cents)"}}

    def validate_fee_currency(self, value: str) -> str:
        return clean_currency(value)

    def validate_registration_number(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value.strip()


class DoctorRejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="Shown to the doctor")


# --- Availability --------------------------------------------------------------------------------


class AvailabilityRuleSerializer(serializers.ModelSerializer):
    clinic = serializers.PrimaryKeyRelatedField(
        queryset=Clinic.objects.all(), allow_null=True, required=False, help_text="For in-clinic hours"
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None and request.user.is_authenticated:
            # Only the caller's own clinics resolve: others answer like an unknown id.
            self.fields["clinic"].queryset = Clinic.objects.filter(members__user=request.user).distinct()

    class Meta:
        model = AvailabilityRule
        fields = ["id", "weekday", "start_time", "end_time", "clinic"]
        extra_kwargs = {"weekday": {"min_value": 0, "max_value": 6, "help_text": "0 = Monday … 6 = Sunday"}}

    def validate(self, attrs):
        start = attrs.get("start_time", getattr(self.instance, "start_time", None))
        end = attrs.get("end_time", getattr(self.instance, "end_time", None))
        if start and end and start >= end:
            raise serializers.ValidationError({"end_time": ["end_time must be after start_time."]})
        return attrs


class AvailabilityExceptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = AvailabilityException
        fields = ["id", "date", "kind", "start_time", "end_time", "reason"]
        extra_kwargs = {
            "start_time": {"help_text": "Local time; leave out both times for whole-day leave"},
            "end_time": {"help_text": "Local time; paired with start_time"},
        }

    def validate(self, attrs):
        merged = {
            name: attrs.get(name, getattr(self.instance, name, None))
            for name in ("kind", "start_time", "end_time")
        }
        start, end = merged["start_time"], merged["end_time"]
        if (start is None) != (end is None):
            missing = "end_time" if end is None else "start_time"
            raise serializers.ValidationError({missing: ["Give both start_time and end_time, or neither."]})
        if start is not None and end is not None and start >= end:
            raise serializers.ValidationError({"end_time": ["end_time must be after start_time."]})
        if merged["kind"] == "extra" and start is None:
            raise serializers.ValidationError(
                {"start_time": ["Extra hours need a start_time and an end_time."]}
            )
        return attrs


# --- Documents -----------------------------------------------------------------------------------


class DoctorVerificationDocumentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Document
        fields = ["id", "content_type", "size", "sha256", "original_name", "created_at"]
        read_only_fields = fields


class DoctorVerificationUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="PDF, PNG, JPEG or DICOM; the type is read from the bytes")


# --- Reviews -------------------------------------------------------------------------------------


class DoctorReviewSerializer(serializers.ModelSerializer):
    """A public review: no patient and no consultation id (the id is the room link)."""

    class Meta:
        model = Review
        fields = ["id", "rating", "comment", "created_at"]
        read_only_fields = fields


class DoctorReviewCreateSerializer(serializers.Serializer):
    consultation = serializers.UUIDField(help_text="Your completed consultation with this doctor")
    rating = serializers.IntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(max_length=2000, allow_blank=True, required=False, default="")


# --- Performance ---------------------------------------------------------------------------------


class DoctorPerformanceQuerySerializer(serializers.Serializer):
    since = AwareDateTimeField(required=False, help_text="Consultations scheduled at or after (UTC offset)")
    until = AwareDateTimeField(required=False, help_text="Consultations scheduled before (UTC offset)")

    def validate(self, attrs):
        if "since" in attrs and "until" in attrs and attrs["since"] >= attrs["until"]:
            raise serializers.ValidationError({"until": ["until must be after since."]})
        return attrs


DoctorConsultationsByStateSerializer = type(
    "DoctorConsultationsByStateSerializer",
    (serializers.Serializer,),
    {state.value: serializers.IntegerField() for state in ConsultationState},
)


class DoctorConsultationCountsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_state = DoctorConsultationsByStateSerializer()


class DoctorRevenueSerializer(serializers.Serializer):
    currency = serializers.CharField(help_text="ISO 4217")
    amount = serializers.IntegerField(help_text="Minor units")
    consultations = serializers.IntegerField(help_text="Completed consultations in this currency")


class DoctorPerformanceSerializer(serializers.Serializer):
    doctor_id = serializers.UUIDField()
    since = serializers.DateTimeField(allow_null=True)
    until = serializers.DateTimeField(allow_null=True)
    consultations = DoctorConsultationCountsSerializer(source="*")
    completion_rate = serializers.DecimalField(
        max_digits=5,
        decimal_places=4,
        coerce_to_string=False,
        allow_null=True,
        help_text="Completed out of those with an outcome (completed, cancelled, no-show); 0-1",
    )
    average_rating = serializers.DecimalField(
        max_digits=3, decimal_places=2, coerce_to_string=False, allow_null=True
    )
    rating_count = serializers.IntegerField()
    revenue = DoctorRevenueSerializer(many=True, help_text="Fees of completed consultations, per currency")
