from __future__ import annotations

import uuid
import zoneinfo

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone as dj_timezone

from telehealth.accounts.phone import normalize_phone


class Role(models.TextChoices):
    PATIENT = "patient", "Patient"
    DOCTOR = "doctor", "Doctor"
    ADMIN = "admin", "Admin"
    SUPERADMIN = "superadmin", "Super admin"


STAFF_ROLES = frozenset({Role.ADMIN, Role.SUPERADMIN})


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError("Unknown time zone; use an IANA name such as Asia/Kolkata.")


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, phone: str, password: str | None = None, **fields) -> User:
        user = self.model(phone=normalize_phone(phone), **fields)
        if password:
            user.set_password(password)
        else:
            # Patients and doctors log in with OTPs; only staff using /admin/ need a password.
            user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, phone: str, password: str | None = None, **fields) -> User:
        fields["role"] = Role.SUPERADMIN
        return self.create_user(phone, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """An account keyed by phone number. The role decides what the account may do."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    phone = models.CharField(max_length=20, unique=True, help_text="E.164, e.g. +14155552671")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.PATIENT, db_index=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    email = models.EmailField(blank=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    language = models.CharField(max_length=16, default="en")
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May log in to /admin/.")
    date_joined = models.DateTimeField(default=dj_timezone.now)
    phone_verified_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "phone"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["-date_joined"]

    def __str__(self) -> str:
        return self.phone

    def clean(self) -> None:
        super().clean()
        if self.phone:
            self.phone = normalize_phone(self.phone)

    def save(self, *args, **kwargs) -> None:
        # The role is the single source of truth for Django's own staff flags.
        self.is_staff = self.role in STAFF_ROLES
        self.is_superuser = self.role == Role.SUPERADMIN
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_patient(self) -> bool:
        return self.role == Role.PATIENT

    @property
    def is_doctor(self) -> bool:
        return self.role == Role.DOCTOR

    @property
    def is_admin_role(self) -> bool:
        """Admins and superadmins."""
        return self.role in STAFF_ROLES


class PhoneOTP(models.Model):
    """A one-time login code. Only an HMAC of the code is stored."""

    phone = models.CharField(max_length=20, db_index=True)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=dj_timezone.now)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    consumed_at = models.DateTimeField(null=True, blank=True)
    # Set when the code can no longer be used: too many wrong attempts or replaced by a new code.
    invalidated_at = models.DateTimeField(null=True, blank=True)
    requested_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["phone", "-created_at"])]

    def __str__(self) -> str:
        return f"OTP for {self.phone} at {self.created_at:%Y-%m-%d %H:%M:%S}"

    def is_usable(self, now) -> bool:
        return self.consumed_at is None and self.invalidated_at is None and now < self.expires_at
