"""What every JSON-frame socket of the platform shares: the size, rate and JSON checks on each
incoming frame, the ``error`` frame for a bad one (closing only abusive sockets), ``ping``, the
idle close and process-local delivery. Subclasses list their frame models in ``client_frames`` and
handle each in ``on_<type>``; ``_cleanup`` undoes whatever ``connect`` set up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from rest_framework_simplejwt.tokens import AccessToken

from signaling import frames, protocol, revocation
from signaling.auth import SUBPROTOCOL
from signaling.layers import LocalDeliveryMixin
from signaling.protocol import ClientFrame, FrameError
from signaling.ratelimit import TokenBucket, WindowCounter
from signaling.storage import storage
from telehealth.accounts.services import user_for_token

logger = logging.getLogger("telehealth.signaling")
# ``json.dumps`` with options builds an encoder per call; frames are encoded on every send.
encode_frame = json.JSONEncoder(separators=(",", ":")).encode


_setup_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def setup_slot() -> asyncio.Semaphore:
    """The running loop's ``WS_SETUP_CONCURRENCY`` set-up slots (one semaphore per event loop:
    a semaphore belongs to the loop it first waited on)."""
    loop = asyncio.get_running_loop()
    slots = _setup_slots.get(loop)
    if slots is None:
        slots = _setup_slots[loop] = asyncio.Semaphore(settings.WS_SETUP_CONCURRENCY)
    return slots


class FrameSocket(LocalDeliveryMixin, AsyncWebsocketConsumer):
    client_frames: dict[str, type[ClientFrame]] = {}
    socket_kind: str = ""  # which ``socket.revoke`` events close it (``signaling.revocation``)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels closes stale database connections on its shared thread before every handler:
        # a thread hop per frame (about 0.7 ms of CPU). These sockets never touch the database on
        # that thread: all database work goes through ``storage``, which does its own cleanup.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        # The handshake is answered first (HTTP 101, the token verified); the rest of the set-up
        # waits for one of a few slots, so that in a burst of connects the event loop serves the
        # handshakes instead of interleaving them with a thousand half-done set-ups.
        token = await self.accept_token()
        if token is None:
            return
        async with setup_slot():
            await self.set_up(token)

    async def set_up(self, token: AccessToken) -> None:
        """Everything after the handshake: who is connecting, groups, presence, the first frames."""
        raise NotImplementedError

    async def accept_token(self) -> AccessToken | None:
        """Accept the handshake (choosing our subprotocol when offered) and return the access token
        the auth middleware verified; without one, close with 4401 and return None. The user is
        still to be looked up (``set_up``)."""
        self.ready = False
        self.in_groups = False
        self.cleaned_up = False
        offered = self.scope.get("subprotocols") or []
        await self.accept(SUBPROTOCOL if SUBPROTOCOL in offered else None)
        token = self.scope.get("token")
        if token is None:
            await self.close(protocol.CLOSE_UNAUTHENTICATED)
        return token

    async def look_up_user(self, token: AccessToken) -> bool:
        """The token's user (active, session not revoked) in ``self.user``; without one, close
        with 4401 and return False."""
        self.user = await storage(user_for_token)(token)
        if self.user is None:
            await self.close(protocol.CLOSE_UNAUTHENTICATED)
            return False
        return True

    def query_number(self, name: str) -> int | None:
        """``?<name>=N`` from the URL; raises ``FrameError`` when it is there but not a number."""
        values = parse_qs(self.scope.get("query_string", b"").decode("latin1")).get(name)
        if not values:
            return None
        if not values[0].isdigit() or len(values[0]) > 18:
            raise FrameError(
                protocol.VALIDATION_ERROR,
                f"{name} must be a whole number; starting live instead.",
                {name: ["Must be a whole number >= 0."]},
            )
        return int(values[0])

    def start_frames(self) -> None:
        """Call when the socket is ready for frames (after authentication and set-up)."""
        self.bucket = TokenBucket(settings.WS_RATE_PER_SECOND, settings.WS_RATE_BURST)
        self.rejects = WindowCounter()
        self.last_frame_at = time.monotonic()
        self.ready = True

    def describe(self) -> str:
        """Where this socket is, for log lines (never health data)."""
        return self.__class__.__name__

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not getattr(self, "ready", False) or getattr(self, "cleaned_up", False):
            return
        self.last_frame_at = time.monotonic()
        raw = text_data if text_data is not None else bytes_data or b""
        size = (
            len(raw)
            if isinstance(raw, bytes) or len(raw) * 4 <= settings.WS_MAX_FRAME_BYTES
            else len(raw.encode())
        )
        if size > settings.WS_ABUSE_FRAME_BYTES:
            await self._close(protocol.CLOSE_TOO_BIG)
            return
        if not self.bucket.take():
            await self._reject(
                FrameError(
                    protocol.RATE_LIMITED,
                    "Too many frames.",
                    {"retry_after_ms": self.bucket.retry_after_ms()},
                )
            )
            return
        if size > settings.WS_MAX_FRAME_BYTES:
            await self._reject(
                FrameError(protocol.TOO_LARGE, f"Frames are limited to {settings.WS_MAX_FRAME_BYTES} bytes.")
            )
            return
        if text_data is None:
            await self._reject(
                FrameError(protocol.INVALID_JSON, "Binary frames are not supported; send JSON text.")
            )
            return
        try:
            data = json.loads(text_data)
        except ValueError:
            await self._reject(FrameError(protocol.INVALID_JSON, "The frame is not valid JSON."))
            return
        try:
            frame = protocol.parse_frame(data, self.client_frames)
            await getattr(self, f"on_{frame.type}")(frame)
        except FrameError as error:
            await self._reject(error)
        except Exception:
            logger.exception("Frame handler failed in %s", self.describe())
            await self._send(
                frames.error_frame(
                    protocol.SERVER_ERROR,
                    "The frame could not be handled.",
                    frame_id=data.get("id") if isinstance(data, dict) else None,
                )
            )

    async def _reject(self, error: FrameError) -> None:
        await self._send(frames.error_frame(error.code, error.message, error.details, error.frame_id))
        if self.rejects.hit() > settings.WS_ABUSE_REJECTS_PER_SECOND:
            logger.warning("Closing abusive socket of user %s in %s", self.user.pk, self.describe())
            await self._close(protocol.CLOSE_RATE_ABUSE)

    async def join_user_sockets(self) -> None:
        """Join the group of all this user's sockets (``signaling.revocation``). Call once the
        socket is set up; ``_cleanup`` must call ``leave_user_sockets``."""
        await self.channel_layer.group_add(revocation.sockets_group(self.user.pk), self.channel_name)

    async def leave_user_sockets(self) -> None:
        await self.channel_layer.group_discard(revocation.sockets_group(self.user.pk), self.channel_name)

    async def socket_revoke(self, event: dict[str, Any]) -> None:
        """The user's access ended elsewhere (signed out, deactivated, a doctor's verification
        revoked): close with the event's code, after the usual cleanup."""
        if self.socket_kind in event["kinds"] and not getattr(self, "cleaned_up", False):
            logger.info("Closing the socket of user %s in %s: access revoked", self.user.pk, self.describe())
            await self._close(event["code"])

    async def on_ping(self, frame: protocol.PingFrame) -> None:
        await self._send({"type": "pong", "id": frame.id, "ts": frames.now_iso()})

    async def layer_failed(self, event: dict[str, Any]) -> None:
        """The channel layer lost Redis: frames for this socket may be gone, and its groups too if
        Redis comes back empty. Close with 4503 so that the client reconnects and resumes from the
        database; what the cleanup cannot undo in Redis expires there."""
        if not getattr(self, "ready", False) or getattr(self, "cleaned_up", False):
            return  # not set up (a refused socket is closed already), or cleaned up
        logger.warning("Closing a socket in %s: the channel layer failed", self.describe())
        try:
            await self._cleanup()
        except Exception:
            logger.warning("Cleanup failed in %s", self.describe(), exc_info=True)
        await self.close(protocol.CLOSE_UNAVAILABLE)

    async def close_idle(self) -> None:
        """Called by the sweeper when no frame, not even a ping, came within the idle timeout."""
        await self._close(protocol.CLOSE_IDLE)

    async def _close(self, code: int) -> None:
        await self._cleanup()
        await self.close(code)

    async def _cleanup(self) -> None:
        raise NotImplementedError

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=encode_frame(frame))
