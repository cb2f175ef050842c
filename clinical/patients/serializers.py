from __future__ import annotations

import contextlib
import re
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

import phonenumbers
from django.db import models
from django.urls import reverse
from django.utils import timezone
from rest_framework import serializers

from clinical.access import consultations_visible_to
from clinical.models import (
    ICD10_PATTERN,
    Allergy,
    Condition,
    Consultation,
    CurrentMedication,
    Document,
    DocumentKind,
    EmergencyContact,
    FamilyHistory,
    Insurance,
    MedicalRecord,
    PatientNote,
    PatientProfile,
    Surgery,
)
from clinical.patients.selectors import age_on
from telehealth.accounts.models import User
from telehealth.accounts.serializers import PhoneField

_OLDEST_BIRTH = date(1900, 1, 1)


class RoundedDecimalField(serializers.DecimalField):
    """A decimal rounded to the column's places instead of refused for having more
    (clients send coordinates as floats: 12.971598700000001)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("coerce_to_string", False)
        super().__init__(**kwargs)

    def validate_precision(self, value: Decimal) -> Decimal:
        if value.is_finite():
            # Too many digits to round (1e308): left as is for the max_digits check to refuse.
            with contextlib.suppress(InvalidOperation):
                value = value.quantize(Decimal(1).scaleb(-self.decimal_places), rounding=ROUND_HALF_EVEN)
        return super().validate_precision(value)


def _not_in_future(value: date | None, label: str = "date") -> date | None:
    if value is not None and value > timezone.localdate():
        raise serializers.ValidationError(f"The {label} cannot be in the future.")
    return value


def _age_field():
    return serializers.SerializerMethodField(help_text="Whole years today (UTC), from date_of_birth.")


# --- Profile --------------------------------------------------------------------------------------


class PatientProfileSerializer(serializers.ModelSerializer):
    """A patient's profile. Names and phone belong to the account (/api/auth/profile/)."""

    # Height, weight and coordinates are rounded to their column's places, not refused.
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DecimalField: RoundedDecimalField,
    }

    patient_id = serializers.UUIDField(source="user.id", read_only=True)
    first_name = serializers.CharField(source="user.first_name", read_only=True)
    last_name = serializers.CharField(source="user.last_name", read_only=True)
    phone = serializers.CharField(source="user.phone", read_only=True)
    language = serializers.RegexField(
        r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
        source="user.language",
        max_length=16,
        required=False,
        help_text="Preferred language, a BCP 47 tag such as en, hi or pt-BR.",
        error_messages={"invalid": "Use a language tag such as en, hi or pt-BR."},
    )
    age = _age_field()

    class Meta:
        model = PatientProfile
        fields = [
            "patient_id",
            "first_name",
            "last_name",
            "phone",
            "language",
            "date_of_birth",
            "age",
            "sex",
            "blood_group",
            "height_cm",
            "weight_kg",
            "address_line",
            "city",
            "state",
            "country",
            "postal_code",
            "latitude",
            "longitude",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {
            "country": {"help_text": "ISO 3166-1 alpha-2, e.g. IN"},
            "height_cm": {"help_text": "Centimetres, one decimal."},
            # Decimal bounds: the model's validator holds a float, which DRF warns about.
            "weight_kg": {
                "help_text": "Kilograms, one decimal.",
                "min_value": Decimal("0.5"),
                "max_value": Decimal(650),
            },
        }

    def get_age(self, profile: PatientProfile) -> int | None:
        return age_on(profile.date_of_birth, timezone.localdate())

    def validate_date_of_birth(self, value: date | None) -> date | None:
        if value is not None and value < _OLDEST_BIRTH:
            raise serializers.ValidationError("Enter a date of birth after 1900.")
        return _not_in_future(value, "date of birth")

    def validate_country(self, value: str) -> str:
        value = value.upper()
        if value and value not in phonenumbers.SUPPORTED_REGIONS:
            raise serializers.ValidationError("Use an ISO 3166-1 alpha-2 country code such as IN or US.")
        return value

    def validate(self, attrs: dict) -> dict:
        latitude = attrs.get("latitude", getattr(self.instance, "latitude", None))
        longitude = attrs.get("longitude", getattr(self.instance, "longitude", None))
        if (latitude is None) != (longitude is None):
            raise serializers.ValidationError({"latitude": ["Give both latitude and longitude, or neither."]})
        # Flatten the account field for the service: language is stored on the user.
        user = attrs.pop("user", None)
        if user and "language" in user:
            attrs["language"] = user["language"]
        return attrs


class PatientListSerializer(serializers.ModelSerializer):
    """One row of the patient list: identity, demographics, last consultation."""

    patient_id = serializers.UUIDField(source="id", read_only=True)
    date_of_birth = serializers.DateField(read_only=True, allow_null=True)
    age = _age_field()
    sex = serializers.SerializerMethodField()
    city = serializers.CharField(read_only=True, allow_null=True)
    country = serializers.SerializerMethodField()
    last_consultation = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="Start of the latest consultation held or due (a doctor sees only theirs).",
    )

    class Meta:
        model = User
        fields = [
            "patient_id",
            "first_name",
            "last_name",
            "phone",
            "date_of_birth",
            "age",
            "sex",
            "city",
            "country",
            "last_consultation",
        ]
        read_only_fields = fields

    @staticmethod
    def _profile(user: User) -> PatientProfile | None:
        return getattr(user, "patient_profile", None)

    def get_age(self, user: User) -> int | None:
        return age_on(user.date_of_birth, timezone.localdate())

    def get_sex(self, user: User) -> str | None:
        profile = self._profile(user)
        return profile.sex if profile else None

    def get_country(self, user: User) -> str | None:
        profile = self._profile(user)
        return profile.country if profile else None


# --- Medical history ------------------------------------------------------------------------------


class _ChartItemSerializer(serializers.ModelSerializer):
    patient_id = serializers.UUIDField(read_only=True)

    class Meta:
        read_only_fields = ["id", "patient_id", "created_at"]


class ConditionSerializer(_ChartItemSerializer):
    class Meta(_ChartItemSerializer.Meta):
        model = Condition
        fields = ["id", "patient_id", "name", "icd10_code", "since", "active", "notes", "created_at"]
        extra_kwargs = {"icd10_code": {"help_text": "ICD-10 code, e.g. E11.9"}}

    def validate_icd10_code(self, value: str) -> str:
        value = value.strip().upper()
        if value and not re.match(ICD10_PATTERN, value):
            raise serializers.ValidationError("Not an ICD-10 code (e.g. E11.9).")
        return value

    def validate_since(self, value: date | None) -> date | None:
        return _not_in_future(value)


class AllergySerializer(_ChartItemSerializer):
    class Meta(_ChartItemSerializer.Meta):
        model = Allergy
        fields = ["id", "patient_id", "substance", "reaction", "severity", "created_at"]


class SurgerySerializer(_ChartItemSerializer):
    class Meta(_ChartItemSerializer.Meta):
        model = Surgery
        fields = ["id", "patient_id", "procedure", "performed_on", "notes", "created_at"]

    def validate_performed_on(self, value: date | None) -> date | None:
        return _not_in_future(value)


class FamilyHistorySerializer(_ChartItemSerializer):
    class Meta(_ChartItemSerializer.Meta):
        model = FamilyHistory
        fields = ["id", "patient_id", "relation", "condition", "notes", "created_at"]


class MedicationSerializer(_ChartItemSerializer):
    class Meta(_ChartItemSerializer.Meta):
        model = CurrentMedication
        fields = ["id", "patient_id", "name", "dose", "frequency", "started_on", "notes", "created_at"]


class InsuranceSerializer(_ChartItemSerializer):
    is_valid_today = serializers.SerializerMethodField()

    class Meta(_ChartItemSerializer.Meta):
        model = Insurance
        fields = [
            "id",
            "patient_id",
            "provider",
            "policy_number",
            "valid_from",
            "valid_until",
            "is_valid_today",
            "created_at",
        ]

    def get_is_valid_today(self, insurance: Insurance) -> bool:
        today = timezone.localdate()
        starts, ends = insurance.valid_from, insurance.valid_until
        return (starts is None or starts <= today) and (ends is None or today <= ends)

    def validate(self, attrs: dict) -> dict:
        starts = attrs.get("valid_from", getattr(self.instance, "valid_from", None))
        ends = attrs.get("valid_until", getattr(self.instance, "valid_until", None))
        if starts and ends and ends < starts:
            raise serializers.ValidationError({"valid_until": ["Must not be before valid_from."]})
        return attrs


class EmergencyContactSerializer(_ChartItemSerializer):
    phone = PhoneField()

    class Meta(_ChartItemSerializer.Meta):
        model = EmergencyContact
        fields = ["id", "patient_id", "name", "relation", "phone", "created_at"]


# --- Records, documents, notes --------------------------------------------------------------------


class DocumentSerializer(serializers.ModelSerializer):
    """A stored document's metadata. The file itself is only served by ``download_url``."""

    patient_id = serializers.UUIDField(source="owner_id", read_only=True)
    uploaded_by = serializers.UUIDField(source="uploaded_by_id", read_only=True)
    consultation = serializers.UUIDField(source="consultation_id", read_only=True, allow_null=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = Document
        fields = [
            "id",
            "patient_id",
            "uploaded_by",
            "consultation",
            "content_type",
            "size",
            "sha256",
            "original_name",
            "created_at",
            "download_url",
        ]
        read_only_fields = fields

    def get_download_url(self, document: Document) -> str:
        return reverse(
            "patients:document-download", kwargs={"patient_id": document.owner_id, "pk": document.pk}
        )


class DocumentUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="PDF, PNG, JPEG or DICOM. The type is read from the bytes, not the name.",
        allow_empty_file=False,
    )
    consultation = serializers.PrimaryKeyRelatedField(
        queryset=Consultation.objects.none(),
        required=False,
        allow_null=True,
        help_text="A consultation of this patient the document belongs to.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        request, patient = self.context.get("request"), self.context.get("patient")
        if request is not None and patient is not None:
            self.fields["consultation"].queryset = consultations_visible_to(request.user).filter(
                patient=patient
            )


class MedicalRecordSerializer(_ChartItemSerializer):
    authored_by = serializers.UUIDField(source="authored_by_id", read_only=True, allow_null=True)
    authored_by_name = serializers.SerializerMethodField()
    document = serializers.PrimaryKeyRelatedField(
        queryset=Document.objects.none(),
        required=False,
        allow_null=True,
        help_text="One of this patient's documents (upload it first).",
    )

    class Meta(_ChartItemSerializer.Meta):
        model = MedicalRecord
        fields = [
            "id",
            "patient_id",
            "record_type",
            "title",
            "record_date",
            "authored_by",
            "authored_by_name",
            "author_name",
            "description",
            "document",
            "created_at",
        ]
        extra_kwargs = {"author_name": {"help_text": "Who wrote it, when written outside the platform."}}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        patient = self.context.get("patient")
        if patient is not None:
            self.fields["document"].queryset = Document.objects.filter(
                owner=patient, kind=DocumentKind.MEDICAL
            )

    def get_authored_by_name(self, record: MedicalRecord) -> str:
        return record.authored_by.full_name if record.authored_by else ""

    def validate_record_date(self, value: date) -> date:
        return _not_in_future(value, "record date")


class PatientNoteSerializer(_ChartItemSerializer):
    author = serializers.UUIDField(source="author_id", read_only=True)
    author_name = serializers.CharField(source="author.full_name", read_only=True)

    class Meta(_ChartItemSerializer.Meta):
        model = PatientNote
        fields = ["id", "patient_id", "author", "author_name", "text", "created_at", "updated_at"]
        read_only_fields = [*_ChartItemSerializer.Meta.read_only_fields, "updated_at"]
