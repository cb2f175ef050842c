"""Notification-socket clients (``WebsocketCommunicator`` against the real ASGI app), and ``doctor``
as a verified doctor with a profile (patients can follow their status). The rest of the cast comes
from ``tests/conftest.py``."""

from __future__ import annotations

import contextlib

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from asgi import application
from telehealth.accounts.services import issue_tokens
from tests.factories import DoctorProfileFactory
from tests.ws_clients import RoomClient


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """A new channel layer per test: channels-redis binds its locks to the loop that made it."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def doctor_profile(db):
    return DoctorProfileFactory(user__first_name="Dana")


@pytest.fixture
def doctor(doctor_profile):
    return doctor_profile.user


@pytest.fixture
async def notification_socket():
    """``await notification_socket(user)`` → a connected client, after its ``connected`` frame."""
    clients: list[RoomClient] = []

    async def connect(user=None, *, query: str = "", token: str | None = None, expect_open: bool = True):
        if token is None and user is not None:
            token = (await database_sync_to_async(issue_tokens)(user))["access"]
        subprotocols = ["telehealth.v1"] + ([f"bearer.{token}"] if token else [])
        path = "/ws/notifications/" + (f"?{query}" if query else "")
        communicator = WebsocketCommunicator(application, path, subprotocols=subprotocols)
        connected, _ = await communicator.connect(timeout=5)
        client = RoomClient(communicator)
        client.connected = connected
        clients.append(client)
        if expect_open and connected:
            await client.expect("connected", timeout=5)
        return client

    yield connect
    for client in clients:
        with contextlib.suppress(Exception):
            await client.leave()
