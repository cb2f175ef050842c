"""Stored notifications (one row per event per recipient), device tokens for push, and one row
per push attempt so a retried delivery task never pushes the same notification twice."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class NotificationKind(models.TextChoices):
    APPOINTMENT_BOOKED = "appointment_booked", "Appointment booked"
    APPOINTMENT_CONFIRMED = "appointment_confirmed", "Appointment confirmed"
    APPOINTMENT_RESCHEDULED = "appointment_rescheduled", "Appointment rescheduled"
    APPOINTMENT_CANCELLED = "appointment_cancelled", "Appointment cancelled"
    APPOINTMENT_REMINDER = "appointment_reminder", "Appointment reminder (24 h)"
    CONSULTATION_STARTING_SOON = "consultation_starting_soon", "Consultation starting soon"
    CONSULTATION_NO_SHOW = "consultation_no_show", "Consultation marked no-show"
    DOCTOR_READY = "doctor_ready", "Doctor is ready"
    PATIENT_WAITING = "patient_waiting", "Patient is waiting"
    PRESCRIPTION_ISSUED = "prescription_issued", "Prescription issued"
    MEDICATION_REMINDER = "medication_reminder", "Medication reminder"
    PAYMENT_SUCCEEDED = "payment_succeeded", "Payment succeeded"
    PAYMENT_REFUNDED = "payment_refunded", "Payment refunded"
    CHAT_MESSAGE = "chat_message", "New chat message"
    DOCTOR_VERIFICATION = "doctor_verification", "Doctor verification result"
    CLINIC_LOW_STOCK = "clinic_low_stock", "Clinic low stock"


class Notification(models.Model):
    id = models.BigAutoField(primary_key=True)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=40, choices=NotificationKind.choices)
    title = models.CharField(max_length=200)
    body = models.CharField(max_length=500, blank=True)
    # Ids and links only (consultation id, room link, amounts): never clinical content, because
    # the same payload goes to FCM/APNs/Web Push.
    data = models.JSONField(default=dict, blank=True)
    # Same key for the same recipient = the same notification: reminders sent once even if
    # the scheduler runs twice.
    dedupe_key = models.CharField(max_length=160, null=True, blank=True)  # noqa: DJ001  (NULL: no key)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "dedupe_key"],
                condition=models.Q(dedupe_key__isnull=False),
                name="notification_once_per_key",
            )
        ]
        indexes = [
            models.Index(fields=["recipient", "-id"], name="notification_inbox"),
            models.Index(
                fields=["recipient"], condition=models.Q(read_at__isnull=True), name="notification_unread"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.recipient_id}"


class Platform(models.TextChoices):
    ANDROID = "android", "Android (FCM)"
    IOS = "ios", "iOS (APNs)"
    WEB = "web", "Web Push"


class Device(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="devices")
    platform = models.CharField(max_length=8, choices=Platform.choices)
    # FCM registration token, APNs device token, or the Web Push subscription endpoint.
    token = models.TextField()
    # Web Push only: the subscription's p256dh and auth keys.
    web_push_keys = models.JSONField(null=True, blank=True)
    active = models.BooleanField(default=True)
    deactivated_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_push_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # A token belongs to one install; re-registering it (the phone changed hands) moves it.
            models.UniqueConstraint(fields=["platform", "token"], name="device_token_unique")
        ]
        indexes = [models.Index(fields=["user", "active"], name="device_user_active")]

    def __str__(self) -> str:
        return f"{self.platform} device of {self.user_id}"


class PushStatus(models.TextChoices):
    SENT = "sent", "Sent"
    INVALID_TOKEN = "invalid_token", "Token invalid (device deactivated)"
    FAILED = "failed", "Failed"


class PushAttempt(models.Model):
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="push_attempts")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="push_attempts")
    status = models.CharField(max_length=16, choices=PushStatus.choices)
    detail = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["notification", "device"], name="push_once_per_device")
        ]

    def __str__(self) -> str:
        return f"push of {self.notification_id} to {self.device_id}: {self.status}"
