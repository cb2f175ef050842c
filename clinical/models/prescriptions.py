"""Medication catalogue and prescriptions. An issued prescription never changes: a correction is a
new version that supersedes it."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

_USER = settings.AUTH_USER_MODEL


class DosageForm(models.TextChoices):
    TABLET = "tablet", "Tablet"
    CAPSULE = "capsule", "Capsule"
    SYRUP = "syrup", "Syrup"
    INJECTION = "injection", "Injection"
    INHALER = "inhaler", "Inhaler"
    CREAM = "cream", "Cream"
    DROPS = "drops", "Drops"


class Medication(models.Model):
    generic_name = models.CharField(max_length=100, db_index=True)
    brand_name = models.CharField(max_length=100, blank=True)
    form = models.CharField(max_length=12, choices=DosageForm.choices)
    strength = models.CharField(max_length=50, help_text="e.g. 500 mg, 5 mg/ml")
    drug_class = models.CharField(max_length=100, blank=True, help_text="e.g. penicillins, NSAIDs")

    class Meta:
        ordering = ["generic_name", "strength"]
        constraints = [
            models.UniqueConstraint(
                fields=["generic_name", "brand_name", "form", "strength"], name="unique_medication"
            )
        ]

    def __str__(self) -> str:
        brand = f" ({self.brand_name})" if self.brand_name else ""
        return f"{self.generic_name}{brand} {self.strength} {self.form}"


class PrescriptionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ISSUED = "issued", "Issued"
    SUPERSEDED = "superseded", "Superseded by a correction"


class Prescription(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    consultation = models.ForeignKey(
        "clinical.Consultation", on_delete=models.PROTECT, related_name="prescriptions"
    )
    doctor = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="prescriptions_written")
    patient = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="prescriptions")
    status = models.CharField(
        max_length=12, choices=PrescriptionStatus.choices, default=PrescriptionStatus.DRAFT, db_index=True
    )
    version = models.PositiveSmallIntegerField(default=1)
    previous = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="correction"
    )
    notes = models.TextField(blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    # Printed on the PDF; a pharmacy checks it at the public verify endpoint.
    verification_code = models.CharField(max_length=16, unique=True, null=True, blank=True)
    override_reason = models.TextField(blank=True, help_text="Why severe warnings were overridden")
    warnings = models.JSONField(
        default=list, blank=True, help_text="Interaction and allergy findings at issue"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Prescription {self.id} v{self.version} ({self.status})"


class Route(models.TextChoices):
    ORAL = "oral", "Oral"
    TOPICAL = "topical", "Topical"
    INHALED = "inhaled", "Inhaled"
    IV = "iv", "Intravenous"
    IM = "im", "Intramuscular"
    SC = "sc", "Subcutaneous"
    SUBLINGUAL = "sublingual", "Sublingual"
    OPHTHALMIC = "ophthalmic", "Eye"
    OTIC = "otic", "Ear"
    NASAL = "nasal", "Nasal"


class Frequency(models.TextChoices):
    OD = "OD", "Once a day"
    BD = "BD", "Twice a day"
    TDS = "TDS", "Three times a day"
    QID = "QID", "Four times a day"
    QHS = "QHS", "At bedtime"
    Q8H = "Q8H", "Every 8 hours"
    WEEKLY = "WEEKLY", "Once a week"
    PRN = "PRN", "When needed"


class PrescriptionItem(models.Model):
    prescription = models.ForeignKey(Prescription, on_delete=models.CASCADE, related_name="items")
    medication = models.ForeignKey(Medication, on_delete=models.PROTECT, related_name="+")
    dose = models.CharField(max_length=50, help_text="e.g. 1 tablet, 5 ml")
    route = models.CharField(max_length=12, choices=Route.choices, default=Route.ORAL)
    frequency = models.CharField(max_length=8, choices=Frequency.choices)
    duration_days = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(365)]
    )
    quantity = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(1000)])
    instructions = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.medication} {self.dose} {self.frequency}"
