"""Reactions to account changes, whichever path made them (the API, the admin, a shell)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from telehealth.accounts.models import User


@receiver(post_save, sender=User, dispatch_uid="accounts.close_sockets_of_inactive_user")
def close_sockets_of_inactive_user(sender, instance: User, created: bool, **kwargs: Any) -> None:
    """A deactivated account's open websockets close with 4401 after commit. (The handshake and
    the API already refuse its tokens.) Saving an inactive user again closes nothing new: an
    inactive user has no sockets to close. ``QuerySet.update`` sends no signal: deactivate with
    ``save()``."""
    update_fields = kwargs.get("update_fields")
    if created or instance.is_active or (update_fields is not None and "is_active" not in update_fields):
        return
    from signaling import revocation  # signaling builds on accounts, not the other way round

    revocation.close_user_sockets_on_commit(instance.pk, revocation.CLOSE_SIGNED_OUT)
