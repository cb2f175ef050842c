"""Websocket abuse and the Origin policy, on both sockets. Each bad input gets its documented error
frame or close code, and the process keeps serving everybody else (other rooms at low latency).
Room-socket cases already in ``test_bad_input.py`` and ``test_connect.py`` are not repeated."""

from __future__ import annotations

import asyncio
import json
import statistics
import time

import pytest
from channels.db import database_sync_to_async as sync_to_async

from tests.factories import ConsultationFactory, UserFactory

NOTIFICATIONS = "/ws/notifications/"


@pytest.fixture
def patient(transactional_db):
    return UserFactory(role="patient")


@pytest.fixture
def bystander(transactional_db):
    return UserFactory(role="patient")


async def opened(client) -> None:
    assert client.connected
    await client.expect("connected", timeout=5)


async def still_served(client) -> bool:
    return (await client.request({"type": "ping", "id": "served"}, timeout=3))["type"] == "pong"


# --- Notifications socket: the checks every frame goes through -------------------------------------


async def test_notifications_binary_frame_is_an_error(socket_of, patient):
    client = await socket_of(patient)
    await opened(client)
    await client.send_raw(data=b"\x00\x01binary")
    error = await client.expect("error")
    assert error["code"] == "INVALID_JSON"
    assert "Binary" in error["message"]
    assert await still_served(client)


async def test_notifications_oversized_frame_is_too_large_then_abusive_size_closes(
    socket_of, patient, bystander, settings
):
    settings.WS_MAX_FRAME_BYTES = 2048
    settings.WS_ABUSE_FRAME_BYTES = 8192
    client = await socket_of(patient)
    other = await socket_of(bystander)
    await opened(client)
    await opened(other)
    await client.send_raw(text=json.dumps({"type": "ping", "id": "big", "pad": "x" * 3000}))
    assert (await client.expect("error"))["code"] == "TOO_LARGE"
    assert await still_served(client)
    await client.send_raw(text="x" * 9000)
    assert await client.closed() == 1009
    assert await still_served(other)


async def test_notifications_flood_is_rate_limited_then_closed_as_abuse(
    socket_of, patient, bystander, settings
):
    settings.WS_RATE_PER_SECOND = 5
    settings.WS_RATE_BURST = 5
    settings.WS_ABUSE_REJECTS_PER_SECOND = 20
    client = await socket_of(patient)
    other = await socket_of(bystander)
    await opened(client)
    await opened(other)
    for n in range(40):
        await client.send({"type": "ping", "id": f"p{n}"})
    assert await client.closed() == 4429
    limited = [f for f in client.frames if f.get("code") == "RATE_LIMITED"]
    assert limited
    assert all(f["details"]["retry_after_ms"] > 0 for f in limited)
    assert await still_served(other)


async def test_notifications_garbage_flood_is_closed_as_abuse(socket_of, patient, settings):
    settings.WS_ABUSE_REJECTS_PER_SECOND = 10
    client = await socket_of(patient)
    await opened(client)
    for _ in range(30):
        await client.send_raw(text="{not json")
    assert await client.closed() == 4429
    assert {f["code"] for f in client.of_type("error")} == {"INVALID_JSON"}


# --- Origin policy, both sockets ----------------------------------------------------------------------


@pytest.fixture
def room_path(transactional_db):
    consultation = ConsultationFactory()
    return consultation, f"/ws/consultations/{consultation.pk}/"


async def test_notifications_cross_site_origin_is_refused(socket_of, patient, settings):
    settings.WS_ALLOWED_ORIGINS = ["https://app.example.com"]
    refused = await socket_of(patient, origin="https://evil.example.net")
    assert refused.connected is False
    assert refused.frames == []
    await opened(await socket_of(patient, origin="https://app.example.com"))


async def test_a_page_of_this_server_is_a_same_site_origin(socket_of, room_path, settings):
    settings.WS_ALLOWED_ORIGINS = []
    settings.ALLOWED_HOSTS = ["api.example.com"]
    consultation, path = room_path
    for target in (path, NOTIFICATIONS):
        assert (await socket_of(consultation.doctor, target, origin="https://api.example.com")).connected
        refused = await socket_of(consultation.doctor, target, origin="https://api.example.com.evil.net")
        assert refused.connected is False


async def test_native_clients_without_origin_follow_the_policy(socket_of, room_path, settings):
    consultation, path = room_path
    settings.WS_ALLOW_MISSING_ORIGIN = True
    room = await socket_of(consultation.doctor, path)
    assert room.connected
    await room.expect("room_state", timeout=5)
    await opened(await socket_of(consultation.doctor))

    settings.WS_ALLOW_MISSING_ORIGIN = False
    assert (await socket_of(consultation.doctor, path)).connected is False
    assert (await socket_of(consultation.doctor)).connected is False


async def test_origin_is_checked_before_the_token(socket_of, patient, settings):
    """A cross-site page learns nothing, not even whether its token is good."""
    settings.WS_ALLOWED_ORIGINS = ["https://app.example.com"]
    with_token = await socket_of(patient, origin="https://evil.example.net")
    without = await socket_of(None, origin="https://evil.example.net")
    assert with_token.connected is without.connected is False
    assert with_token.subprotocol == without.subprotocol  # the same refusal, before any frame


# --- One abuser does not slow down the others ----------------------------------------------------


async def test_other_rooms_keep_low_latency_while_a_socket_floods(room, consultation, settings):
    # High enough that the abuser is not closed: it keeps the server busy refusing its frames.
    settings.WS_ABUSE_REJECTS_PER_SECOND = 1_000_000
    abuser = await room(consultation.patient)
    busy = await sync_to_async(ConsultationFactory)()
    patient = await room(busy.patient, consultation_id=busy.pk)
    doctor = await room(busy.doctor, consultation_id=busy.pk)
    assert (await doctor.request({"type": "admit", "id": "admit"}))["type"] == "ack"
    await patient.expect("admitted")

    async def flood() -> None:
        for n in range(3_000):
            await abuser.send_raw(text="{not json" if n % 2 else "x" * 70_000)
            if n % 50 == 0:
                await asyncio.sleep(0)

    flooding = asyncio.create_task(flood())
    latencies = []
    try:
        for n in range(20):
            started = time.monotonic()
            await patient.send({"type": "typing", "id": f"t{n}", "typing": bool(n % 2)})
            await doctor.expect("typing", timeout=5)
            latencies.append(time.monotonic() - started)
        chat = await patient.request({"type": "chat_message", "id": "during-flood", "text": "hello"}, 5)
        assert chat["type"] == "ack"
        assert (await doctor.expect("chat_message", timeout=5))["text"] == "hello"
    finally:
        await flooding
    refused = [f["code"] for f in await abuser.drain(1) if f["type"] == "error"]
    assert {"INVALID_JSON", "RATE_LIMITED"} <= set(refused)
    # Generous for a loaded CI machine; an unfair server takes seconds here.
    assert statistics.median(latencies) < 0.25, latencies
    assert max(latencies) < 1.0, latencies
