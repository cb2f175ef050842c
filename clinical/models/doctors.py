"""Doctors: profile, credentials, verification, availability and reviews."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

_USER = settings.AUTH_USER_MODEL
currency_validator = RegexValidator(r"^[A-Z]{3}$", "Use an ISO 4217 code such as INR or USD.")


class Specialisation(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Language(models.Model):
    code = models.CharField(max_length=8, unique=True, help_text="ISO 639-1, e.g. en, hi")
    name = models.CharField(max_length=50)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class VerificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    VERIFIED = "verified", "Verified"
    REJECTED = "rejected", "Rejected"


class DoctorProfile(models.Model):
    user = models.OneToOneField(_USER, on_delete=models.CASCADE, related_name="doctor_profile")
    registration_number = models.CharField(max_length=50, unique=True)
    council = models.CharField(max_length=200, help_text="The medical council that registered the doctor")
    specialisations = models.ManyToManyField(Specialisation, blank=True, related_name="doctors")
    languages = models.ManyToManyField(Language, blank=True, related_name="doctors")
    fee_amount = models.PositiveIntegerField(default=0, help_text="Consultation fee in minor units")
    fee_currency = models.CharField(max_length=3, default="INR", validators=[currency_validator])
    bio = models.TextField(blank=True)
    years_of_experience = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(80)])
    verification_status = models.CharField(
        max_length=10, choices=VerificationStatus.choices, default=VerificationStatus.PENDING, db_index=True
    )
    rejection_reason = models.CharField(max_length=500, blank=True)
    verified_by = models.ForeignKey(_USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    verified_at = models.DateTimeField(null=True, blank=True)
    slot_minutes = models.PositiveSmallIntegerField(
        default=15, validators=[MinValueValidator(5), MaxValueValidator(240)]
    )
    buffer_minutes = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(120)])
    # Ratings are kept as a sum and a count updated with F() so concurrent reviews never lose one.
    rating_sum = models.PositiveIntegerField(default=0)
    rating_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["verification_status", "fee_amount"])]

    def __str__(self) -> str:
        return f"Dr {self.user}"

    @property
    def rating_average(self) -> Decimal | None:
        if not self.rating_count:
            return None
        return (Decimal(self.rating_sum) / Decimal(self.rating_count)).quantize(Decimal("0.01"))


class Education(models.Model):
    doctor = models.ForeignKey(DoctorProfile, on_delete=models.CASCADE, related_name="education")
    degree = models.CharField(max_length=100)
    institution = models.CharField(max_length=200)
    year = models.PositiveSmallIntegerField(validators=[MinValueValidator(1940), MaxValueValidator(2100)])

    class Meta:
        ordering = ["-year"]

    def __str__(self) -> str:
        return f"{self.degree}, {self.institution}"


class Experience(models.Model):
    doctor = models.ForeignKey(DoctorProfile, on_delete=models.CASCADE, related_name="experience")
    organisation = models.CharField(max_length=200)
    title = models.CharField(max_length=100)
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-start_date"]

    def __str__(self) -> str:
        return f"{self.title}, {self.organisation}"


class AvailabilityRule(models.Model):
    """A weekly window, in the doctor's own time zone, cut into slots of ``slot_minutes``."""

    doctor = models.ForeignKey(DoctorProfile, on_delete=models.CASCADE, related_name="availability_rules")
    weekday = models.PositiveSmallIntegerField(validators=[MaxValueValidator(6)], help_text="0 = Monday")
    start_time = models.TimeField()
    end_time = models.TimeField()
    clinic = models.ForeignKey(
        "clinical.Clinic", on_delete=models.CASCADE, null=True, blank=True, related_name="availability_rules"
    )

    class Meta:
        ordering = ["weekday", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(start_time__lt=models.F("end_time")), name="rule_start_before_end"
            )
        ]

    def __str__(self) -> str:
        return f"{self.weekday} {self.start_time}-{self.end_time}"


class ExceptionKind(models.TextChoices):
    LEAVE = "leave", "Leave (no slots)"
    EXTRA = "extra", "Extra slots"


class AvailabilityException(models.Model):
    """A date that differs from the weekly rules: leave (all day, or a window) or extra hours."""

    doctor = models.ForeignKey(
        DoctorProfile, on_delete=models.CASCADE, related_name="availability_exceptions"
    )
    date = models.DateField(db_index=True)
    kind = models.CharField(max_length=8, choices=ExceptionKind.choices)
    start_time = models.TimeField(null=True, blank=True)
    end_time = models.TimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["date", "start_time"]

    def __str__(self) -> str:
        return f"{self.kind} on {self.date}"


class Review(models.Model):
    """A patient's rating of a completed consultation: one per consultation."""

    consultation = models.OneToOneField(
        "clinical.Consultation", on_delete=models.PROTECT, related_name="review"
    )
    patient = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="+")
    doctor = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="reviews_received")
    rating = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(5)])
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rating__gte=1, rating__lte=5), name="review_rating_1_to_5"
            )
        ]

    def __str__(self) -> str:
        return f"{self.rating}/5 for {self.doctor_id}"
