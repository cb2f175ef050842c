from __future__ import annotations

import asyncio

from channels.db import database_sync_to_async as sync_to_async

from clinical.models import ChatMessage, Consultation, ConsultationEvent, VitalSign
from tests.signaling.conftest import SDP


async def admitted_pair(room, consultation):
    """Patient waits, doctor admits: both in the room."""
    patient = await room(consultation.patient)
    await patient.expect("waiting")
    doctor = await room(consultation.doctor)
    ack = await doctor.request({"type": "admit", "id": "adm-1"})
    assert ack["type"] == "ack"
    await patient.expect("admitted")
    await doctor.expect("join")
    return patient, doctor


async def state_of(consultation) -> str:
    return (await sync_to_async(Consultation.objects.get)(pk=consultation.pk)).state


async def test_patient_waits_and_doctor_is_told(room, consultation):
    doctor = await room(consultation.doctor)
    patient = await room(consultation.patient)
    waiting = await patient.expect("waiting")
    assert waiting["message"]
    told = await doctor.expect("patient_waiting")
    assert told["patient"]["user_id"] == str(consultation.patient_id)
    assert await state_of(consultation) == "waiting"


async def test_doctor_arriving_later_sees_the_waiting_patient(room, consultation):
    patient = await room(consultation.patient)
    await patient.expect("waiting")
    doctor = await room(consultation.doctor)
    await doctor.expect("patient_waiting")
    listed = doctor.of_type("participants")[0]["participants"]
    assert {(p["role"], p["status"]) for p in listed} == {("doctor", "joined"), ("patient", "waiting")}


async def test_admit_moves_consultation_in_progress(room, consultation):
    patient, doctor = await admitted_pair(room, consultation)
    assert await state_of(consultation) == "in_progress"
    state = await doctor.expect("state", state="in_progress")
    assert state["previous"] == "waiting"
    assert state["by"]["role"] == "doctor"
    # The patient catches up on the sequenced log when admitted.
    await patient.expect("state", state="in_progress")


async def test_waiting_patient_cannot_signal_or_chat(room, consultation):
    patient = await room(consultation.patient)
    await patient.expect("waiting")
    error = await patient.request({"type": "offer", "id": "o1", "sdp": SDP})
    assert (error["type"], error["code"]) == ("error", "FORBIDDEN")
    error = await patient.request({"type": "chat_message", "id": "c1", "text": "hello?"})
    assert error["code"] == "FORBIDDEN"


async def test_only_the_doctor_admits_and_ends(room, consultation):
    patient, _doctor = await admitted_pair(room, consultation)
    assert (await patient.request({"type": "end", "id": "e1"}))["code"] == "FORBIDDEN"
    assert (await patient.request({"type": "admit", "id": "a1"}))["code"] == "FORBIDDEN"


async def test_admit_without_waiting_patient_is_invalid_state(room, consultation):
    doctor = await room(consultation.doctor)
    error = await doctor.request({"type": "admit", "id": "a1"})
    assert error["code"] == "INVALID_STATE"
    assert error["details"]["state"] == "scheduled"


async def test_signaling_is_relayed_to_the_other_side_only(room, consultation):
    patient, doctor = await admitted_pair(room, consultation)
    await patient.drain()
    await doctor.drain()
    for frame in (
        {"type": "offer", "id": "o1", "sdp": SDP},
        {
            "type": "ice_candidate",
            "id": "i1",
            "candidate": "candidate:1 1 UDP 2122252543 127.0.0.1 5000 typ host",
            "sdp_mid": "0",
            "sdp_mline_index": 0,
        },
        {"type": "media_state", "id": "m1", "audio": True, "video": False, "screen": True},
        {"type": "ice_restart", "id": "r1"},
        {"type": "typing", "id": "t1"},
        {"type": "hangup", "id": "h1", "reason": "network"},
    ):
        ack = await doctor.request(frame)
        assert ack == {"type": "ack", "id": frame["id"], "for": frame["type"]}
        relayed = await patient.expect(frame["type"])
        assert relayed["from"] == {"user_id": str(consultation.doctor_id), "role": "doctor"}
        assert "id" not in relayed
    answer = await patient.request({"type": "answer", "id": "a1", "sdp": SDP})
    assert answer["type"] == "ack"
    assert (await doctor.expect("answer"))["sdp"] == SDP
    # Never echoed back to the sender.
    assert not [f for f in doctor.frames if f["type"] in {"offer", "ice_candidate", "media_state", "hangup"}]


async def test_chat_is_stored_sequenced_and_deduplicated(room, consultation):
    patient, doctor = await admitted_pair(room, consultation)
    ack = await patient.request({"type": "chat_message", "id": "msg-1", "text": "I have a headache"})
    assert ack["for"] == "chat_message"
    assert ack["duplicate"] is False
    delivered = await doctor.expect("chat_message")
    assert delivered["seq"] == ack["seq"]
    assert delivered["server_id"] == ack["server_id"]
    assert delivered["sender"]["role"] == "patient"
    assert delivered["text"] == "I have a headache"
    # The sender also gets the sequenced frame, so its own log has no holes.
    await patient.expect("chat_message", seq=ack["seq"])

    retry = await patient.request({"type": "chat_message", "id": "msg-1", "text": "I have a headache"})
    assert retry["duplicate"] is True
    assert (retry["seq"], retry["server_id"]) == (ack["seq"], ack["server_id"])
    assert await sync_to_async(ChatMessage.objects.filter(consultation=consultation).count)() == 1
    assert not [f for f in await doctor.drain() if f["type"] == "chat_message"]


async def test_chat_validation_errors(room, consultation, settings):
    settings.CHAT_MAX_LENGTH = 10
    patient, _ = await admitted_pair(room, consultation)
    too_long = await patient.request({"type": "chat_message", "id": "m1", "text": "x" * 11})
    assert too_long["code"] == "VALIDATION_ERROR"
    assert "text" in too_long["details"]
    no_id = await patient.request({"type": "chat_message", "text": "hi"})
    assert no_id["code"] == "VALIDATION_ERROR"
    assert "id" in no_id["details"]
    bad_attachment = await patient.request(
        {"type": "chat_message", "id": "m2", "text": "hi", "attachment_id": "x"}
    )
    assert "attachment_id" in bad_attachment["details"]


async def test_read_receipts_are_stored_and_relayed(room, consultation):
    patient, doctor = await admitted_pair(room, consultation)
    sent = await patient.request({"type": "chat_message", "id": "m1", "text": "hello"})
    ack = await doctor.request({"type": "read", "id": "r1", "up_to_seq": sent["seq"]})
    assert ack["up_to_seq"] == sent["seq"]
    receipt = await patient.expect("read")
    assert receipt["up_to_seq"] == sent["seq"]
    stored = await sync_to_async(Consultation.objects.get)(pk=consultation.pk)
    assert stored.doctor_read_seq == sent["seq"]


async def test_vitals_are_stored_streamed_and_alert_when_abnormal(room, consultation):
    patient, doctor = await admitted_pair(room, consultation)
    frame = {
        "type": "vitals",
        "id": "v1",
        "readings": [
            {"kind": "heart_rate", "unit": "bpm", "value": 72},
            {"kind": "spo2", "unit": "%", "value": 88},
            {"kind": "blood_pressure", "unit": "mmHg", "value": 150, "value2": 95},
        ],
    }
    ack = await patient.request(frame)
    assert len(ack["server_ids"]) == 3
    assert len(ack["alerts"]) == 2
    stream = await doctor.expect("vitals")
    assert [r["abnormal"] for r in stream["readings"]] == [False, True, True]
    alert = await doctor.expect("alert")
    assert alert["reading"]["kind"] == "spo2"
    assert alert["normal_range"] == {"value": [92, 100]}
    rows = await sync_to_async(list)(VitalSign.objects.filter(consultation=consultation).order_by("kind"))
    assert [(r.kind, float(r.value)) for r in rows] == [
        ("blood_pressure", 150),
        ("heart_rate", 72),
        ("spo2", 88),
    ]
    events = await sync_to_async(
        ConsultationEvent.objects.filter(consultation=consultation, kind="alert").count
    )()
    assert events == 2


async def test_vitals_outside_possible_range_or_from_doctor_are_refused(room, consultation):
    patient, doctor = await admitted_pair(room, consultation)
    bad = await patient.request(
        {"type": "vitals", "id": "v1", "readings": [{"kind": "heart_rate", "unit": "bpm", "value": 900}]}
    )
    assert bad["code"] == "VALIDATION_ERROR"
    wrong_unit = await patient.request(
        {"type": "vitals", "id": "v2", "readings": [{"kind": "temperature", "unit": "K", "value": 310}]}
    )
    assert wrong_unit["code"] == "VALIDATION_ERROR"
    from_doctor = await doctor.request(
        {"type": "vitals", "id": "v3", "readings": [{"kind": "heart_rate", "unit": "bpm", "value": 70}]}
    )
    assert from_doctor["code"] == "FORBIDDEN"
    assert await sync_to_async(VitalSign.objects.count)() == 0


async def test_vitals_are_rate_limited_per_socket(room, consultation, settings):
    settings.WS_VITALS_PER_SECOND = 3
    patient = await room(consultation.patient)
    await patient.expect("waiting")
    doctor = await room(consultation.doctor)
    await doctor.request({"type": "admit", "id": "a"})
    await patient.expect("admitted")
    reading = {"kind": "heart_rate", "unit": "bpm", "value": 70}
    answers = [
        await patient.request({"type": "vitals", "id": f"v{n}", "readings": [reading]}) for n in range(5)
    ]
    codes = [a.get("code", a["type"]) for a in answers]
    assert codes[:3] == ["ack", "ack", "ack"]
    assert "RATE_LIMITED" in codes[3:]
    limited = next(a for a in answers if a.get("code") == "RATE_LIMITED")
    assert limited["details"]["retry_after_ms"] > 0


async def test_end_completes_and_closes_everyone(room, consultation):
    patient, doctor = await admitted_pair(room, consultation)
    ack = await doctor.request({"type": "end", "id": "end-1"})
    assert ack["for"] == "end"
    assert (await patient.expect("ended"))["by"] == {"user_id": str(consultation.doctor_id), "role": "doctor"}
    assert await patient.closed() == 1000
    assert await doctor.closed() == 1000
    assert await state_of(consultation) == "completed"


async def test_doctor_can_always_reenter(room, consultation):
    patient, doctor = await admitted_pair(room, consultation)
    await doctor.leave()
    await patient.expect("leave")
    again = await room(consultation.doctor)
    assert again.of_type("room_state")[0]["you"]["status"] == "joined"
    await patient.expect("join")


async def test_presence_lists_and_leave_events(room, consultation):
    patient, doctor = await admitted_pair(room, consultation)
    await patient.leave()
    left = await doctor.expect("leave")
    assert left["user"]["role"] == "patient"
    patient_again = await room(consultation.patient)
    listed = patient_again.of_type("participants")[0]["participants"]
    assert {(p["role"], p["status"]) for p in listed} == {("doctor", "joined"), ("patient", "joined")}
    # Rejoining an in-progress consultation skips the waiting room.
    assert not patient_again.of_type("waiting")
    await asyncio.sleep(0)
