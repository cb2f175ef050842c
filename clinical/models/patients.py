"""A patient's own health data. Every model hangs off the patient's user account."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

_USER = settings.AUTH_USER_MODEL


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Prefer not to say"


class BloodGroup(models.TextChoices):
    A_POS = "A+", "A+"
    A_NEG = "A-", "A-"
    B_POS = "B+", "B+"
    B_NEG = "B-", "B-"
    AB_POS = "AB+", "AB+"
    AB_NEG = "AB-", "AB-"
    O_POS = "O+", "O+"
    O_NEG = "O-", "O-"
    UNKNOWN = "unknown", "Unknown"


class Address(models.Model):
    """Postal address with coordinates (patients and clinics)."""

    address_line = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=100, blank=True, db_index=True)
    state = models.CharField(max_length=100, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    postal_code = models.CharField(max_length=20, blank=True)
    latitude = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )

    class Meta:
        abstract = True


class PatientProfile(Address):
    user = models.OneToOneField(_USER, on_delete=models.CASCADE, related_name="patient_profile")
    date_of_birth = models.DateField(null=True, blank=True, db_index=True)
    sex = models.CharField(max_length=8, choices=Sex.choices, default=Sex.UNKNOWN)
    blood_group = models.CharField(max_length=8, choices=BloodGroup.choices, default=BloodGroup.UNKNOWN)
    height_cm = models.DecimalField(
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(30), MaxValueValidator(272)],
    )
    weight_kg = models.DecimalField(
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(0.5), MaxValueValidator(650)],
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Patient profile of {self.user_id}"


class _PatientOwned(models.Model):
    patient = models.ForeignKey(_USER, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class Condition(_PatientOwned):
    name = models.CharField(max_length=200, db_index=True)
    icd10_code = models.CharField(max_length=8, blank=True)
    since = models.DateField(null=True, blank=True)
    active = models.BooleanField(default=True)
    notes = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.name


class Severity(models.TextChoices):
    MILD = "mild", "Mild"
    MODERATE = "moderate", "Moderate"
    SEVERE = "severe", "Severe"


class Allergy(_PatientOwned):
    substance = models.CharField(max_length=200, help_text="A medicine, class (penicillins) or other")
    reaction = models.CharField(max_length=200, blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.MODERATE)

    class Meta:
        verbose_name_plural = "allergies"

    def __str__(self) -> str:
        return self.substance


class Surgery(_PatientOwned):
    procedure = models.CharField(max_length=200)
    performed_on = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "surgeries"

    def __str__(self) -> str:
        return self.procedure


class FamilyHistory(_PatientOwned):
    relation = models.CharField(max_length=50)
    condition = models.CharField(max_length=200)
    notes = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "family history"

    def __str__(self) -> str:
        return f"{self.relation}: {self.condition}"


class CurrentMedication(_PatientOwned):
    name = models.CharField(max_length=200)
    dose = models.CharField(max_length=100, blank=True)
    frequency = models.CharField(max_length=100, blank=True)
    started_on = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.name


class Insurance(_PatientOwned):
    provider = models.CharField(max_length=200)
    policy_number = models.CharField(max_length=100)
    valid_from = models.DateField(null=True, blank=True)
    valid_until = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.provider} {self.policy_number}"


class EmergencyContact(_PatientOwned):
    name = models.CharField(max_length=200)
    relation = models.CharField(max_length=50)
    phone = models.CharField(max_length=20)

    def __str__(self) -> str:
        return f"{self.name} ({self.relation})"


# Uploaded documents never live under a public URL: a storage with no base URL, outside the web root.
private_storage = FileSystemStorage(location=str(settings.MEDIA_ROOT / "private"), base_url=None)


def _document_path(instance: Document, filename: str) -> str:
    # The stored name is random; the original name is kept only as data.
    return f"documents/{instance.created_at:%Y/%m}/{instance.id.hex}"


class DocumentKind(models.TextChoices):
    MEDICAL = "medical", "Medical document"
    VERIFICATION = "verification", "Doctor verification document"
    ATTACHMENT = "attachment", "Chat attachment"


class Document(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(_USER, on_delete=models.CASCADE, related_name="documents")
    uploaded_by = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=DocumentKind.choices, default=DocumentKind.MEDICAL)
    consultation = models.ForeignKey(
        "clinical.Consultation", on_delete=models.SET_NULL, null=True, blank=True, related_name="documents"
    )
    file = models.FileField(storage=private_storage, upload_to=_document_path, max_length=255)
    content_type = models.CharField(max_length=100, help_text="Sniffed from the bytes, not the name")
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    original_name = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} document {self.id}"


class RecordType(models.TextChoices):
    LAB_REPORT = "lab_report", "Lab report"
    IMAGING = "imaging", "Imaging"
    DISCHARGE_SUMMARY = "discharge_summary", "Discharge summary"
    PRESCRIPTION = "prescription", "Prescription"
    VACCINATION = "vaccination", "Vaccination"
    REFERRAL = "referral", "Referral"
    OTHER = "other", "Other"


class MedicalRecord(_PatientOwned):
    record_type = models.CharField(max_length=24, choices=RecordType.choices, db_index=True)
    title = models.CharField(max_length=200)
    record_date = models.DateField()
    authored_by = models.ForeignKey(_USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    author_name = models.CharField(max_length=200, blank=True, help_text="When written outside the platform")
    description = models.TextField(blank=True)
    document = models.ForeignKey(Document, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-record_date", "-created_at"]

    def __str__(self) -> str:
        return self.title


class PatientNote(_PatientOwned):
    """Written by a doctor about a patient; visible to the patient's care team, not the patient."""

    author = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Note by {self.author_id}"
