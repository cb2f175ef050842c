"""The notifications socket: ``/ws/notifications/``, one per app instance of a signed-in user.

Same handshake as the room (JWT in the subprotocol or ``?token=``, Origin policy). The socket
joins the user's own group only, so a user receives their own notifications and nobody else's.
Every notification is stored before it is sent (``telehealth.notifications.services.notify``); an
app that was offline sends ``resume`` with the last id it saw (or connects with ``?last_id=``) and
gets what it missed, oldest first, then live ones, each id once per connection.

It also carries doctors' status: ``subscribe_doctor_status`` joins that doctor's status group.
A doctor's own socket counts as "online" for their status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

from django.conf import settings
from django.http import Http404
from rest_framework_simplejwt.tokens import AccessToken

from clinical.doctors.selectors import get_doctor_for
from signaling import frames, protocol, revocation
from signaling import notification_protocol as np
from signaling.heartbeat import get_sweeper
from signaling.presence import get_presence, is_stale
from signaling.protocol import FrameError
from signaling.sockets import FrameSocket
from signaling.storage import storage
from telehealth.accounts.models import Role
from telehealth.notifications import doctor_status, services

logger = logging.getLogger("telehealth.notifications")

REMEMBERED_IDS = 2_000  # ids delivered on this connection, so a resume never repeats a live one


def _summary(user_id: Any) -> tuple[int, int]:
    return (
        services.unread_count_of(user_id),
        services.latest_id(user_id),
    )


def _visible_doctor(user, doctor_id) -> str:
    get_doctor_for(user, doctor_id)  # Http404 when the user may not see the doctor
    return str(doctor_id)


class NotificationConsumer(FrameSocket):
    client_frames = np.CLIENT_FRAMES
    socket_kind = revocation.NOTIFICATION_SOCKETS

    async def set_up(self, token: AccessToken) -> None:
        if not await self.look_up_user(token):
            return
        self.role = self.user.role
        self.group = services.user_group(self.user.pk)
        self.room_id = services.presence_room(self.user.pk)  # the sweeper's key for this socket
        self.presence = get_presence()
        self.delivered: OrderedDict[int, None] = OrderedDict()
        self.status_groups: set[str] = set()

        self.in_groups = True  # from here on, cleanup must undo the memberships
        await asyncio.gather(
            self.channel_layer.group_add(self.group, self.channel_name), self.join_user_sockets()
        )
        # Registered before the inbox is read: a notification from now on comes live or by resume.
        await self.presence.put(self.room_id, self.channel_name, self.presence_entry())
        unread, latest = await storage(_summary)(self.user.pk)
        self.start_frames()
        await self._send(
            {
                "type": "connected",
                "user_id": str(self.user.pk),
                "unread": unread,
                "latest_id": latest,
                "heartbeat_seconds": settings.WS_HEARTBEAT_SECONDS,
                "idle_timeout_seconds": settings.WS_IDLE_TIMEOUT_SECONDS,
            }
        )
        try:
            last_id = self.query_number("last_id")
        except FrameError as error:
            await self._send(frames.error_frame(error.code, error.message, error.details))
        else:
            if last_id is not None:
                await self._replay_after(last_id)
        if self.role == Role.DOCTOR:
            await storage(doctor_status.publish)(self.user.pk)
        self.sweeper = get_sweeper()
        self.sweeper.add(self)
        logger.info("User %s opened a notifications socket", self.user.pk)

    async def disconnect(self, code: int) -> None:
        await self._cleanup()

    def describe(self) -> str:
        return "notifications socket"

    async def _cleanup(self) -> None:
        if not getattr(self, "in_groups", False) or self.cleaned_up:
            return
        self.cleaned_up = True
        if getattr(self, "sweeper", None) is not None:
            self.sweeper.discard(self)
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await self.leave_user_sockets()
        for group in self.status_groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        try:
            await self.presence.remove(self.room_id, self.channel_name)
        except Exception:  # Redis gone: the entry goes stale and stops counting
            logger.warning("Presence cleanup failed for a notifications socket", exc_info=True)
        if self.role == Role.DOCTOR:
            try:
                await storage(doctor_status.publish)(self.user.pk)
            except Exception:
                logger.warning("Could not publish doctor %s going offline", self.user.pk, exc_info=True)

    # --- Client frames ----------------------------------------------------------------------------

    async def on_resume(self, frame: np.NotificationResumeFrame) -> None:
        replayed = await self._replay_after(frame.last_id)
        latest = await storage(services.latest_id)(self.user.pk)
        await self._send(frames.ack_frame(frame.id, "resume", replayed=replayed, latest_id=latest))

    async def on_mark_read(self, frame: np.MarkReadFrame) -> None:
        marked = await storage(services.mark_read)(self.user, frame.ids)
        unread = await storage(services.unread_count_of)(self.user.pk)
        await self._send(frames.ack_frame(frame.id, "mark_read", marked=marked, unread=unread))

    async def on_subscribe_doctor_status(self, frame: np.SubscribeDoctorStatusFrame) -> None:
        group = doctor_status.status_group(frame.doctor_id)
        if group not in self.status_groups and len(self.status_groups) >= np.MAX_STATUS_SUBSCRIPTIONS:
            raise FrameError(
                protocol.VALIDATION_ERROR,
                f"At most {np.MAX_STATUS_SUBSCRIPTIONS} doctors at a time; unsubscribe first.",
                {"doctor_id": [f"Already following {len(self.status_groups)} doctors."]},
                frame.id,
            )
        try:
            await storage(_visible_doctor)(self.user, frame.doctor_id)
        except Http404 as missing:
            raise FrameError(protocol.NOT_FOUND, "No such doctor.", {}, frame.id) from missing
        # Join first, then read: a change in between arrives as a second, newer frame.
        await self.channel_layer.group_add(group, self.channel_name)
        self.status_groups.add(group)
        await self._send(
            frames.ack_frame(frame.id, "subscribe_doctor_status", doctor_id=str(frame.doctor_id))
        )
        await self._send(await storage(doctor_status.status_frame)(frame.doctor_id))

    async def on_unsubscribe_doctor_status(self, frame: np.UnsubscribeDoctorStatusFrame) -> None:
        group = doctor_status.status_group(frame.doctor_id)
        if group in self.status_groups:
            await self.channel_layer.group_discard(group, self.channel_name)
            self.status_groups.discard(group)
        await self._send(
            frames.ack_frame(frame.id, "unsubscribe_doctor_status", doctor_id=str(frame.doctor_id))
        )

    # --- Channel-layer events ---------------------------------------------------------------------

    async def notify_deliver(self, event: dict[str, Any]) -> None:
        if self.ready and not self.cleaned_up:
            await self._deliver(event["frame"])

    async def notify_doctor_status(self, event: dict[str, Any]) -> None:
        if self.ready and not self.cleaned_up:
            await self._send(event["frame"])

    # --- Delivery ---------------------------------------------------------------------------------

    async def _deliver(self, frame: dict[str, Any]) -> None:
        notification_id = frame["notification"]["id"]
        if notification_id in self.delivered:
            return
        self.delivered[notification_id] = None
        if len(self.delivered) > REMEMBERED_IDS:
            self.delivered.popitem(last=False)
        await self._send(frame)

    async def _replay_after(self, last_id: int) -> int:
        replayed, after = 0, last_id
        while True:
            batch = await storage(services.notifications_after)(self.user.pk, after)
            for notification in batch:
                if notification.pk not in self.delivered:
                    replayed += 1
                await self._deliver(services.notification_frame(notification))
            if len(batch) < services.RESUME_BATCH:
                return replayed
            after = batch[-1].pk

    # --- Presence (for "is this user connected?" and the sweeper) ---------------------------------

    def presence_entry(self) -> dict[str, Any]:
        return {"user_id": str(self.user.pk), "role": self.role, "status": "connected"}

    async def prune_stale(self) -> None:
        """Forget this user's sockets on processes that died (they count as disconnected)."""
        entries = await self.presence.entries(self.room_id)
        now = time.time()
        removed = False
        for channel, entry in entries.items():
            if channel != self.channel_name and is_stale(entry, now):
                removed |= await self.presence.remove(self.room_id, channel)
        if removed and self.role == Role.DOCTOR:
            await storage(doctor_status.publish)(self.user.pk)
