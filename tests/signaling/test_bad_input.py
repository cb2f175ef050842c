"""Bad frames get an error frame; they close nothing (unless abusive) and touch no other socket."""

from __future__ import annotations

import json

from channels.db import database_sync_to_async as sync_to_async

from clinical.models import ChatMessage
from tests.signaling.test_room_flow import admitted_pair


async def test_malformed_json_is_an_error_frame_and_the_socket_lives(room, consultation):
    patient, doctor = await admitted_pair(room, consultation)
    await patient.send_raw(text="{not json")
    error = await patient.expect("error")
    assert error["code"] == "INVALID_JSON"
    assert (await patient.request({"type": "ping", "id": "p1"}))["type"] == "pong"
    assert not [f for f in await doctor.drain() if f["type"] == "error"]


async def test_non_object_json_is_invalid(room, consultation):
    patient = await room(consultation.patient)
    await patient.send_raw(text="[1, 2, 3]")
    assert (await patient.expect("error"))["code"] == "INVALID_JSON"


async def test_binary_frames_are_refused(room, consultation):
    patient = await room(consultation.patient)
    await patient.send_raw(data=b"\x00\x01binary")
    error = await patient.expect("error")
    assert error["code"] == "INVALID_JSON"
    assert "Binary" in error["message"]


async def test_unknown_type_lists_known_types(room, consultation):
    patient = await room(consultation.patient)
    error = await patient.request({"type": "teleport", "id": "x1"})
    assert error["code"] == "UNKNOWN_TYPE"
    assert "chat_message" in error["details"]["known_types"]


async def test_unknown_fields_and_bad_ids_are_validation_errors(room, consultation):
    patient = await room(consultation.patient)
    extra = await patient.request({"type": "ping", "id": "p1", "evil": True})
    assert extra["code"] == "VALIDATION_ERROR"
    assert "evil" in extra["details"]
    await patient.send({"type": "ping", "id": "x" * 65})
    bad_id = await patient.expect("error", code="VALIDATION_ERROR", id=None)
    assert bad_id["id"] is None  # a malformed id is not echoed back


async def test_sdp_must_be_sdp_and_small(room, consultation, settings):
    settings.SDP_MAX_BYTES = 2048
    patient, _ = await admitted_pair(room, consultation)
    not_sdp = await patient.request({"type": "offer", "id": "o1", "sdp": "hello"})
    assert not_sdp["code"] == "VALIDATION_ERROR"
    assert "sdp" in not_sdp["details"]
    huge = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nm=audio 9 UDP 0\r\n" + "a=x\r\n" * 1000
    too_big = await patient.request({"type": "offer", "id": "o2", "sdp": huge})
    assert too_big["code"] == "VALIDATION_ERROR"
    bad_candidate = await patient.request({"type": "ice_candidate", "id": "c1", "candidate": "rm -rf"})
    assert bad_candidate["code"] == "VALIDATION_ERROR"


async def test_oversized_frame_is_too_large_and_abusive_frame_closes(room, consultation, settings):
    settings.WS_MAX_FRAME_BYTES = 2048
    settings.WS_ABUSE_FRAME_BYTES = 8192
    patient, doctor = await admitted_pair(room, consultation)
    await patient.send_raw(text=json.dumps({"type": "chat_message", "id": "m1", "text": "x" * 3000}))
    assert (await patient.expect("error"))["code"] == "TOO_LARGE"
    assert await sync_to_async(ChatMessage.objects.count)() == 0
    await patient.send_raw(text="x" * 9000)
    assert await patient.closed() == 1009
    # The doctor is unaffected and still served.
    assert (await doctor.request({"type": "ping", "id": "still-here"}))["type"] == "pong"


async def test_flood_is_rate_limited_then_closed_as_abuse(room, consultation, settings):
    settings.WS_RATE_PER_SECOND = 5
    settings.WS_RATE_BURST = 5
    settings.WS_ABUSE_REJECTS_PER_SECOND = 20
    patient = await room(consultation.patient)
    doctor = await room(consultation.doctor)
    for n in range(40):
        await patient.send({"type": "ping", "id": f"p{n}"})
    code = await patient.closed()
    assert code == 4429
    limited = [f for f in patient.frames if f.get("code") == "RATE_LIMITED"]
    assert limited
    assert (await doctor.request({"type": "ping", "id": "ok"}))["type"] == "pong"


async def test_a_bad_frame_does_not_disturb_the_room(room, consultation):
    patient, doctor = await admitted_pair(room, consultation)
    await patient.send_raw(text="garbage")
    await patient.request({"type": "chat_message", "id": "m1", "text": "still talking"})
    delivered = await doctor.expect("chat_message")
    assert delivered["text"] == "still talking"
