"""PostgreSQL drops every connection of a daphne process (``pg_terminate_backend``, as a failover or
an administrator would) while a consultation is chatting and the API is in use. A request or frame
caught in flight may fail with a documented error; the next REST request and the next chat frame
succeed, without restarting anything. For each way of holding connections: one per request, kept
for a while (``DATABASE_CONN_MAX_AGE``), and psycopg's pool (``DATABASE_POOL``)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from channels.db import database_sync_to_async

from tests.faults.helpers import ReconnectingClient, chat_rows, terminate_backends

pytestmark = [pytest.mark.live_server, pytest.mark.postgres]

TEST_TIMEOUT = 45
APPLICATION_NAME = "faults-daphne"
MODES = {
    "per_request": {},
    "persistent": {"DATABASE_CONN_MAX_AGE": "60"},
    "pool": {"DATABASE_POOL": "true"},
}


@pytest.mark.parametrize("mode", list(MODES))
async def test_next_request_and_frame_succeed_after_connections_are_killed(
    start_room_servers, live_room, live_database_env, mode
):
    database_url = live_database_env["DATABASE_URL"] + f"?application_name={APPLICATION_NAME}"
    [server] = start_room_servers(1, {"DATABASE_URL": database_url, **MODES[mode]})
    detail_url = f"{server.url}/api/consultations/{live_room.id}/"
    auth = {"Authorization": f"Bearer {live_room.doctor_token}"}
    patient = ReconnectingClient(live_room.id, live_room.patient_token, "patient")
    doctor = ReconnectingClient(live_room.id, live_room.doctor_token, "doctor")
    async with asyncio.timeout(TEST_TIMEOUT), httpx.AsyncClient(headers=auth, timeout=10) as api:
        await patient.connect(server.ws_url)
        await doctor.connect(server.ws_url)
        try:
            await patient.socket.wait_for("waiting")
            assert (await doctor.socket.request({"type": "admit"}))["type"] == "ack"
            await patient.socket.wait_for("admitted")
            assert (await api.get(detail_url)).status_code == 200

            # Traffic: chat both ways and API reads, as fast as they are answered.
            statuses: list[int] = []
            stop = asyncio.Event()

            async def chatting(who: ReconnectingClient) -> None:
                n = 0
                while not stop.is_set():
                    await who.chat(f"{who.name} {n}")
                    n += 1

            async def reading() -> None:
                while not stop.is_set():
                    statuses.append((await api.get(detail_url)).status_code)

            traffic = [asyncio.create_task(c) for c in (chatting(patient), chatting(doctor), reading())]
            try:
                await asyncio.sleep(0.3)
                killed = 0
                deadline = time.monotonic() + 10
                while killed < 3 and time.monotonic() < deadline:
                    killed += await database_sync_to_async(terminate_backends)(APPLICATION_NAME)
                    await asyncio.sleep(0.05)
                assert killed >= 3, "no connection of the server was caught open"
                # One last time, with the server's connections (if it keeps any) idle.
                stop.set()
                await asyncio.gather(*traffic)
                await database_sync_to_async(terminate_backends)(APPLICATION_NAME)
            finally:
                for task in traffic:
                    task.cancel()

            # In flight: at worst a documented error (HTTP 500 envelope, SERVER_ERROR frame).
            assert set(statuses) <= {200, 500}, statuses
            assert {e["code"] for who in (patient, doctor) for e in who.errors} <= {"SERVER_ERROR"}
            assert [s.closed for who in (patient, doctor) for s in who.sockets] == [False, False]

            # The next ones succeed.
            response = await api.get(detail_url)
            assert response.status_code == 200, response.text
            assert await doctor.chat("doctor after the kill") is not None, doctor.errors[-1:]
            assert await patient.chat("patient after the kill") is not None, patient.errors[-1:]
            # Whatever was refused in flight goes through on a resend, once.
            for who in (patient, doctor):
                await who.resend_unacked()
                assert who.unacked == {}, who.errors[-1:]
            rows = await database_sync_to_async(chat_rows)(live_room.id)
            acked = {cid for who in (patient, doctor) for cid in who.acks}
            assert sorted(row[2] for row in rows) == sorted(acked)
            assert server.process.poll() is None
        finally:
            await patient.close()
            await doctor.close()
