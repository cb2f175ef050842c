"""Two daphne processes behind no balancer, the patient on one and the doctor on the other, chatting
both ways. The patient's process is killed with ``kill -9`` while a message of the patient's is in
flight. The doctor sees the patient leave within the idle timeout; the patient's app reconnects to
the surviving process, resumes from the last ``seq`` it saw and sends its unacknowledged messages
again. Afterwards both transcripts equal the stored chat: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from channels.db import database_sync_to_async

from tests.faults.helpers import ReconnectingClient, chat_rows, frame_rows, kill_hard
from tests.live.rooms import ABNORMAL_CLOSURE

pytestmark = [pytest.mark.live_server, pytest.mark.postgres, pytest.mark.redis]

TEST_TIMEOUT = 60
DOCTOR_MESSAGES = 60
DOCTOR_PACE_SECONDS = 0.1


async def test_patient_moves_to_the_surviving_server_without_losing_a_message(
    start_room_servers, live_room, room_server_env
):
    server_a, server_b = start_room_servers(2)
    idle_timeout = float(room_server_env["WS_IDLE_TIMEOUT_SECONDS"])
    patient = ReconnectingClient(live_room.id, live_room.patient_token, "patient")
    doctor = ReconnectingClient(live_room.id, live_room.doctor_token, "doctor")
    async with asyncio.timeout(TEST_TIMEOUT):
        await patient.connect(server_a.ws_url)
        await doctor.connect(server_b.ws_url)
        try:
            await patient.socket.wait_for("waiting")
            assert (await doctor.socket.request({"type": "admit"}))["type"] == "ack"
            await patient.socket.wait_for("admitted")

            async def doctor_talks() -> None:
                for n in range(DOCTOR_MESSAGES):
                    assert await doctor.chat(f"doctor {n}") is not None, doctor.errors
                    await asyncio.sleep(DOCTOR_PACE_SECONDS)

            talking = asyncio.create_task(doctor_talks())
            try:
                for n in range(5):
                    assert await patient.chat(f"patient before {n}") is not None, patient.errors
                # One message on the wire, then the patient's server dies mid-consultation.
                in_flight = await patient.send_without_ack("patient in flight")
                kill_hard(server_a.process)
                killed_at = time.monotonic()
                assert await patient.socket.wait_closed() == ABNORMAL_CLOSURE
                # Typed while offline: stays in the app's outbox.
                assert await patient.chat("patient offline") is None
                assert in_flight in patient.unacked
                assert len(patient.unacked) == 2

                # Presence: the dead process's socket is pruned by the survivor and announced.
                leave = await doctor.socket.wait_for(
                    "leave", lambda f: f["user"]["role"] == "patient", timeout=idle_timeout + 5
                )
                gone_after = time.monotonic() - killed_at
                assert leave["reason"] == "timeout"
                assert gone_after <= idle_timeout + 3, gone_after

                # The app tries its own server first (refused), then the other one.
                await patient.reconnect([server_a.ws_url, server_b.ws_url])
                assert patient.unacked == {}, patient.errors
                assert not patient.socket.of_type("waiting")
                await doctor.socket.wait_for("join", lambda f: f["user"]["role"] == "patient")
                for n in range(5):
                    assert await patient.chat(f"patient after {n}") is not None, patient.errors
                await talking
            finally:
                talking.cancel()

            rows = await database_sync_to_async(chat_rows)(live_room.id)
            client_ids = [row[2] for row in rows]
            assert len(rows) == DOCTOR_MESSAGES + 5 + 2 + 5
            assert not [cid for cid, n in Counter(client_ids).items() if n > 1]
            assert set(patient.acks) | set(doctor.acks) == set(client_ids)
            last = rows[-1][0]
            for who in (patient, doctor):
                await who.socket.wait_for("chat_message", lambda f: f["seq"] == last, claim=False)
            await asyncio.sleep(0.3)  # time for a late duplicate to show up, if any
            assert frame_rows(doctor.transcript()) == rows
            assert frame_rows(patient.transcript()) == rows
            assert len(doctor.sockets) == 1
            assert not doctor.socket.closed
        finally:
            await patient.close()
            await doctor.close()
