"""A patient's connection drops mid-conversation (no close frame) while the doctor keeps talking; the
patient comes back through the *other* server process and resumes. Afterwards both transcripts equal
the stored chat: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async

from tests.live.rooms import ABNORMAL_CLOSURE, WsParticipant, room_url, transcript, wait_until

pytestmark = [pytest.mark.live_server, pytest.mark.postgres, pytest.mark.redis]

TEST_TIMEOUT = 30
DOCTOR_MESSAGES = 20
DOCTOR_PACE_SECONDS = 0.05


def _chat_rows(consultation_id) -> list[tuple[int, int, str]]:
    from clinical.models import ChatMessage

    return list(
        ChatMessage.objects.filter(consultation_id=consultation_id)
        .order_by("seq")
        .values_list("seq", "pk", "text")
    )


def _rows(frames: list[dict]) -> list[tuple[int, int, str]]:
    return [(f["seq"], f["server_id"], f["text"]) for f in frames]


@pytest.mark.parametrize("resume_with", ["url", "resume_frame"])
async def test_no_message_lost_or_repeated_across_a_drop(start_room_servers, live_room, resume_with):
    server_a, server_b = start_room_servers(2)
    url_a, url_b = room_url(server_a.ws_url, live_room.id), room_url(server_b.ws_url, live_room.id)
    async with asyncio.timeout(TEST_TIMEOUT):
        patient = await WsParticipant.connect(url_a, live_room.patient_token, name="patient@A")
        doctor = await WsParticipant.connect(url_b, live_room.doctor_token, name="doctor@B")
        sockets = [patient, doctor]
        try:
            await patient.wait_for("waiting")
            assert (await doctor.request({"type": "admit"}))["type"] == "ack"
            await patient.wait_for("admitted")

            # Chat flowing both ways.
            for n in range(3):
                for who in (patient, doctor):
                    ack = await who.chat(f"{who.name} warm-up {n}")
                    for other in (patient, doctor):
                        await other.wait_for(
                            "chat_message", lambda f, s=ack["seq"]: f["seq"] == s, claim=False
                        )

            # The doctor keeps talking at a steady pace...
            doctor_acks: list[dict] = []

            async def doctor_talks() -> None:
                for n in range(DOCTOR_MESSAGES):
                    doctor_acks.append(await doctor.chat(f"doctor steady {n}"))
                    await asyncio.sleep(DOCTOR_PACE_SECONDS)

            talking = asyncio.create_task(doctor_talks())
            try:
                # ...and a few messages in, the patient's network goes away.
                await wait_until(lambda: len(doctor_acks) >= 4, timeout=10)
                seen = patient.last_seq()
                await patient.abort()
                assert patient.close_code == ABNORMAL_CLOSURE
                # A notices the lost connection and tells the doctor.
                await doctor.wait_for("leave", lambda f: f["user"]["role"] == "patient")
                await wait_until(lambda: len(doctor_acks) >= 8, timeout=10)

                # Back through B while the doctor is still talking.
                if resume_with == "url":
                    back = await WsParticipant.connect(
                        url_b, live_room.patient_token, last_seq=seen, name="patient@B"
                    )
                    sockets.append(back)
                else:
                    back = await WsParticipant.connect(url_b, live_room.patient_token, name="patient@B")
                    sockets.append(back)
                    ack = await back.request({"type": "resume", "last_seq": seen})
                    assert ack["type"] == "ack", ack
                assert not back.of_type("waiting")
                # The doctor went on while the patient was away: there is something to replay.
                assert back.of_type("room_state")[0]["last_seq"] - seen >= 3
                for n in range(3):
                    await back.chat(f"patient back {n}")
                    await asyncio.sleep(DOCTOR_PACE_SECONDS)
                await talking
            finally:
                talking.cancel()

            # Everything has arrived once the last stored message has.
            rows = await database_sync_to_async(_chat_rows)(live_room.id)
            assert len(rows) == 3 * 2 + DOCTOR_MESSAGES + 3
            last = rows[-1][0]
            for who in (back, doctor):
                await who.wait_for("chat_message", lambda f: f["seq"] == last, claim=False)
            await asyncio.sleep(0.3)  # time for a late duplicate to show up, if any

            assert _rows(transcript(doctor)) == rows
            # The patient's two sockets together: every message exactly once.
            assert _rows(transcript(patient, back)) == rows
            # What the first socket saw is exactly what the second one did not repeat.
            assert max(f["seq"] for f in patient.of_type("chat_message")) <= seen
            assert min(f["seq"] for f in back.of_type("chat_message")) > seen
        finally:
            for who in sockets:
                await who.close()
