"""Open any websocket route of the real ASGI app (origin policy and JWT middleware included), as
the route-agnostic counterpart of the ``room`` and ``notification_socket`` fixtures."""

from __future__ import annotations

from channels.testing import WebsocketCommunicator

from asgi import application
from tests.ws_clients import RoomClient


async def open_socket(path: str, token: str | None = None, *, origin: str | None = None) -> RoomClient:
    """A ``RoomClient`` on ``path`` with ``connected`` set; nothing is read from it yet. The
    caller disconnects it (``leave``)."""
    subprotocols = ["telehealth.v1"] + ([f"bearer.{token}"] if token else [])
    headers = [(b"origin", origin.encode())] if origin else []
    communicator = WebsocketCommunicator(application, path, headers=headers, subprotocols=subprotocols)
    connected, subprotocol = await communicator.connect(timeout=5)
    client = RoomClient(communicator)
    client.connected = connected
    client.subprotocol = subprotocol
    return client
