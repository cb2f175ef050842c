"""The consultation room socket: ``/ws/consultations/<consultation id>/``.

Thin by design: it authenticates, validates frames against ``protocol``, calls services on the
storage threads and fans out through the channel layer. Sequenced frames (chat, state changes,
vitals alerts) reach every client in ``seq`` order with no gap and no duplicate: out-of-order
arrivals wait in ``pending`` and gaps are filled from the database.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from clinical.models import ConsultationState
from clinical.services import InvalidTransition, RoomAccessError
from signaling import frames, protocol, revocation, services
from signaling.heartbeat import get_sweeper
from signaling.ice import ice_servers_for
from signaling.presence import get_presence, is_stale, participants
from signaling.protocol import FrameError
from signaling.ratelimit import TokenBucket
from signaling.sockets import FrameSocket, encode_frame
from signaling.storage import storage
from telehealth.notifications.models import NotificationKind

logger = logging.getLogger("telehealth.signaling")

REPLAY_BATCH = 500
GAP_FILL_DELAY_SECONDS = 0.25
RELAYED_TYPES = ("offer", "answer", "ice_candidate", "ice_restart", "hangup", "media_state", "typing")


class ConsultationConsumer(FrameSocket):
    client_frames = protocol.CLIENT_FRAMES
    socket_kind = revocation.ROOM_SOCKETS

    # --- Connection lifecycle ---------------------------------------------------------------------

    async def set_up(self, token: AccessToken) -> None:
        # A connect makes two trips to the database (who and may they, then the room's position
        # once in its group) and three round trips to Redis: a burst of connects is CPU-bound.
        room_id = self.scope["url_route"]["kwargs"]["consultation_id"]
        try:
            self.user, self.access = await storage(services.open_room)(token, room_id)
        except RoomAccessError as refusal:
            logger.info("Room %s refused user %s: %s", room_id, token.get("user_id"), refusal.close_code)
            await self.close(refusal.close_code)
            return
        self.room_id = self.access.consultation_id
        await self._enter()

    async def _enter(self) -> None:
        self.role = self.access.role
        self.group = f"room.{self.room_id}"
        self.waiting_group = f"room.{self.room_id}.waiting"
        self.status = (
            "waiting"
            if self.role == "patient" and self.access.state != ConsultationState.IN_PROGRESS
            else "joined"
        )
        self.media = {"audio": False, "video": False, "screen": False}
        self.vitals_bucket = TokenBucket(settings.WS_VITALS_PER_SECOND, settings.WS_VITALS_PER_SECOND)
        self.seq_lock = asyncio.Lock()
        self.pending: dict[int, dict[str, Any]] = {}
        self.gap_task: asyncio.Task | None = None
        self.presence = get_presence()

        self.in_groups = True  # from here on, cleanup must undo the memberships
        await asyncio.gather(
            self.channel_layer.group_add(
                self.group if self.status == "joined" else self.waiting_group, self.channel_name
            ),
            self.join_user_sockets(),
        )
        # Who else is here, and us in, in one round trip: once in the group, so that whoever sees
        # our entry reaches us.
        others = await self.presence.enter(self.room_id, self.channel_name, self.presence_entry())
        # Before the first frame goes out: a client that saw its room frames sees the notification.
        kind = (
            NotificationKind.PATIENT_WAITING
            if self.status == "waiting"
            else NotificationKind.DOCTOR_READY
            if self.role == "doctor"
            else None
        )
        absent = self._absent_other(others) if kind else None
        # Read the room's position only after joining the group: anything later arrives live.
        current = await storage(services.room_position)(
            self.room_id, notify=(kind, absent) if absent else None
        )
        try:
            requested, url_error = self.query_number("last_seq"), None
        except FrameError as error:
            requested, url_error = None, error
        self.delivered_seq = min(requested, current) if requested is not None else current
        # Frames up to here were (or will be, via resume) delivered on this connection.
        self.connect_base = self.delivered_seq
        self.start_frames()
        logger.info("User %s entered room %s as %s (%s)", self.user.pk, self.room_id, self.role, self.status)

        await self._send(self._room_state_frame(current))
        if url_error is not None:
            await self._send(frames.error_frame(url_error.code, url_error.message, url_error.details))
        await self._send(ice_servers_for(str(self.user.pk), self.access.scheduled_end, timezone.now()))
        await self._send(
            {
                "type": "participants",
                "participants": participants(
                    {**others, self.channel_name: {**self.presence_entry(), "last_seen": time.time()}}
                ),
            }
        )
        if self.status == "waiting":
            await self._start_waiting()
        else:
            if not self._user_present(others, status="joined"):
                await self._broadcast_relay(self._presence_frame("join"))
            if self.role == "doctor":
                for entry in others.values():
                    if entry["status"] == "waiting" and not is_stale(entry):
                        await self._send(self._patient_waiting_frame(entry["user_id"], entry["name"]))
        if self.delivered_seq < current and self.status == "joined":
            async with self.seq_lock:
                await self._catch_up()
        self.sweeper = get_sweeper()
        self.sweeper.add(self)

    async def disconnect(self, code: int) -> None:
        await self._cleanup()

    def describe(self) -> str:
        return f"room {self.room_id}"

    async def _cleanup(self) -> None:
        if not getattr(self, "in_groups", False) or self.cleaned_up:
            return
        self.cleaned_up = True
        if getattr(self, "sweeper", None) is not None:
            self.sweeper.discard(self)
        if self.gap_task is not None and self.gap_task is not asyncio.current_task():
            self.gap_task.cancel()
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await self.channel_layer.group_discard(self.waiting_group, self.channel_name)
        await self.leave_user_sockets()
        try:
            if await self.presence.remove(self.room_id, self.channel_name):
                remaining = await self.presence.entries(self.room_id)
                if not self._user_present(remaining):
                    await self._broadcast_relay(self._presence_frame("leave"))
        except Exception:  # Redis gone: the survivors prune us once we are stale
            logger.warning("Presence cleanup failed for room %s", self.room_id, exc_info=True)
        logger.info("User %s left room %s", self.user.pk, self.room_id)

    # --- Incoming frames --------------------------------------------------------------------------

    def _require(self, *, role: str | None = None, joined: bool = False, frame) -> None:
        if role and self.role != role:
            raise FrameError(protocol.FORBIDDEN, f"Only the {role} may send {frame.type}.", frame_id=frame.id)
        if joined and self.status != "joined":
            raise FrameError(protocol.FORBIDDEN, "Wait until the doctor admits you.", frame_id=frame.id)

    async def on_resume(self, frame: protocol.ResumeFrame) -> None:
        self._require(joined=True, frame=frame)
        async with self.seq_lock:
            replayed = 0
            after = frame.last_seq
            # What this connection already delivered (connect_base, delivered_seq] is not sent again.
            while after < self.connect_base:
                batch = await storage(services.log_after)(self.room_id, after, REPLAY_BATCH)
                batch = [f for f in batch if f["seq"] <= self.connect_base]
                if not batch:
                    break
                for replay in batch:
                    await self._send(replay)
                replayed += len(batch)
                after = batch[-1]["seq"]
            self.connect_base = min(self.connect_base, frame.last_seq)
            replayed += await self._catch_up()
        await self._send(frames.ack_frame(frame.id, "resume", replayed=replayed, last_seq=self.delivered_seq))

    async def on_admit(self, frame: protocol.AdmitFrame) -> None:
        self._require(role="doctor", frame=frame)
        try:
            change = await storage(services.admit_patient)(self.room_id, self.user)
        except InvalidTransition as error:
            raise FrameError(
                protocol.INVALID_STATE,
                "No patient is waiting to be admitted.",
                {"state": error.current},
                frame.id,
            ) from error
        await self._send(frames.ack_frame(frame.id, "admit", seq=change.frame["seq"]))
        await self._broadcast_sequenced(change.frame)
        await self.channel_layer.group_send(self.waiting_group, {"type": "room.admitted"})

    async def on_end(self, frame: protocol.EndFrame) -> None:
        self._require(role="doctor", frame=frame)
        try:
            change = await storage(services.end_consultation)(self.room_id, self.user)
        except InvalidTransition as error:
            raise FrameError(
                protocol.INVALID_STATE,
                "Only a consultation in progress can be ended.",
                {"state": error.current},
                frame.id,
            ) from error
        await self._send(frames.ack_frame(frame.id, "end", seq=change.frame["seq"]))
        await self._broadcast_sequenced(change.frame)
        ended = {"type": "room.ended", "by": self._me()}
        await self.channel_layer.group_send(self.group, ended)
        await self.channel_layer.group_send(self.waiting_group, ended)

    async def _relay(self, frame) -> None:
        self._require(joined=True, frame=frame)
        payload = frame.model_dump(mode="json", exclude={"id"})
        await self._broadcast_relay({**payload, "from": self._me()})
        await self._send(frames.ack_frame(frame.id, frame.type))

    on_offer = on_answer = on_ice_candidate = on_ice_restart = on_hangup = on_typing = _relay

    async def on_media_state(self, frame: protocol.MediaStateFrame) -> None:
        self._require(joined=True, frame=frame)
        self.media = {"audio": frame.audio, "video": frame.video, "screen": frame.screen}
        await self._write_presence()
        await self._relay(frame)

    async def on_chat_message(self, frame: protocol.ChatMessageFrame) -> None:
        self._require(joined=True, frame=frame)
        stored, created = await storage(services.post_chat_message)(
            self.room_id, self.user, self.role, frame.id, frame.text, frame.attachment_id
        )
        if created:
            await self._broadcast_sequenced(stored)
            # Before the ack, so a client that saw the ack sees any notification it caused.
            await self._tell_if_absent(NotificationKind.CHAT_MESSAGE, seq=stored["seq"])
        await self._send(
            frames.ack_frame(
                frame.id,
                "chat_message",
                server_id=stored["server_id"],
                seq=stored["seq"],
                ts=stored["ts"],
                duplicate=not created,
            )
        )

    async def on_read(self, frame: protocol.ReadFrame) -> None:
        self._require(joined=True, frame=frame)
        up_to = await storage(services.mark_read)(self.room_id, self.role, frame.up_to_seq)
        await self._broadcast_relay({"type": "read", "up_to_seq": up_to, "from": self._me()})
        await self._send(frames.ack_frame(frame.id, "read", up_to_seq=up_to))

    async def on_vitals(self, frame: protocol.VitalsFrame) -> None:
        self._require(role="patient", joined=True, frame=frame)
        if not self.vitals_bucket.take():
            raise FrameError(
                protocol.RATE_LIMITED,
                f"At most {settings.WS_VITALS_PER_SECOND} vitals frames a second.",
                {"retry_after_ms": self.vitals_bucket.retry_after_ms()},
                frame.id,
            )
        stream, alerts = await storage(services.record_vitals)(self.room_id, self.user, frame)
        await self._send(
            frames.ack_frame(
                frame.id,
                "vitals",
                server_ids=[r["server_id"] for r in stream["readings"]],
                alerts=[a["seq"] for a in alerts],
            )
        )
        await self._broadcast_relay(stream)
        for alert in alerts:
            await self._broadcast_sequenced(alert)

    # --- Channel-layer events ---------------------------------------------------------------------

    async def room_relay(self, event: dict[str, Any]) -> None:
        if event.get("exclude") != self.channel_name and self.ready and not self.cleaned_up:
            text = event.get("text")
            if text is None:  # from a process of the previous release, during a deploy
                text = encode_frame(event["frame"])
            await self.send(text_data=text)

    async def room_sequenced(self, event: dict[str, Any]) -> None:
        if not self.ready or self.cleaned_up or self.status != "joined":
            return
        frame = event["frame"]
        async with self.seq_lock:
            if frame["seq"] <= self.delivered_seq:
                return
            self.pending[frame["seq"]] = frame
            await self._flush_pending()
            if self.pending and (self.gap_task is None or self.gap_task.done()):
                self.gap_task = asyncio.create_task(self._fill_gap_later())

    async def room_admitted(self, event: dict[str, Any]) -> None:
        if self.status != "waiting" or self.cleaned_up:
            return
        await self.channel_layer.group_discard(self.waiting_group, self.channel_name)
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.status = "joined"
        await self._write_presence()
        await self._send({"type": "admitted", "ts": frames.now_iso()})
        await self._broadcast_relay(self._presence_frame("join"))
        async with self.seq_lock:
            await self._catch_up()

    async def room_ended(self, event: dict[str, Any]) -> None:
        if self.cleaned_up:
            return
        await self._send({"type": "ended", "by": event.get("by"), "ts": frames.now_iso()})
        await self._close(protocol.CLOSE_NORMAL)

    # --- Sequenced delivery -----------------------------------------------------------------------

    async def _flush_pending(self) -> None:
        for seq in [s for s in self.pending if s <= self.delivered_seq]:
            del self.pending[seq]
        while (next_frame := self.pending.pop(self.delivered_seq + 1, None)) is not None:
            await self._send(next_frame)
            self.delivered_seq = next_frame["seq"]

    async def _catch_up(self) -> int:
        """Deliver everything stored after ``delivered_seq``, then whatever waited. Caller holds
        ``seq_lock``."""
        delivered = 0
        while True:
            batch = await storage(services.log_after)(self.room_id, self.delivered_seq, REPLAY_BATCH)
            for frame in batch:
                await self._send(frame)
                self.delivered_seq = frame["seq"]
            delivered += len(batch)
            if len(batch) < REPLAY_BATCH:
                break
        await self._flush_pending()
        return delivered

    async def _fill_gap_later(self) -> None:
        """A later frame overtook an earlier one; if the earlier one does not arrive soon, read it
        from the database (it is committed: numbers are handed out in commit order)."""
        await asyncio.sleep(GAP_FILL_DELAY_SECONDS)
        async with self.seq_lock:
            if self.pending:
                await self._catch_up()

    async def _broadcast_sequenced(self, frame: dict[str, Any]) -> None:
        await self.channel_layer.group_send(self.group, {"type": "room.sequenced", "frame": frame})

    async def _broadcast_relay(self, frame: dict[str, Any], group: str | None = None) -> None:
        # Encoded once here rather than by every receiver.
        event = {"type": "room.relay", "text": encode_frame(frame), "exclude": self.channel_name}
        await self.group_send_relay(group or self.group, event)

    # --- Waiting room, presence, heartbeat --------------------------------------------------------

    async def _start_waiting(self) -> None:
        change = await storage(services.patient_arrives)(self.room_id, self.user)
        if change is not None:
            await self._broadcast_sequenced(change.frame)
        await self._send(
            {"type": "waiting", "message": "The doctor will let you in shortly.", "ts": frames.now_iso()}
        )
        await self._broadcast_relay(self._patient_waiting_frame(str(self.user.pk), self._name()))

    def presence_entry(self) -> dict[str, Any]:
        return {
            "user_id": str(self.user.pk),
            "role": self.role,
            "name": self._name(),
            "status": self.status,
            "media": self.media,
        }

    async def _write_presence(self) -> None:
        # Kept fresh by the sweeper (``signaling.heartbeat``) from here on.
        await self.presence.put(self.room_id, self.channel_name, self.presence_entry())

    def _user_present(self, entries: dict[str, dict], status: str | None = None) -> bool:
        me = str(self.user.pk)
        return any(
            channel != self.channel_name
            and entry["user_id"] == me
            and not is_stale(entry)
            and (status is None or entry["status"] == status)
            for channel, entry in entries.items()
        )

    async def prune_stale(self) -> None:
        """Remove this room's entries of sockets whose process died, announcing who left."""
        entries = await self.presence.entries(self.room_id)
        now = time.time()
        for channel, entry in entries.items():
            if channel == self.channel_name or not is_stale(entry, now):
                continue
            # Only the socket whose delete succeeds announces the departure.
            if await self.presence.remove(self.room_id, channel):
                still_there = any(
                    e["user_id"] == entry["user_id"] and not is_stale(e, now)
                    for c, e in entries.items()
                    if c != channel
                )
                if not still_there:
                    user = {k: entry[k] for k in ("user_id", "role", "name")}
                    frame = frames.presence_frame("leave", user, entry["status"], reason="timeout")
                    event = {"type": "room.relay", "text": encode_frame(frame)}
                    await self.channel_layer.group_send(self.group, event)

    # --- Notifications for the participant who is not here ---------------------------------------

    def _absent_other(self, entries: dict[str, dict]) -> str | None:
        """The other participant's id when they are not in the room (per ``entries``), else None."""
        other = str(self.access.doctor_id if self.role == "patient" else self.access.patient_id)
        if any(e["user_id"] == other and not is_stale(e) for e in entries.values()):
            return None
        return other

    async def _tell_if_absent(self, kind: str, *, seq: int | None = None) -> None:
        """Notify the other participant (socket or push) when they are not in the room."""
        try:
            absent = self._absent_other(await self.presence.entries(self.room_id))
            if absent is not None:
                await storage(services.notify_absent)(self.room_id, kind, recipient_id=absent, seq=seq)
        except Exception:  # a notification is a courtesy: never let it break the room
            logger.warning("Could not notify the absent participant of room %s", self.room_id, exc_info=True)

    # --- Small helpers ----------------------------------------------------------------------------

    def _name(self) -> str:
        return self.user.full_name or self.role.capitalize()

    def _me(self) -> dict[str, str]:
        return {"user_id": str(self.user.pk), "role": self.role}

    def _presence_frame(self, kind: str) -> dict[str, Any]:
        return frames.presence_frame(kind, {**self._me(), "name": self._name()}, self.status)

    def _patient_waiting_frame(self, user_id: str, name: str) -> dict[str, Any]:
        return {
            "type": "patient_waiting",
            "patient": {"user_id": user_id, "name": name},
            "ts": frames.now_iso(),
        }

    def _room_state_frame(self, current_seq: int) -> dict[str, Any]:
        return {
            "type": "room_state",
            "consultation": {
                "id": self.room_id,
                "state": self.access.state,
                "type": self.access.type,
                "scheduled_start": frames.iso(self.access.scheduled_start),
                "scheduled_end": frames.iso(self.access.scheduled_end),
            },
            "you": {**self._me(), "status": self.status},
            "last_seq": current_seq,
            "heartbeat_seconds": settings.WS_HEARTBEAT_SECONDS,
            "idle_timeout_seconds": settings.WS_IDLE_TIMEOUT_SECONDS,
        }
