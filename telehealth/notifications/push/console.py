"""The default backend: one log line per push, for development and tests. It logs ids and the
notification kind only: no token, no title or body, no data."""

from __future__ import annotations

import logging

from telehealth.notifications.models import Device
from telehealth.notifications.push.base import PushBackend, PushMessage, PushResult

logger = logging.getLogger("telehealth.notifications.push")


class ConsoleBackend(PushBackend):
    name = "console"

    def send(self, device: Device, message: PushMessage) -> PushResult:
        logger.info(
            "Push (console): notification %s (%s) to %s device %s of user %s",
            message.data.get("notification_id"),
            message.data.get("kind"),
            device.platform,
            device.pk,
            device.user_id,
        )
        return PushResult.sent("console")
