"""E-clinics: registered by a clinic admin, verified by a platform admin."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from clinical.models.doctors import VerificationStatus, currency_validator
from clinical.models.patients import Address

_USER = settings.AUTH_USER_MODEL


class Clinic(Address):
    name = models.CharField(max_length=200, db_index=True)
    description = models.TextField(blank=True)
    phone = models.CharField(max_length=20, blank=True)
    email = models.EmailField(blank=True)
    verification_status = models.CharField(
        max_length=10, choices=VerificationStatus.choices, default=VerificationStatus.PENDING, db_index=True
    )
    rejection_reason = models.CharField(max_length=500, blank=True)
    verified_by = models.ForeignKey(_USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    verified_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="+")
    rating_sum = models.PositiveIntegerField(default=0)
    rating_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        # The bounding-box prefilter of the distance search uses this index.
        indexes = [models.Index(fields=["latitude", "longitude"], name="clinic_lat_lng")]

    def __str__(self) -> str:
        return self.name

    @property
    def rating_average(self) -> Decimal | None:
        if not self.rating_count:
            return None
        return (Decimal(self.rating_sum) / Decimal(self.rating_count)).quantize(Decimal("0.01"))


class ClinicRole(models.TextChoices):
    ADMIN = "admin", "Clinic admin"
    DOCTOR = "doctor", "Doctor"
    STAFF = "staff", "Staff"


class ClinicMember(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(_USER, on_delete=models.CASCADE, related_name="clinic_memberships")
    role = models.CharField(max_length=8, choices=ClinicRole.choices)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["clinic", "user"], name="unique_clinic_member")]

    def __str__(self) -> str:
        return f"{self.user_id} as {self.role} of {self.clinic_id}"


class ClinicService(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="services")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    price_amount = models.PositiveIntegerField(help_text="Minor units")
    price_currency = models.CharField(max_length=3, default="INR", validators=[currency_validator])
    duration_minutes = models.PositiveSmallIntegerField(default=15)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class InventoryItem(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="inventory")
    medication = models.ForeignKey("clinical.Medication", on_delete=models.PROTECT, related_name="+")
    stock = models.PositiveIntegerField(default=0)
    low_stock_threshold = models.PositiveIntegerField(default=10)
    unit = models.CharField(max_length=20, default="units")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["medication__generic_name"]
        constraints = [models.UniqueConstraint(fields=["clinic", "medication"], name="unique_inventory_item")]

    def __str__(self) -> str:
        return f"{self.medication_id} x{self.stock}"

    @property
    def low_stock(self) -> bool:
        return self.stock <= self.low_stock_threshold


class ClinicReview(models.Model):
    """A patient's rating of an in-clinic consultation: one per consultation."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="reviews")
    consultation = models.OneToOneField(
        "clinical.Consultation", on_delete=models.PROTECT, related_name="clinic_review"
    )
    patient = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="+")
    rating = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.rating}/5 for clinic {self.clinic_id}"
