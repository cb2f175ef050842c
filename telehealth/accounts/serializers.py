from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from telehealth.accounts.models import Role, User
from telehealth.accounts.phone import normalize_phone


class PhoneField(serializers.CharField):
    """Accepts any dialable format and yields E.164."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("help_text", "Phone number in international format, e.g. +14155552671.")
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> str:
        value = super().to_internal_value(data)
        try:
            return normalize_phone(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc


class SendOTPSerializer(serializers.Serializer):
    phone = PhoneField()


class OTPChallengeSerializer(serializers.Serializer):
    phone = serializers.CharField(help_text="The number the code was sent to, in E.164.")
    expires_in = serializers.IntegerField(help_text="Seconds until the code expires.")
    resend_after = serializers.IntegerField(help_text="Seconds before another code may be requested.")


class VerifyOTPSerializer(serializers.Serializer):
    phone = PhoneField()
    code = serializers.RegexField(r"^\d{4,10}$", error_messages={"invalid": "Enter the numeric code."})


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = [
            "id",
            "phone",
            "role",
            "first_name",
            "last_name",
            "email",
            "timezone",
            "language",
            "is_active",
            "date_joined",
            "phone_verified_at",
        ]
        read_only_fields = fields


class ProfileSerializer(serializers.ModelSerializer):
    """What a user may change about themselves. Phone and role are not among it."""

    class Meta:
        model = User
        fields = [
            "id",
            "phone",
            "role",
            "first_name",
            "last_name",
            "email",
            "timezone",
            "language",
            "date_joined",
            "phone_verified_at",
        ]
        read_only_fields = ["id", "phone", "role", "date_joined", "phone_verified_at"]


class AuthResultSerializer(serializers.Serializer):
    access = serializers.CharField(help_text="Short-lived JWT for the Authorization header.")
    refresh = serializers.CharField(help_text="Long-lived JWT for /api/auth/refresh/ (single use).")
    user = UserSerializer()
    created = serializers.BooleanField(help_text="True when this login created the account.")


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class LogoutSerializer(serializers.Serializer):
    refresh = serializers.CharField()
    all_devices = serializers.BooleanField(
        default=False, help_text="Also revoke every other refresh token of this account."
    )


class AccountCreateSerializer(serializers.ModelSerializer):
    phone = PhoneField()
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = User
        fields = ["phone", "role", "first_name", "last_name", "email", "timezone", "language"]


class AccountUpdateSerializer(serializers.ModelSerializer):
    role = serializers.ChoiceField(choices=Role.choices, required=False)

    class Meta:
        model = User
        fields = ["role", "first_name", "last_name", "email", "timezone", "language", "is_active"]
