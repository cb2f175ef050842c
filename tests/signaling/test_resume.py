"""Reconnect and resume: every sequenced frame exactly once, in order."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from clinical.models import ChatMessage
from tests.signaling.test_room_flow import admitted_pair


def sequenced(client) -> list[int]:
    return [f["seq"] for f in client.frames if "seq" in f and f["type"] in {"chat_message", "state", "alert"}]


async def test_resume_after_a_drop_replays_what_was_missed(room, consultation):
    patient, doctor = await admitted_pair(room, consultation)
    sent = await patient.request({"type": "chat_message", "id": "p1", "text": "before the drop"})
    await doctor.expect("chat_message")
    last_seen = sent["seq"]
    await patient.leave()

    # The doctor keeps talking while the patient is gone.
    for n in range(5):
        await doctor.request({"type": "chat_message", "id": f"d{n}", "text": f"message {n}"})

    back = await room(consultation.patient)
    ack = await back.request({"type": "resume", "id": "r1", "last_seq": last_seen})
    assert ack["for"] == "resume"
    replayed = [f for f in back.frames if f["type"] == "chat_message"]
    assert [f["text"] for f in replayed] == [f"message {n}" for n in range(5)]
    seqs = [f["seq"] for f in replayed]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    assert ack["last_seq"] == seqs[-1]

    # And it is live again.
    await doctor.request({"type": "chat_message", "id": "d-live", "text": "welcome back"})
    assert (await back.expect("chat_message", text="welcome back"))["seq"] > seqs[-1]


async def test_last_seq_in_the_url_resumes_atomically_in_order(room, consultation):
    patient, doctor = await admitted_pair(room, consultation)
    await patient.leave()
    for n in range(3):
        await doctor.request({"type": "chat_message", "id": f"d{n}", "text": f"m{n}"})
    back = await room(consultation.patient, query="last_seq=0")
    await back.expect("chat_message", text="m2")
    # Everything since seq 0: the state changes, then the three messages, in order, once.
    assert sequenced(back) == list(range(1, max(sequenced(back)) + 1))
    assert [f["state"] for f in back.of_type("state")] == ["waiting", "in_progress"]


async def test_resume_does_not_repeat_what_this_connection_already_got(room, consultation):
    patient, doctor = await admitted_pair(room, consultation)
    await patient.leave()
    await doctor.request({"type": "chat_message", "id": "d0", "text": "while away"})
    back = await room(consultation.patient)
    # A live message arrives before the client gets round to resuming.
    await doctor.request({"type": "chat_message", "id": "d1", "text": "live"})
    await back.expect("chat_message", text="live")
    await back.request({"type": "resume", "id": "r1", "last_seq": 2})
    texts = [f["text"] for f in back.of_type("chat_message")]
    assert sorted(texts) == ["live", "while away"]


async def test_out_of_order_fanout_is_reordered_and_gaps_filled_from_the_database(room, consultation):
    patient, _doctor = await admitted_pair(room, consultation)
    await patient.drain()
    # Two messages stored, but the later one's fan-out overtakes the earlier one, which is lost.
    from clinical.services import store_chat_message
    from signaling.frames import chat_frame

    store = database_sync_to_async(store_chat_message)
    first, _ = await store(
        consultation.pk, consultation.doctor, sender_role="doctor", client_id="a", text="first"
    )
    second, _ = await store(
        consultation.pk, consultation.doctor, sender_role="doctor", client_id="b", text="second"
    )
    layer = get_channel_layer()
    await layer.group_send(f"room.{consultation.pk}", {"type": "room.sequenced", "frame": chat_frame(second)})
    got = await patient.expect("chat_message", timeout=3)
    assert got["text"] == "first"  # filled from the database
    assert (await patient.expect("chat_message"))["text"] == "second"
    # A late duplicate of the first is dropped.
    await layer.group_send(f"room.{consultation.pk}", {"type": "room.sequenced", "frame": chat_frame(first)})
    assert not [f for f in await patient.drain() if f["type"] == "chat_message"]


async def test_resume_with_nothing_missed_is_a_no_op(room, consultation):
    patient, _ = await admitted_pair(room, consultation)
    current = patient.of_type("room_state")[0]["last_seq"]
    ack = await patient.request({"type": "resume", "id": "r", "last_seq": 10_000})
    assert ack["replayed"] == 0
    assert ack["last_seq"] >= current


async def test_chat_is_stored_before_it_is_fanned_out(room, consultation):
    patient, doctor = await admitted_pair(room, consultation)
    await patient.request({"type": "chat_message", "id": "m1", "text": "stored first"})
    frame = await doctor.expect("chat_message")
    stored = await database_sync_to_async(ChatMessage.objects.get)(pk=frame["server_id"])
    assert stored.seq == frame["seq"]


async def test_malformed_last_seq_in_the_url_is_reported_and_the_socket_goes_live(room, consultation):
    client = await room(consultation.doctor, query="last_seq=abc")
    error = await client.expect("error", code="VALIDATION_ERROR")
    assert "last_seq" in error["details"]
    assert (await client.request({"type": "ping", "id": "p"}))["type"] == "pong"
