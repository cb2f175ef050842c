"""Room clients for protocol tests: ``WebsocketCommunicator`` against the real ASGI app
(origin policy and JWT middleware included)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from asgi import application
from telehealth.accounts.services import issue_tokens
from tests.factories import ConsultationFactory

SDP = (
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
)


class RoomClient:
    """One participant's socket. ``frames`` keeps everything received, in order."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.frames: list[dict[str, Any]] = []
        self.unclaimed: list[dict[str, Any]] = []  # received, not yet returned by expect()
        self.close_code: int | None = None

    async def send(self, frame: dict[str, Any]) -> None:
        await self.communicator.send_to(text_data=json.dumps(frame))

    async def send_raw(self, text: str | None = None, data: bytes | None = None) -> None:
        await self.communicator.send_to(text_data=text, bytes_data=data)

    async def receive(self, timeout: float = 2) -> dict[str, Any]:
        # Not communicator.receive_output(): on timeout it cancels the application itself.
        app = self.communicator.future
        try:
            message = await asyncio.wait_for(self.communicator.output_queue.get(), timeout)
        except TimeoutError:
            if app.done():
                app.result()  # surfaces the consumer's crash, if it crashed
            raise
        if message["type"] == "websocket.close":
            self.close_code = message.get("code", 1000)
            raise ConnectionClosed(self.close_code)
        frame = json.loads(message["text"])
        self.frames.append(frame)
        self.unclaimed.append(frame)
        return frame

    async def expect(self, frame_type: str, timeout: float = 2, **fields: Any) -> dict[str, Any]:
        """The first unclaimed frame of ``frame_type`` (matching ``fields``), waiting if needed."""

        def matches(frame: dict[str, Any]) -> bool:
            return frame["type"] == frame_type and all(frame.get(k) == v for k, v in fields.items())

        for frame in self.unclaimed:
            if matches(frame):
                self.unclaimed.remove(frame)
                return frame
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"no {frame_type} frame; got {[f['type'] for f in self.frames]}")
            frame = await self.receive(remaining)
            if matches(frame):
                self.unclaimed.remove(frame)
                return frame

    async def request(self, frame: dict[str, Any], timeout: float = 2) -> dict[str, Any]:
        """Send a frame and return its ack or error."""
        await self.send(frame)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            answer = await self.receive(max(0.01, deadline - asyncio.get_running_loop().time()))
            if answer["type"] in {"ack", "error", "pong"} and answer.get("id") == frame.get("id"):
                return answer

    async def drain(self, timeout: float = 0.2) -> list[dict[str, Any]]:
        """Everything that arrives within ``timeout``; clears what was unclaimed."""
        self.unclaimed.clear()
        got = []
        try:
            while True:
                got.append(await self.receive(timeout))
        except TimeoutError:
            return got

    async def closed(self, timeout: float = 2) -> int:
        try:
            while True:
                await self.receive(timeout)
        except ConnectionClosed as closed:
            return closed.code

    async def leave(self) -> None:
        await self.communicator.disconnect()

    def of_type(self, frame_type: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["type"] == frame_type]


class ConnectionClosed(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """A new channel layer per test: channels-redis binds its locks to the event loop that made it,
    and every async test runs its own loop."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def consultation(transactional_db):
    return ConsultationFactory()


@pytest.fixture
async def room(consultation):
    """``await room(user)`` → a connected ``RoomClient`` (after its initial frames)."""
    clients: list[RoomClient] = []

    async def connect(
        user=None,
        *,
        consultation_id=None,
        token: str | None = None,
        via: str = "subprotocol",
        origin: str | None = None,
        query: str = "",
        expect_open: bool = True,
    ) -> RoomClient:
        target = consultation_id or consultation.pk
        if token is None and user is not None:
            token = (await database_sync_to_async(issue_tokens)(user))["access"]
        path = f"/ws/consultations/{target}/"
        params = [query] if query else []
        subprotocols = ["telehealth.v1"]
        if token and via == "query":
            params.append(f"token={token}")
        elif token:
            subprotocols.append(f"bearer.{token}")
        if params:
            path += "?" + "&".join(params)
        headers = [(b"origin", origin.encode())] if origin else []
        communicator = WebsocketCommunicator(application, path, headers=headers, subprotocols=subprotocols)
        connected, subprotocol = await communicator.connect(timeout=5)
        client = RoomClient(communicator)
        client.connected = connected
        client.subprotocol = subprotocol
        clients.append(client)
        if expect_open and connected:
            await client.expect("participants", timeout=5)
            if client.of_type("room_state")[0]["you"]["status"] == "waiting":
                # The patient's entry still writes the scheduled → waiting change after
                # `participants`; `waiting` comes once it is committed. Left unclaimed for the test.
                while not client.of_type("waiting"):
                    await client.receive(5)
        return client

    yield connect
    for client in clients:
        with contextlib.suppress(Exception):
            await client.leave()


@pytest.fixture
def settings_fast_heartbeat(settings):
    settings.WS_HEARTBEAT_SECONDS = 1
    settings.WS_IDLE_TIMEOUT_SECONDS = 2
    return settings
