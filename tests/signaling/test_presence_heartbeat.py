from __future__ import annotations

import asyncio
import time

from signaling.presence import get_presence
from tests.signaling.test_room_flow import admitted_pair


async def test_ping_gets_pong(room, consultation):
    patient = await room(consultation.patient)
    pong = await patient.request({"type": "ping", "id": "hb-1"})
    assert pong["type"] == "pong"
    assert pong["id"] == "hb-1"


async def test_idle_socket_is_closed_4408(room, consultation, settings_fast_heartbeat):
    patient = await room(consultation.patient)
    started = time.monotonic()
    assert await patient.closed(timeout=6) == 4408
    assert time.monotonic() - started < 5


async def test_pinging_socket_stays_open(room, consultation, settings_fast_heartbeat):
    patient = await room(consultation.patient)
    for n in range(6):
        await asyncio.sleep(0.5)
        assert (await patient.request({"type": "ping", "id": f"p{n}"}))["type"] == "pong"


async def test_dead_process_participants_are_pruned(room, consultation, settings_fast_heartbeat):
    _patient, doctor = await admitted_pair(room, consultation)
    # A socket on a server process that died: its entry is there but nobody refreshes it.
    ghost = {
        "user_id": "0d0d0d0d-0000-4000-8000-000000000001",
        "role": "doctor",
        "name": "Ghost",
        "status": "joined",
        "media": {},
    }
    presence = get_presence()
    room_id = str(consultation.pk)
    await presence.put(room_id, "specific.dead-process!abc", ghost, last_seen=time.time() - 3600)
    left = await doctor.expect("leave", timeout=3)
    assert left["user"]["name"] == "Ghost"
    assert left["reason"] == "timeout"
    assert "specific.dead-process!abc" not in await presence.entries(room_id)


async def test_sweeper_keeps_presence_fresh_without_writes_per_ping(
    room, consultation, settings_fast_heartbeat
):
    patient = await room(consultation.patient)
    room_id = str(consultation.pk)

    async def last_seen() -> float:
        [entry] = (await get_presence().entries(room_id)).values()
        return entry["last_seen"]

    first = await last_seen()
    await patient.request({"type": "ping", "id": "p0"})
    assert await last_seen() == first  # a ping alone writes nothing
    for n in range(4):  # two sweeps at least (1 s interval)
        await asyncio.sleep(0.5)
        await patient.request({"type": "ping", "id": f"p{n + 1}"})
    assert await last_seen() > first


async def test_a_closed_socket_leaves_the_sweeper(room, consultation):
    from signaling.heartbeat import get_sweeper

    async def sockets_become(count: int) -> bool:
        for _ in range(100):
            if len(get_sweeper().sockets) == count:
                return True
            await asyncio.sleep(0.02)
        return False

    patient = await room(consultation.patient)
    assert await sockets_become(1)  # it registers at the end of entering
    await patient.leave()
    assert await sockets_become(0)
