"""Room clients for protocol tests: ``WebsocketCommunicator`` against the real ASGI app
(origin policy and JWT middleware included)."""

from __future__ import annotations

import contextlib

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from asgi import application
from telehealth.accounts.services import issue_tokens
from tests.factories import ConsultationFactory
from tests.ws_clients import ConnectionClosed, RoomClient  # noqa: F401  (tests import them from here)
from tests.ws_connect import open_socket

SDP = (
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
)


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
async def socket_of(transactional_db):
    """``await socket_of(user, path, origin=...)``: a socket on any route, notifications by default
    (not yet read from); ``user=None`` connects without a token."""
    clients = []

    async def connect(user, path: str = "/ws/notifications/", *, origin: str | None = None):
        token = (await database_sync_to_async(issue_tokens)(user))["access"] if user is not None else None
        client = await open_socket(path, token, origin=origin)
        clients.append(client)
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
