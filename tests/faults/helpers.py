"""Helpers for the fault tests: a room client that survives its server, a Redis server of the
test's own, and ways to hurt processes and database connections.

``ReconnectingClient`` does what a real app does after a drop: it keeps the highest ``seq`` it has
seen and every chat message it sent without an ``ack`` (with its client id), reconnects with
``?last_seq=`` to whichever server answers, and sends the unacknowledged messages again. The server
de-duplicates chat by client id, so a message that was stored just before the drop is acked as a
duplicate instead of being stored twice: that is how "zero lost, zero twice" holds for messages in
flight.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.live.conftest import free_port
from tests.live.rooms import Frame, RoomClosed, WsParticipant, room_url

# Close codes after which a client reconnects (PROTOCOL.md, "Close codes"): a lost connection, a
# server failure, idle, the server lost Redis.
RECONNECTABLE_CLOSE_CODES = frozenset({1006, 1011, 4408, 4503})


def kill_hard(process: subprocess.Popen) -> None:
    """``kill -9`` one process we started, and reap it."""
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


# --- Chat as stored --------------------------------------------------------------------------------


def chat_rows(consultation_id: Any) -> list[tuple[int, int, str, str]]:
    """The room's stored chat as ``(seq, server_id, client id, text)``, in ``seq`` order."""
    from clinical.models import ChatMessage

    return list(
        ChatMessage.objects.filter(consultation_id=consultation_id)
        .order_by("seq")
        .values_list("seq", "pk", "client_id", "text")
    )


def frame_rows(frames: Iterable[Frame]) -> list[tuple[int, int, str, str]]:
    return [(f["seq"], f["server_id"], f["id"], f["text"]) for f in frames]


# --- A client that reconnects ----------------------------------------------------------------------


@dataclass
class ReconnectingClient:
    """One participant's app: any number of sockets over time, one after the other."""

    room_id: str
    token: str
    name: str
    sockets: list[WsParticipant] = field(default_factory=list)
    unacked: dict[str, str] = field(default_factory=dict)  # client id -> text, in sending order
    acks: dict[str, Frame] = field(default_factory=dict)  # client id -> its ack
    errors: list[Frame] = field(default_factory=list)  # error answers to chat (retried later)
    start_seq: int = 0  # the room's position when the first socket connected
    _tag: str = field(default_factory=lambda: secrets.token_hex(3))
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def socket(self) -> WsParticipant:
        return self.sockets[-1]

    def last_seq(self) -> int:
        """Where to resume: the highest ``seq`` received, or where the first socket started."""
        return max([self.start_seq, *(s.last_seq() for s in self.sockets)])

    def transcript(self) -> list[Frame]:
        """Chat received over all the sockets, by ``seq`` (duplicates kept, for the test to see)."""
        frames = [f for s in self.sockets for f in s.of_type("chat_message")]
        return sorted(frames, key=lambda f: f["seq"])

    async def connect(self, ws_base: str, *, open_timeout: float = 5.0) -> WsParticipant:
        """A new socket; after the first one it resumes with ``?last_seq=``."""
        last_seq = self.last_seq() if self.sockets else None
        socket_ = await WsParticipant.connect(
            room_url(ws_base, self.room_id),
            self.token,
            last_seq=last_seq,
            name=f"{self.name}#{len(self.sockets)}",
            open_timeout=open_timeout,
        )
        if not self.sockets:
            self.start_seq = socket_.of_type("room_state")[0]["last_seq"]
        self.sockets.append(socket_)
        return socket_

    async def reconnect(self, ws_bases: list[str], *, timeout: float = 20.0) -> WsParticipant:
        """Try each server in turn, with a short pause between rounds, until one lets us in; then
        send the unacknowledged messages again."""
        deadline = time.monotonic() + timeout
        failures: list[str] = []
        while True:
            for base in ws_bases:
                try:
                    socket_ = await self.connect(base)
                except (OSError, InvalidHandshake, TimeoutError, RoomClosed, AssertionError) as exc:
                    failures.append(f"{base}: {type(exc).__name__}: {exc}")
                    continue
                await self.resend_unacked()
                return socket_
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} could not reconnect within {timeout}s: {failures[-6:]}")
            await asyncio.sleep(0.2)

    async def chat(self, text: str, *, timeout: float = 5.0) -> Frame | None:
        """Send a chat message; its ack, or None when it is still unacknowledged (kept for later)."""
        client_id = f"{self.name}-{self._tag}-{next(self._ids)}"
        self.unacked[client_id] = text
        return await self._deliver(client_id, timeout)

    async def send_without_ack(self, text: str) -> str:
        """Put a message on the wire without waiting for its ack (the caller is about to break
        something): it stays unacknowledged until a resend. Returns its client id."""
        client_id = f"{self.name}-{self._tag}-{next(self._ids)}"
        self.unacked[client_id] = text
        await self.socket.send({"type": "chat_message", "id": client_id, "text": text})
        return client_id

    async def resend_unacked(self, *, timeout: float = 5.0) -> None:
        for client_id in list(self.unacked):
            await self._deliver(client_id, timeout)

    async def _deliver(self, client_id: str, timeout: float) -> Frame | None:
        socket_ = self.socket
        if socket_.closed:
            return None
        frame = {"type": "chat_message", "id": client_id, "text": self.unacked[client_id]}
        try:
            answer = await socket_.request(frame, timeout=timeout)
        except (ConnectionClosed, RoomClosed, AssertionError):
            return None
        if answer["type"] != "ack":
            self.errors.append(answer)
            return None
        del self.unacked[client_id]
        self.acks[client_id] = answer
        return answer

    async def close(self) -> None:
        for socket_ in self.sockets:
            await socket_.close()


# --- A Redis server of the test's own -------------------------------------------------------------


@dataclass
class RedisServer:
    """``redis-server`` on a free loopback port, without persistence: a restart loses everything,
    as a crashed cache node does. Never the shared Redis other tests use."""

    directory: Path
    port: int = 0
    process: subprocess.Popen | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail(
                "redis-server is not installed: the Redis fault test needs its own server", pytrace=False
            )
        if not self.port:
            self.port = free_port()
        log_path = self.directory / f"redis-{self.starts}.log"
        self.starts += 1
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory)]
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [*args, "--save", "", "--appendonly", "no", "--daemonize", "no"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"redis-server exited: {log_path.read_text(errors='replace')[-2000:]}", pytrace=False
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        pytest.fail(f"redis-server on port {self.port} did not answer within {timeout}s", pytrace=False)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            kill_hard(self.process)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                kill_hard(self.process)


# --- PostgreSQL -----------------------------------------------------------------------------------


def terminate_backends(application_name: str) -> int:
    """``pg_terminate_backend`` every connection of the test database opened by processes that
    connect as ``application_name`` (never the test's own connections); how many were killed."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = %s AND pid <> pg_backend_pid()",
            [application_name],
        )
        return cursor.fetchone()[0]
