"""A websocket test client over ``WebsocketCommunicator`` for the room and notification sockets:
keeps every frame received, waits for frames by type, tells acks and errors apart."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from channels.testing import WebsocketCommunicator


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
