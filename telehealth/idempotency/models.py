from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class KeyState(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"


class IdempotencyRecord(models.Model):
    """One use of an ``Idempotency-Key``: claimed while the first request runs, then holding that
    request's response for replay until ``expires_at``."""

    # SHA-256 of (caller, method, path, key). Its unique index is what decides a race between two
    # requests with one key; hashing keeps the index small however long the path is.
    scope_digest = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for anonymous callers",
    )
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.TextField()
    request_fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the canonical request body")
    state = models.CharField(max_length=12, choices=KeyState.choices, default=KeyState.IN_PROGRESS)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=255, blank=True)
    response_body = models.BinaryField(default=b"")
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}] {self.state}"

    @property
    def is_completed(self) -> bool:
        return self.state == KeyState.COMPLETED
