from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditAction(models.TextChoices):
    READ = "read", "Read"
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    DELETE = "delete", "Delete"
    DOWNLOAD = "download", "Download"
    DENIED = "denied", "Denied"


class AppendOnlyError(RuntimeError):
    """An attempt to change or delete an audit entry."""


class AuditEntryQuerySet(models.QuerySet):
    """No bulk changes or deletes. The database refuses them too (migration 0002); the one way to
    remove entries is ``services.purge_entries``, for data about fake people only."""

    def update(self, **kwargs):
        raise AppendOnlyError("Audit entries are append-only.")

    def delete(self):
        raise AppendOnlyError("Audit entries are append-only.")


class AuditEntry(models.Model):
    """Who touched whose health data, when, from where. Append-only: written, never changed.

    Enforced three times: here (``save`` of a stored entry, ``delete``), in the queryset (bulk
    ``update``/``delete``), and by database triggers that refuse any UPDATE or DELETE statement.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_role = models.CharField(max_length=16, blank=True)
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Whose health data it was",
    )
    action = models.CharField(max_length=10, choices=AuditAction.choices)
    resource = models.CharField(max_length=64, help_text="e.g. patient_profile, medical_record")
    object_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    method = models.CharField(max_length=8, blank=True)
    path = models.CharField(max_length=300, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["subject", "at"]), models.Index(fields=["actor", "at"])]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.actor_id} {self.action} {self.resource} of {self.subject_id}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise AppendOnlyError("Audit entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit entries are append-only.")
