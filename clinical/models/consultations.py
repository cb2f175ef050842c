from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class ConsultationType(models.TextChoices):
    VIDEO = "video", "Video"
    AUDIO = "audio", "Audio"
    CHAT = "chat", "Chat"
    IN_CLINIC = "in_clinic", "In clinic"


class ConsultationState(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", "Awaiting payment"
    SCHEDULED = "scheduled", "Scheduled"
    WAITING = "waiting", "Patient waiting"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    NO_SHOW = "no_show", "No show"
    RESCHEDULED = "rescheduled", "Rescheduled"


class NoShowParty(models.TextChoices):
    PATIENT = "patient", "Patient"
    DOCTOR = "doctor", "Doctor"


# The lifecycle: anything not listed here is refused.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    # A booking with a fee holds its slot until its payment is confirmed (→ scheduled, only by
    # payments.services) or fails, expires or is cancelled (→ cancelled).
    ConsultationState.PENDING_PAYMENT: frozenset({ConsultationState.SCHEDULED, ConsultationState.CANCELLED}),
    ConsultationState.SCHEDULED: frozenset(
        {
            ConsultationState.WAITING,
            ConsultationState.IN_PROGRESS,
            ConsultationState.CANCELLED,
            ConsultationState.NO_SHOW,
            ConsultationState.RESCHEDULED,
        }
    ),
    ConsultationState.WAITING: frozenset(
        {
            ConsultationState.IN_PROGRESS,
            ConsultationState.CANCELLED,
            ConsultationState.NO_SHOW,
            ConsultationState.RESCHEDULED,
        }
    ),
    ConsultationState.IN_PROGRESS: frozenset({ConsultationState.COMPLETED}),
    ConsultationState.COMPLETED: frozenset(),
    ConsultationState.CANCELLED: frozenset(),
    ConsultationState.NO_SHOW: frozenset(),
    ConsultationState.RESCHEDULED: frozenset(),
}
TERMINAL_STATES = frozenset(s for s, targets in ALLOWED_TRANSITIONS.items() if not targets)
# States that hold the doctor's slot: at most one such consultation per doctor and start time.
ACTIVE_STATES = frozenset(
    {
        ConsultationState.PENDING_PAYMENT,
        ConsultationState.SCHEDULED,
        ConsultationState.WAITING,
        ConsultationState.IN_PROGRESS,
    }
)
# A letter (U too: U07.1 is COVID-19), two digits or a digit and A/B (C7A), then an optional
# dotted extension of 1-4 characters (J45.909, S72.001A).
ICD10_PATTERN = r"^[A-Z][0-9][0-9AB](\.[0-9A-Z]{1,4})?$"


class Consultation(models.Model):
    """A meeting between one patient and one doctor. The UUID is the room link: never guessable."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    patient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consultations_as_patient"
    )
    doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consultations_as_doctor"
    )
    type = models.CharField(max_length=16, choices=ConsultationType.choices, default=ConsultationType.VIDEO)
    state = models.CharField(
        max_length=16, choices=ConsultationState.choices, default=ConsultationState.SCHEDULED, db_index=True
    )
    scheduled_start = models.DateTimeField(db_index=True)
    duration_minutes = models.PositiveSmallIntegerField(default=15)
    clinic = models.ForeignKey(
        "clinical.Clinic", on_delete=models.PROTECT, null=True, blank=True, related_name="consultations"
    )
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # The doctor's fee at booking time, in minor units (never a float).
    fee_amount = models.PositiveIntegerField(default=0)
    fee_currency = models.CharField(max_length=3, default="INR")
    chief_complaint = models.CharField(max_length=500, blank=True)
    symptoms = models.JSONField(default=list, blank=True)
    diagnosis = models.TextField(blank=True)
    icd10_code = models.CharField(max_length=8, blank=True)
    treatment_plan = models.TextField(blank=True)
    follow_up_date = models.DateField(null=True, blank=True)
    cancellation_reason = models.CharField(max_length=500, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Who did not turn up, for no-shows: decides whether the patient gets their money back.
    no_show_party = models.CharField(max_length=8, choices=NoShowParty.choices, blank=True)
    rescheduled_from = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="rescheduled_to"
    )
    waiting_since = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # Highest sequence number handed out in this room: chat messages and room events share it.
    last_seq = models.PositiveBigIntegerField(default=0)
    patient_read_seq = models.PositiveBigIntegerField(default=0)
    doctor_read_seq = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-scheduled_start"]
        indexes = [
            models.Index(fields=["doctor", "scheduled_start"]),
            models.Index(fields=["patient", "scheduled_start"]),
        ]
        constraints = [
            # The guarantee against double booking: concurrent inserts for one slot cannot both
            # commit. Cancelled, no-show, rescheduled and completed rows no longer hold the slot.
            models.UniqueConstraint(
                fields=["doctor", "scheduled_start"],
                condition=models.Q(state__in=sorted(ACTIVE_STATES)),
                name="one_active_booking_per_doctor_slot",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} consultation {self.id} ({self.state})"

    @property
    def scheduled_end(self) -> datetime:
        return self.scheduled_start + timedelta(minutes=self.duration_minutes)

    def can_transition(self, to_state: str) -> bool:
        return to_state in ALLOWED_TRANSITIONS[self.state]


class ChatMessage(models.Model):
    """A chat line in a consultation. Stored before anyone is told about it."""

    consultation = models.ForeignKey(Consultation, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveBigIntegerField()
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    sender_role = models.CharField(max_length=16)
    # The sender's own id for the message: a retried send carries the same one and stores nothing new.
    client_id = models.CharField(max_length=64)
    text = models.TextField()
    attachment_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["consultation", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["consultation", "seq"], name="chat_unique_seq"),
            models.UniqueConstraint(
                fields=["consultation", "sender", "client_id"], name="chat_unique_client_id"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} in {self.consultation_id}"


class EventKind(models.TextChoices):
    STATE = "state", "State change"
    ALERT = "alert", "Vitals alert"


class ConsultationEvent(models.Model):
    """A sequenced room event other than chat: lifecycle changes and vitals alerts. Replayed on resume."""

    consultation = models.ForeignKey(Consultation, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["consultation", "seq"]
        constraints = [models.UniqueConstraint(fields=["consultation", "seq"], name="event_unique_seq")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.seq} in {self.consultation_id}"


class ConsultationNote(models.Model):
    """A doctor's note on a consultation (private to the care team)."""

    consultation = models.ForeignKey(Consultation, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"Note on {self.consultation_id}"


class VitalKind(models.TextChoices):
    HEART_RATE = "heart_rate", "Heart rate"
    SPO2 = "spo2", "Oxygen saturation"
    BLOOD_PRESSURE = "blood_pressure", "Blood pressure"
    TEMPERATURE = "temperature", "Body temperature"
    RESPIRATORY_RATE = "respiratory_rate", "Respiratory rate"
    GLUCOSE = "glucose", "Blood glucose"
    WEIGHT = "weight", "Body weight"


class VitalSign(models.Model):
    """One measurement from a patient's device. Blood pressure uses ``value`` (systolic) and
    ``value2`` (diastolic)."""

    consultation = models.ForeignKey(
        Consultation, on_delete=models.CASCADE, related_name="vitals", null=True, blank=True
    )
    patient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="vitals")
    kind = models.CharField(max_length=24, choices=VitalKind.choices)
    value = models.DecimalField(max_digits=7, decimal_places=2)
    value2 = models.DecimalField(max_digits=7, decimal_places=2, null=True, blank=True)
    unit = models.CharField(max_length=16)
    measured_at = models.DateTimeField()
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    is_abnormal = models.BooleanField(default=False)
    client_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-measured_at"]
        indexes = [models.Index(fields=["consultation", "kind", "measured_at"])]

    def __str__(self) -> str:
        return f"{self.kind}={self.value}{self.unit}"
