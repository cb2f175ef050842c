"""A burst of connects: the handshake is answered at once; the set-up after it (user, room access,
groups, presence, first frames) waits for one of ``WS_SETUP_CONCURRENCY`` slots per process."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from signaling.notifications import NotificationConsumer
from signaling.sockets import setup_slot
from tests.factories import ConsultationFactory, UserFactory

NOTIFICATIONS = "/ws/notifications/"


@pytest.mark.parametrize("kind", ["notifications", "room"])
async def test_the_handshake_is_answered_while_every_setup_slot_is_taken(socket_of, settings, kind):
    settings.WS_SETUP_CONCURRENCY = 1
    consultation = await database_sync_to_async(ConsultationFactory)()
    path = NOTIFICATIONS if kind == "notifications" else f"/ws/consultations/{consultation.pk}/"
    first_frame = "connected" if kind == "notifications" else "room_state"
    slots = setup_slot()
    await slots.acquire()
    try:
        client = await socket_of(consultation.patient, path)
        assert client.connected  # HTTP 101 while the set-up waits for the slot
        with pytest.raises(asyncio.TimeoutError):
            await client.expect(first_frame, timeout=0.3)
    finally:
        slots.release()
    await client.expect(first_frame, timeout=5)


async def test_setups_beyond_the_slots_wait_their_turn_and_all_complete(socket_of, settings, monkeypatch):
    settings.WS_SETUP_CONCURRENCY = 2
    running, most = 0, 0
    original = NotificationConsumer.set_up

    async def counted(self, token):
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await asyncio.sleep(0.05)  # long enough for the others to pile up
            await original(self, token)
        finally:
            running -= 1

    monkeypatch.setattr(NotificationConsumer, "set_up", counted)
    users = [await database_sync_to_async(UserFactory)(role="patient") for _ in range(6)]
    clients = await asyncio.gather(*(socket_of(user) for user in users))
    assert all(client.connected for client in clients)
    for client in clients:
        await client.expect("connected", timeout=5)
    assert most == 2
    slots = setup_slot()  # every slot given back
    await asyncio.wait_for(asyncio.gather(slots.acquire(), slots.acquire()), timeout=1)
