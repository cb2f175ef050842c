from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinical.models import (
    Clinic,
    ClinicMember,
    ClinicReview,
    ClinicRole,
    ClinicService,
    Consultation,
    InventoryItem,
    Medication,
    Specialisation,
)
from clinical.models.doctors import currency_validator
from telehealth.accounts.models import User
from telehealth.accounts.serializers import PhoneField

country_validator = RegexValidator(r"^[A-Z]{2}$", "Use an ISO 3166-1 alpha-2 code such as IN or US.")


def _display_name(user: User) -> str:
    return f"{user.first_name} {user.last_name}".strip()


class CoordinateField(serializers.DecimalField):
    """Degrees as a JSON number; more than six decimals (~0.1 m) are rounded, not refused."""

    def __init__(self, limit: int, **kwargs) -> None:
        # No max_digits: the range bounds the integer part, and extra decimals are rounded.
        super().__init__(
            max_digits=None,
            decimal_places=6,
            min_value=-limit,
            max_value=limit,
            coerce_to_string=False,
            rounding=ROUND_HALF_UP,
            allow_null=True,
            required=False,
            **kwargs,
        )

    def validate_precision(self, value: Decimal) -> Decimal:
        return value  # ``quantize`` rounds to six places right after this


# --- Clinics ---------------------------------------------------------------------------------------


class SpecialisationBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Specialisation
        fields = ["slug", "name"]


class ClinicDoctorSerializer(serializers.Serializer):
    """A doctor attached to the clinic, as the public sees them."""

    user_id = serializers.UUIDField(read_only=True)
    name = serializers.SerializerMethodField()
    specialisations = serializers.SerializerMethodField()

    def get_name(self, member: ClinicMember) -> str:
        return _display_name(member.user)

    @extend_schema_field(SpecialisationBriefSerializer(many=True))
    def get_specialisations(self, member: ClinicMember) -> list[dict]:
        profile = getattr(member.user, "doctor_profile", None)
        if profile is None:
            return []
        return SpecialisationBriefSerializer(profile.specialisations.all(), many=True).data


class ServiceBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = ClinicService
        fields = ["id", "name", "price_amount", "price_currency", "duration_minutes"]


class ClinicSerializer(serializers.ModelSerializer):
    latitude = CoordinateField(90, read_only=True)
    longitude = CoordinateField(180, read_only=True)
    rating_average = serializers.DecimalField(
        max_digits=3, decimal_places=2, read_only=True, allow_null=True, coerce_to_string=False
    )
    services = ServiceBriefSerializer(source="active_services", many=True, read_only=True)
    doctors = ClinicDoctorSerializer(source="doctor_members", many=True, read_only=True)
    distance_km = serializers.SerializerMethodField(
        help_text="Great-circle distance from ?lat=&lng= in km; null without a geographic search."
    )

    class Meta:
        model = Clinic
        fields = [
            "id",
            "name",
            "description",
            "phone",
            "email",
            "address_line",
            "city",
            "state",
            "country",
            "postal_code",
            "latitude",
            "longitude",
            "verification_status",
            "rejection_reason",
            "verified_at",
            "rating_average",
            "rating_count",
            "services",
            "doctors",
            "distance_km",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_distance_km(self, clinic: Clinic) -> float | None:
        distance = getattr(clinic, "distance_km", None)
        return None if distance is None else round(distance, 3)


class MyClinicSerializer(ClinicSerializer):
    clinic_role = serializers.ChoiceField(
        source="my_role", choices=ClinicRole.choices, read_only=True, help_text="Your role in this clinic"
    )

    class Meta(ClinicSerializer.Meta):
        fields = [*ClinicSerializer.Meta.fields, "clinic_role"]
        read_only_fields = fields


class ClinicWriteSerializer(serializers.ModelSerializer):
    phone = PhoneField(required=False, allow_blank=True)
    country = serializers.CharField(
        max_length=2, required=False, allow_blank=True, validators=[country_validator]
    )
    latitude = CoordinateField(90)
    longitude = CoordinateField(180)

    class Meta:
        model = Clinic
        fields = [
            "name",
            "description",
            "phone",
            "email",
            "address_line",
            "city",
            "state",
            "country",
            "postal_code",
            "latitude",
            "longitude",
        ]

    def validate(self, attrs: dict) -> dict:
        instance = self.instance
        lat = attrs.get("latitude", instance.latitude if instance else None)
        lng = attrs.get("longitude", instance.longitude if instance else None)
        if (lat is None) != (lng is None):
            missing = "longitude" if lng is None else "latitude"
            raise serializers.ValidationError({missing: ["Give latitude and longitude together."]})
        return attrs


class RejectSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, trim_whitespace=True)


# --- Members ---------------------------------------------------------------------------------------


class ClinicMemberSerializer(serializers.ModelSerializer):
    user = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))
    name = serializers.SerializerMethodField()
    account_role = serializers.CharField(source="user.role", read_only=True, help_text="Platform role")
    clinic_role = serializers.ChoiceField(source="role", choices=ClinicRole.choices)

    class Meta:
        model = ClinicMember
        fields = ["id", "user", "name", "account_role", "clinic_role", "joined_at"]
        read_only_fields = ["id", "joined_at"]

    def get_name(self, member: ClinicMember) -> str:
        return _display_name(member.user)


# --- Services --------------------------------------------------------------------------------------


class ClinicServiceSerializer(serializers.ModelSerializer):
    price_currency = serializers.CharField(max_length=3, default="INR", validators=[currency_validator])
    duration_minutes = serializers.IntegerField(min_value=5, max_value=480, default=15)
    price_amount = serializers.IntegerField(
        min_value=0, max_value=2_000_000_000, help_text="Minor units (paise, cents)"
    )

    class Meta:
        model = ClinicService
        fields = ["id", "name", "description", "price_amount", "price_currency", "duration_minutes", "active"]
        read_only_fields = ["id"]


# --- Inventory -------------------------------------------------------------------------------------


class MedicationBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Medication
        fields = ["id", "generic_name", "brand_name", "form", "strength"]


class InventoryItemSerializer(serializers.ModelSerializer):
    medication = serializers.PrimaryKeyRelatedField(queryset=Medication.objects.all())
    medication_detail = MedicationBriefSerializer(source="medication", read_only=True)
    stock = serializers.IntegerField(min_value=0, max_value=2_000_000_000, default=0)
    low_stock_threshold = serializers.IntegerField(min_value=0, max_value=2_000_000_000, default=10)
    low_stock = serializers.BooleanField(read_only=True, help_text="stock <= low_stock_threshold")

    class Meta:
        model = InventoryItem
        fields = [
            "id",
            "medication",
            "medication_detail",
            "stock",
            "low_stock_threshold",
            "unit",
            "low_stock",
            "updated_at",
        ]
        read_only_fields = ["id", "updated_at"]


class InventoryItemUpdateSerializer(serializers.ModelSerializer):
    """Threshold and unit only: stock moves through ``adjust/`` and the medication never changes."""

    low_stock_threshold = serializers.IntegerField(min_value=0, max_value=2_000_000_000)

    class Meta:
        model = InventoryItem
        fields = ["low_stock_threshold", "unit"]


class StockAdjustSerializer(serializers.Serializer):
    delta = serializers.IntegerField(
        min_value=-1_000_000, max_value=1_000_000, help_text="Positive to add stock, negative to take"
    )
    reason = serializers.CharField(max_length=200, trim_whitespace=True)

    def validate_delta(self, value: int) -> int:
        if value == 0:
            raise serializers.ValidationError("Must not be zero.")
        return value


# --- Reviews ---------------------------------------------------------------------------------------


class ClinicReviewSerializer(serializers.ModelSerializer):
    """Public: the rating and comment, never who wrote it."""

    class Meta:
        model = ClinicReview
        fields = ["id", "rating", "comment", "created_at"]
        read_only_fields = fields


class ClinicReviewCreateSerializer(serializers.Serializer):
    consultation = serializers.UUIDField(help_text="Your completed in-clinic consultation at this clinic")
    rating = serializers.IntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


# --- Appointments ----------------------------------------------------------------------------------


class PersonBriefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.SerializerMethodField()

    def get_name(self, user: User) -> str:
        return _display_name(user)


class ClinicAppointmentSerializer(serializers.ModelSerializer):
    patient = PersonBriefSerializer(read_only=True)
    doctor = PersonBriefSerializer(read_only=True)
    scheduled_end = serializers.DateTimeField(read_only=True)

    class Meta:
        model = Consultation
        fields = [
            "id",
            "type",
            "state",
            "scheduled_start",
            "scheduled_end",
            "duration_minutes",
            "patient",
            "doctor",
            "fee_amount",
            "fee_currency",
        ]
        read_only_fields = fields
