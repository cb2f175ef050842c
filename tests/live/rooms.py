"""A small asyncio client for consultation rooms on a real server, on the ``websockets`` library.

Used by the live room tests and meant to be reused by load tools (the benchmark)::

    url = room_url(server.ws_url, consultation.pk)
    patient = await WsParticipant.connect(url, token, name="patient")
    await patient.wait_for("waiting")
    ack = await patient.request({"type": "chat_message", "id": "m1", "text": "hello"})
    frame = await doctor.wait_for("chat_message", lambda f: f["seq"] == ack["seq"])
    await patient.close()

A participant reads every frame in a background task (``frames`` keeps them all, in arrival order,
except the pongs answering its own heartbeat) and sends ``{"type": "ping"}`` on its own so the
server's idle timeout never fires; ``abort()`` drops
the TCP connection without a close frame, like a phone losing its network.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

Frame = dict[str, Any]
Predicate = Callable[[Frame], bool]

SUBPROTOCOL = "telehealth.v1"
BEARER_PREFIX = "bearer."
# Frames that carry the room's sequence number (the stored, replayable log).
SEQUENCED_TYPES = frozenset({"chat_message", "state", "alert"})
ABNORMAL_CLOSURE = 1006  # what a connection lost without a close frame reports


def room_url(ws_base: str, consultation_id: Any, *, last_seq: int | None = None) -> str:
    """``ws://host:port/ws/consultations/<id>/``, with ``?last_seq=`` to resume on connect."""
    url = f"{ws_base.rstrip('/')}/ws/consultations/{consultation_id}/"
    if last_seq is not None:
        url += "?" + urlencode({"last_seq": last_seq})
    return url


class RoomClosed(Exception):
    """The socket closed while a frame was awaited."""

    def __init__(self, participant: WsParticipant, awaited: str) -> None:
        super().__init__(
            f"{participant.name}: socket closed ({participant.close_code}) while waiting for {awaited}; "
            f"received {participant.types()}"
        )
        self.code = participant.close_code


class WsParticipant:
    """One socket in a consultation room. Create it with ``await WsParticipant.connect(...)``."""

    def __init__(self, ws: ClientConnection, *, name: str, ping_interval: float | None) -> None:
        self.ws = ws
        self.name = name
        self.frames: list[Frame] = []  # everything received, in arrival order
        self.close_code: int | None = None
        self.close_reason: str = ""
        # Per type, (index in ``frames``, frame) of what no wait_for() has returned yet.
        self._unclaimed: dict[str, list[tuple[int, Frame]]] = {}
        self.pongs = 0  # answers to the background heartbeat (kept out of ``frames``)
        self.last_pong_rtt: float | None = None  # seconds, for the latest heartbeat
        self._ping_sent: dict[str, float] = {}
        self._changed = asyncio.Condition()
        self._closed = asyncio.Event()
        self._ids = itertools.count(1)
        self._tag = secrets.token_hex(4)  # ids stay unique across reconnects of one user
        self._ping_interval = ping_interval
        self._reader = asyncio.create_task(self._read(), name=f"{name}-reader")
        self._pinger = asyncio.create_task(self._ping(), name=f"{name}-pinger")

    @classmethod
    async def connect(
        cls,
        url: str,
        token: str,
        last_seq: int | None = None,
        *,
        name: str = "participant",
        ping_interval: float | None = None,
        open_timeout: float = 10.0,
        wait_for_open: bool = True,
    ) -> WsParticipant:
        """Open the socket with the token as a ``bearer.`` subprotocol.

        ``last_seq`` is added to the URL (resume on connect). ``ping_interval`` is the heartbeat
        period; by default half the server's ``heartbeat_seconds`` (from ``room_state``), 0 turns
        the heartbeat off. With ``wait_for_open`` the call returns once the initial frames arrived
        (``participants`` is the last of them), so ``frames`` holds ``room_state`` and the rest.
        """
        if last_seq is not None:
            url += ("&" if "?" in url else "?") + urlencode({"last_seq": last_seq})
        ws = await connect(
            url,
            subprotocols=[SUBPROTOCOL, BEARER_PREFIX + token],
            open_timeout=open_timeout,
            ping_interval=None,  # the room protocol has its own heartbeat
            max_queue=None,  # never stall the reader: frames are collected as fast as they come
        )
        participant = cls(ws, name=name, ping_interval=ping_interval)
        if wait_for_open:
            await participant.wait_for("participants", timeout=open_timeout, claim=False)
        return participant

    # --- Sending ----------------------------------------------------------------------------------

    def next_id(self, prefix: str = "c") -> str:
        """A fresh client message id (the server deduplicates chat by sender and id, so ids must
        not repeat across a user's sockets)."""
        return f"{prefix}-{self._tag}-{next(self._ids)}"

    async def send(self, frame: Frame) -> None:
        await self.ws.send(json.dumps(frame, separators=(",", ":")))

    async def request(self, frame: Frame, timeout: float = 5.0) -> Frame:
        """Send ``frame`` (an ``id`` is added when missing) and return its ``ack``, ``error`` or
        ``pong``."""
        if "id" not in frame:
            frame = {**frame, "id": self.next_id(frame["type"])}
        await self.send(frame)
        return await self.wait_for(
            ("ack", "error", "pong"), lambda f: f.get("id") == frame["id"], timeout=timeout
        )

    async def chat(self, text: str, *, timeout: float = 5.0) -> Frame:
        """Post a chat message and return its ack; fails on an ``error`` answer or when the server
        took it for a retry of an earlier message."""
        answer = await self.request(
            {"type": "chat_message", "id": self.next_id("msg"), "text": text}, timeout
        )
        if answer["type"] != "ack" or answer.get("duplicate"):
            raise AssertionError(f"{self.name}: chat message refused or deduplicated: {answer}")
        return answer

    # --- Receiving --------------------------------------------------------------------------------

    async def wait_for(
        self,
        frame_type: str | Iterable[str],
        predicate: Predicate | None = None,
        *,
        timeout: float = 5.0,
        claim: bool = True,
    ) -> Frame:
        """The first frame of ``frame_type`` (one type or several) matching ``predicate`` that no
        earlier ``wait_for`` returned, waiting up to ``timeout`` seconds for it. With ``claim=False``
        the frame stays available to later calls."""
        types = {frame_type} if isinstance(frame_type, str) else set(frame_type)

        def find() -> Frame | None:
            # The earliest matching frame across the wanted types (each list is in arrival order).
            best: tuple[int, list[tuple[int, Frame]], int] | None = None
            for kind in types:
                waiting = self._unclaimed.get(kind, [])
                for position, (index, frame) in enumerate(waiting):
                    if predicate is None or predicate(frame):
                        if best is None or index < best[0]:
                            best = (index, waiting, position)
                        break
            if best is None:
                return None
            _, waiting, position = best
            return (waiting.pop(position) if claim else waiting[position])[1]

        awaited = "/".join(sorted(types))
        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    while (found := find()) is None:
                        if self._closed.is_set():
                            raise RoomClosed(self, awaited)
                        await self._changed.wait()
                    return found
        except TimeoutError:
            raise AssertionError(
                f"{self.name}: no {awaited} frame within {timeout}s; received {self.types()}"
            ) from None

    async def wait_closed(self, timeout: float = 5.0) -> int:
        """The close code once the socket is closed (1006 when the connection was lost)."""
        try:
            await asyncio.wait_for(self._closed.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"{self.name}: socket still open after {timeout}s") from None
        assert self.close_code is not None
        return self.close_code

    def of_type(self, *frame_types: str) -> list[Frame]:
        return [f for f in self.frames if f.get("type") in frame_types]

    def types(self) -> list[str]:
        return [f.get("type", "?") for f in self.frames]

    def sequenced(self) -> list[Frame]:
        """Sequenced frames (chat, state changes, alerts) in arrival order."""
        return [f for f in self.frames if f.get("type") in SEQUENCED_TYPES]

    def last_seq(self) -> int:
        """The highest sequence number received on this socket, 0 if none: what to resume from
        after a drop. (``room_state.last_seq`` is the room's position, not what was delivered.)"""
        seen = [f["seq"] for f in self.sequenced()]
        return max(seen, default=0)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # --- Closing ----------------------------------------------------------------------------------

    async def close(self, code: int = 1000, timeout: float = 5.0) -> None:
        """A clean close handshake, then the background tasks stop."""
        self._pinger.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(code), timeout)
        await self._stop_tasks()

    async def abort(self) -> None:
        """Drop the TCP connection without a close frame (the server sees a lost connection)."""
        self._pinger.cancel()
        self.ws.transport.abort()
        await self._stop_tasks()

    async def _stop_tasks(self) -> None:
        for task in (self._pinger, self._reader):
            task.cancel()
        for task in (self._pinger, self._reader):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._mark_closed()

    # --- Background tasks -------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                frame = json.loads(message)
                if frame.get("type") == "pong" and frame.get("id") in self._ping_sent:
                    self.pongs += 1
                    self.last_pong_rtt = time.monotonic() - self._ping_sent.pop(frame["id"])
                    continue
                async with self._changed:
                    self._unclaimed.setdefault(frame.get("type", "?"), []).append((len(self.frames), frame))
                    self.frames.append(frame)
                    self._changed.notify_all()
        except ConnectionClosed:
            pass
        finally:
            await asyncio.shield(self._mark_closed())

    async def _mark_closed(self) -> None:
        if self._closed.is_set():
            return
        self.close_code = self.ws.close_code if self.ws.close_code is not None else ABNORMAL_CLOSURE
        self.close_reason = self.ws.close_reason or ""
        self._closed.set()
        async with self._changed:
            self._changed.notify_all()

    async def _ping(self) -> None:
        if self._ping_interval == 0:
            return
        interval = self._ping_interval
        while True:
            if interval is None:
                states = self.of_type("room_state")
                period = states[0]["heartbeat_seconds"] / 2 if states else 0.2
            else:
                period = interval
            await asyncio.sleep(period)
            ping_id = self.next_id("hb")
            self._ping_sent[ping_id] = time.monotonic()
            try:
                await self.send({"type": "ping", "id": ping_id})
            except ConnectionClosed:
                return


def transcript(*participants: WsParticipant, frame_type: str = "chat_message") -> list[Frame]:
    """The frames of ``frame_type`` received over one or more sockets (say, before and after a
    reconnect), ordered by ``seq``. Duplicates are kept: a test can see them."""
    frames = [f for p in participants for f in p.of_type(frame_type)]
    return sorted(frames, key=lambda f: f["seq"])


async def wait_until(condition: Callable[[], bool], *, timeout: float, interval: float = 0.05) -> None:
    """Poll ``condition`` until it holds, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
