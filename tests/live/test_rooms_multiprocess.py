"""One consultation room served by two daphne processes that share Redis and PostgreSQL: the patient
on one, the doctor on the other, as behind a load balancer."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
from channels.db import database_sync_to_async as sync_to_async

from tests.live.rooms import WsParticipant, room_url

pytestmark = [pytest.mark.live_server, pytest.mark.postgres, pytest.mark.redis]

SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
TEST_TIMEOUT = 30


def _consultation_state(consultation_id) -> str:
    from clinical.models import Consultation

    return Consultation.objects.values_list("state", flat=True).get(pk=consultation_id)


def _chat_rows(consultation_id) -> list[tuple[int, int, str]]:
    from clinical.models import ChatMessage

    return list(
        ChatMessage.objects.filter(consultation_id=consultation_id)
        .order_by("seq")
        .values_list("seq", "pk", "text")
    )


async def _admitted(server_a, server_b, live_room) -> tuple[WsParticipant, WsParticipant]:
    """Patient on A waits, doctor on B admits: both joined."""
    patient = await WsParticipant.connect(
        room_url(server_a.ws_url, live_room.id), live_room.patient_token, name="patient@A"
    )
    await patient.wait_for("waiting")
    doctor = await WsParticipant.connect(
        room_url(server_b.ws_url, live_room.id), live_room.doctor_token, name="doctor@B"
    )
    told = await doctor.wait_for("patient_waiting")
    assert told["patient"]["user_id"] == str(live_room.consultation.patient_id)
    ack = await doctor.request({"type": "admit"})
    assert ack["type"] == "ack", ack
    await patient.wait_for("admitted")
    await doctor.wait_for("join", lambda f: f["user"]["role"] == "patient")
    return patient, doctor


async def test_room_across_two_processes(start_room_servers, live_room):
    server_a, server_b = start_room_servers(2)
    async with asyncio.timeout(TEST_TIMEOUT):
        patient, doctor = await _admitted(server_a, server_b, live_room)
        try:
            assert await sync_to_async(_consultation_state)(live_room.id) == "in_progress"

            # Signaling is relayed across processes, tagged with the sender.
            assert (await doctor.request({"type": "offer", "sdp": SDP}))["type"] == "ack"
            offer = await patient.wait_for("offer")
            assert (offer["sdp"], offer["from"]["role"]) == (SDP, "doctor")
            assert (await patient.request({"type": "answer", "sdp": SDP}))["type"] == "ack"
            answer = await doctor.wait_for("answer")
            assert answer["from"] == {"user_id": str(live_room.consultation.patient_id), "role": "patient"}

            # Chat both ways at once: one sequence, the same transcript on both sides.
            async def talk(who: WsParticipant, count: int) -> list[dict]:
                acks = []
                for n in range(count):
                    acks.append(await who.chat(f"{who.name} says {n}"))
                    await asyncio.sleep(0.01)
                return acks

            acks = [a for batch in await asyncio.gather(talk(patient, 10), talk(doctor, 10)) for a in batch]
            last = max(a["seq"] for a in acks)
            for who in (patient, doctor):
                await who.wait_for("chat_message", lambda f: f["seq"] == last, claim=False)

            rows = await sync_to_async(_chat_rows)(live_room.id)
            assert len(rows) == 20
            for who in (patient, doctor):
                seqs = [f["seq"] for f in who.sequenced()]
                assert seqs == sorted(set(seqs)), f"{who.name} got {seqs}"
                chat = [(f["seq"], f["server_id"], f["text"]) for f in who.of_type("chat_message")]
                assert chat == rows, who.name
            assert sorted(a["seq"] for a in acks) == [seq for seq, _, _ in rows]

            # The doctor ends it: both sockets close normally, the consultation is completed.
            assert (await doctor.request({"type": "end"}))["type"] == "ack"
            ended = await patient.wait_for("ended")
            assert ended["by"] == {"user_id": str(live_room.consultation.doctor_id), "role": "doctor"}
            assert await patient.wait_closed() == 1000
            assert await doctor.wait_closed() == 1000
            assert await sync_to_async(_consultation_state)(live_room.id) == "completed"
        finally:
            await patient.close()
            await doctor.close()


async def test_presence_survives_a_killed_process(start_room_servers, live_room, room_server_env):
    server_a, server_b = start_room_servers(2)
    idle_timeout = float(room_server_env["WS_IDLE_TIMEOUT_SECONDS"])
    async with asyncio.timeout(TEST_TIMEOUT):
        patient, doctor = await _admitted(server_a, server_b, live_room)
        others: list[WsParticipant] = []
        try:
            # Process A dies without any cleanup: nobody tells the room the patient left.
            os.kill(server_a.process.pid, signal.SIGKILL)
            server_a.process.wait(timeout=5)
            assert await patient.wait_closed() != 1000
            loop = asyncio.get_running_loop()
            killed_at = loop.time()

            # B prunes the dead process's presence entry once it is stale and tells the doctor.
            left = await doctor.wait_for(
                "leave", lambda f: f["user"]["role"] == "patient", timeout=idle_timeout + 3
            )
            assert left["reason"] == "timeout"
            assert left["user"]["user_id"] == str(live_room.consultation.patient_id)
            assert loop.time() - killed_at >= idle_timeout - 1.5  # not before the entry went stale

            # The patient comes back through B: joined straight away, two participants, no ghost.
            back = await WsParticipant.connect(
                room_url(server_b.ws_url, live_room.id), live_room.patient_token, name="patient@B"
            )
            others.append(back)
            listed = back.of_type("participants")[0]["participants"]
            assert sorted((p["role"], p["status"]) for p in listed) == [
                ("doctor", "joined"),
                ("patient", "joined"),
            ]
            assert {p["user_id"] for p in listed} == {
                str(live_room.consultation.patient_id),
                str(live_room.consultation.doctor_id),
            }
            assert not back.of_type("waiting")
            await doctor.wait_for("join", lambda f: f["user"]["role"] == "patient")

            # A second socket of the doctor sees the same room.
            again = await WsParticipant.connect(
                room_url(server_b.ws_url, live_room.id), live_room.doctor_token, name="doctor@B#2"
            )
            others.append(again)
            relisted = again.of_type("participants")[0]["participants"]
            assert sorted((p["role"], p["status"]) for p in relisted) == sorted(
                (p["role"], p["status"]) for p in listed
            )

            # And the room still works through the survivor.
            ack = await back.chat("still here")
            await doctor.wait_for("chat_message", lambda f: f["seq"] == ack["seq"])
        finally:
            for who in (patient, doctor, *others):
                await who.close()


async def test_quiet_room_keeps_its_sockets_on_redis(start_room_servers, live_room):
    """Regression: redis-py's default 5 s socket timeout met channels-redis's 5 s blocking read, and
    every quiet 5 s dropped a socket (1011). Pings keep presence alive; nothing else is said."""
    server_a, server_b = start_room_servers(2)
    async with asyncio.timeout(TEST_TIMEOUT):
        patient, doctor = await _admitted(server_a, server_b, live_room)
        try:
            await asyncio.sleep(12)
            ack = await patient.chat("still here after the quiet")
            delivered = await doctor.wait_for("chat_message", lambda f: f["seq"] == ack["seq"])
            assert delivered["text"] == "still here after the quiet"
        finally:
            await patient.close()
            await doctor.close()
