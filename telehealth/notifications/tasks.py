"""Celery tasks of the notifications app (push delivery). Placeholder until the push backends land."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="notifications.send_push", acks_late=True)
def send_push(notification_id: int) -> None:
    return None
