"""Redis, which carries the channel layer and presence between the server processes, is killed
mid-consultation and comes back empty on the same port (no persistence, like a crashed cache
node). The sockets either keep working or close with a reconnectable code, then reconnect and
resume; nothing stored is lost, chat crosses between the processes again, and a fresh connection
works, all without restarting daphne.

The test runs its own ``redis-server`` on a free port: the shared one is never touched."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from channels.db import database_sync_to_async

from signaling import protocol
from tests.faults.helpers import (
    RECONNECTABLE_CLOSE_CODES,
    ReconnectingClient,
    RedisServer,
    chat_rows,
    frame_rows,
)

pytestmark = [pytest.mark.live_server, pytest.mark.postgres, pytest.mark.redis]

TEST_TIMEOUT = 75
OUTAGE_SECONDS = 2.0


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


async def _exchange(sender: ReconnectingClient, receiver: ReconnectingClient, text: str) -> None:
    """``sender`` posts a message and ``receiver`` gets it (across the two processes)."""
    ack = await sender.chat(text)
    assert ack is not None, (sender.name, sender.errors, sender.socket.close_code)
    await receiver.socket.wait_for("chat_message", lambda f: f["seq"] == ack["seq"], claim=False)


async def test_sockets_recover_after_redis_restarts(start_room_servers, live_room, own_redis):
    server_a, server_b = start_room_servers(2, {"REDIS_URL": own_redis.url})
    patient = ReconnectingClient(live_room.id, live_room.patient_token, "patient")
    doctor = ReconnectingClient(live_room.id, live_room.doctor_token, "doctor")
    # The patient also has the app open on a second device, served by the doctor's process.
    patient_tab = ReconnectingClient(live_room.id, live_room.patient_token, "patient-tab")
    everyone = (patient, doctor, patient_tab)
    homes = {"patient": server_a.ws_url, "doctor": server_b.ws_url, "patient-tab": server_b.ws_url}
    async with asyncio.timeout(TEST_TIMEOUT):
        await patient.connect(server_a.ws_url)
        await doctor.connect(server_b.ws_url)
        fresh = None
        try:
            await patient.socket.wait_for("waiting")
            assert (await doctor.socket.request({"type": "admit"}))["type"] == "ack"
            await patient.socket.wait_for("admitted")
            await patient_tab.connect(server_b.ws_url)
            for n in range(3):
                await _exchange(patient, doctor, f"patient before {n}")
                await _exchange(doctor, patient, f"doctor before {n}")

            own_redis.kill()
            killed_at = time.monotonic()
            # Both keep typing while Redis is away: each message is acked, refused with an error
            # (and kept for a resend), or finds the socket closed.
            while time.monotonic() - killed_at < OUTAGE_SECONDS:
                for who in everyone:
                    if not who.socket.closed:
                        await who.chat(f"{who.name} during the outage", timeout=2)
                await asyncio.sleep(0.2)
            own_redis.start()

            # Every socket either works or closes with a code that says "reconnect".
            for who in everyone:
                if not who.socket.closed:
                    await who.resend_unacked()
                if who.socket.closed:
                    assert who.socket.close_code in RECONNECTABLE_CLOSE_CODES, who.socket.close_code
                    await who.reconnect([homes[who.name]])
                assert who.unacked == {}, (who.name, who.errors)

            # Those open when Redis died were told so, rather than left deaf to the other process.
            assert [who.sockets[0].close_code for who in everyone] == [protocol.CLOSE_UNAVAILABLE] * 3

            # Chat crosses between the processes again, both ways.
            for n in range(3):
                await _exchange(patient, doctor, f"patient after {n}")
                await _exchange(doctor, patient, f"doctor after {n}")
            await _exchange(patient, patient_tab, "patient to the other device")

            # A new socket on the other process gets in and is told about new messages.
            fresh = ReconnectingClient(live_room.id, live_room.doctor_token, "doctor-fresh")
            await fresh.connect(server_a.ws_url)
            await _exchange(patient, fresh, "patient to the fresh socket")

            rows = await database_sync_to_async(chat_rows)(live_room.id)
            client_ids = [row[2] for row in rows]
            assert not [cid for cid, n in Counter(client_ids).items() if n > 1]
            assert {cid for who in everyone for cid in who.acks} == set(client_ids)
            last = rows[-1][0]
            for who in everyone:
                await who.socket.wait_for("chat_message", lambda f: f["seq"] == last, claim=False)
            await asyncio.sleep(0.3)
            assert frame_rows(patient.transcript()) == rows
            assert frame_rows(doctor.transcript()) == rows
            assert frame_rows(patient_tab.transcript()) == rows
            for server in (server_a, server_b):
                assert server.process.poll() is None, server.log_tail()
        finally:
            for who in (*everyone, fresh):
                if who is not None:
                    await who.close()
