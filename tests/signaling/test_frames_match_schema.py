"""Every frame a real room session produces matches its documented model (``server_frames``) and
the payload schema published in the AsyncAPI document."""

from __future__ import annotations

import re
import time
from typing import Any

import jsonschema
import pytest
from pydantic import ValidationError

from signaling.asyncapi import build_asyncapi
from signaling.presence import get_presence
from signaling.protocol import CLIENT_FRAMES
from signaling.server_frames import SERVER_FRAMES, UnknownServerFrame, validate_server_frame
from tests.signaling.conftest import SDP
from tests.signaling.test_room_flow import admitted_pair

CANDIDATE = "candidate:1 1 UDP 2122252543 127.0.0.1 5000 typ host"


def _with_turn(settings) -> None:
    settings.STUN_URLS = ["stun:stun.example.org:3478"]
    settings.TURN_URLS = ["turn:turn.example.org:3478?transport=udp"]
    settings.TURN_SECRET = "coturn-secret"


def _document_validators() -> dict[str, jsonschema.Draft7Validator]:
    """Frame type -> a JSON Schema validator for the server message payload in the document."""
    document = build_asyncapi()
    components = document["components"]
    validators = {}
    for key, message in components["messages"].items():
        if key.startswith("server_"):
            schema = {**message["payload"], "components": components}
            validators[message["name"]] = jsonschema.Draft7Validator(schema)
    return validators


def _check_all(frames: list[dict[str, Any]]) -> None:
    """Both the pydantic model and the published JSON schema accept every frame."""
    validators = _document_validators()
    problems = []
    for frame in frames:
        try:
            validate_server_frame(frame)
        except ValueError as error:
            problems.append(f"model: {frame}\n{error}")
        validator = validators.get(frame.get("type"))
        if validator is None:
            problems.append(f"not in the document: {frame}")
            continue
        problems += [f"document: {frame}\n{e.message}" for e in validator.iter_errors(frame)]
    assert not problems, "\n\n".join(problems)


async def _settle(*clients) -> None:
    for client in clients:
        await client.drain(0.1)


async def test_a_whole_session_sends_only_documented_frames(room, consultation, settings):
    _with_turn(settings)
    clients = []

    # The doctor arrives first; nobody is waiting yet.
    doctor = await room(consultation.doctor)
    clients.append(doctor)
    assert (await doctor.request({"type": "admit", "id": "a0"}))["code"] == "INVALID_STATE"

    # The patient waits; the doctor is told, then admits.
    patient = await room(consultation.patient)
    clients.append(patient)
    await patient.expect("waiting")
    await doctor.expect("patient_waiting")
    assert (await patient.request({"type": "offer", "id": "o0", "sdp": SDP}))["code"] == "FORBIDDEN"
    assert (await doctor.request({"type": "admit", "id": "adm-1"}))["for"] == "admit"
    await patient.expect("admitted")
    await doctor.expect("join")
    await patient.expect("state", state="in_progress")

    # Heartbeat, with and without an id.
    assert (await patient.request({"type": "ping", "id": "hb-1"}))["type"] == "pong"
    assert (await doctor.request({"type": "ping"}))["type"] == "pong"

    # WebRTC signaling and the other relayed frames, with and without optional fields.
    for sender, receiver, frame in [
        (doctor, patient, {"type": "offer", "id": "o1", "sdp": SDP}),
        (patient, doctor, {"type": "answer", "id": "a1", "sdp": SDP}),
        (doctor, patient, {"type": "ice_candidate", "id": "c1", "candidate": CANDIDATE, "sdp_mid": "0"}),
        (doctor, patient, {"type": "ice_candidate", "id": "c2", "candidate": ""}),
        (patient, doctor, {"type": "ice_restart", "id": "r1", "reason": "network changed"}),
        (patient, doctor, {"type": "ice_restart"}),
        (doctor, patient, {"type": "media_state", "id": "m1", "audio": True, "video": True}),
        (doctor, patient, {"type": "typing", "id": "t1", "typing": False}),
        (patient, doctor, {"type": "hangup", "id": "h1"}),
    ]:
        ack = await sender.request(frame)
        assert ack["type"] == "ack", ack
        await receiver.expect(frame["type"])

    # Chat (and its duplicate), read receipts, vitals with alerts.
    sent = await patient.request({"type": "chat_message", "id": "msg-1", "text": "Headache since Monday"})
    await doctor.expect("chat_message")
    assert (await patient.request({"type": "chat_message", "id": "msg-1", "text": "x"}))["duplicate"]
    assert (await doctor.request({"type": "read", "id": "rd-1", "up_to_seq": sent["seq"]}))["type"] == "ack"
    await patient.expect("read")
    vitals = {
        "type": "vitals",
        "id": "v1",
        "readings": [
            {"kind": "heart_rate", "unit": "bpm", "value": 72},
            {"kind": "spo2", "unit": "%", "value": 88, "measured_at": "2026-01-01T10:00:00Z"},
            {"kind": "blood_pressure", "unit": "mmHg", "value": 150, "value2": 95},
        ],
    }
    assert (await patient.request(vitals))["type"] == "ack"
    await doctor.expect("vitals")
    await doctor.expect("alert")

    # Every kind of refusal.
    await patient.send_raw(text="{not json")
    await patient.expect("error", code="INVALID_JSON")
    await patient.send_raw(data=b"\x00binary")
    await patient.expect("error", code="INVALID_JSON")
    assert (await patient.request({"type": "teleport", "id": "x1"}))["code"] == "UNKNOWN_TYPE"
    await patient.send({"type": "ping", "id": "x" * 65})
    bad_id = await patient.expect("error", code="VALIDATION_ERROR", id=None)
    assert bad_id["id"] is None  # a malformed id is not echoed
    assert (await patient.request({"type": "end", "id": "e0"}))["code"] == "FORBIDDEN"
    settings.WS_MAX_FRAME_BYTES = 1024
    await patient.send_raw(text='{"type": "ping", "pad": "' + "x" * 2000 + '"}')
    await patient.expect("error", code="TOO_LARGE")

    # Drop and come back: leave/join, URL resume, then a resume frame.
    await _settle(patient)
    await patient.leave()
    await doctor.expect("leave")
    await doctor.request({"type": "chat_message", "id": "d1", "text": "Are you there?"})
    back = await room(consultation.patient, query="last_seq=0")
    clients.append(back)
    await back.expect("chat_message", text="Are you there?")
    await doctor.expect("join")
    resumed = await back.request({"type": "resume", "id": "r-1", "last_seq": 0})
    assert resumed["for"] == "resume"

    # The doctor ends it: everyone gets the state change and ``ended``, then the close.
    assert (await doctor.request({"type": "end", "id": "end-1"}))["for"] == "end"
    await back.expect("ended")
    assert await back.closed() == 1000
    assert await doctor.closed() == 1000

    frames = [frame for client in clients for frame in client.frames]
    _check_all(frames)
    assert {f["type"] for f in frames} == set(SERVER_FRAMES), "a server frame type was not exercised"
    acked = {f["for"] for f in frames if f["type"] == "ack"}
    assert acked == set(CLIENT_FRAMES) - {"ping"}
    codes = {f["code"] for f in frames if f["type"] == "error"}
    assert codes >= {"INVALID_JSON", "UNKNOWN_TYPE", "VALIDATION_ERROR", "FORBIDDEN", "TOO_LARGE"}


async def test_pruned_ghost_leave_and_turnless_ice_servers_match(room, consultation, settings_fast_heartbeat):
    settings_fast_heartbeat.STUN_URLS = []
    settings_fast_heartbeat.TURN_URLS = []
    patient, doctor = await admitted_pair(room, consultation)
    ghost = {
        "user_id": "0d0d0d0d-0000-4000-8000-000000000001",
        "role": "doctor",
        "name": "Ghost",
        "status": "joined",
        "media": {"audio": False, "video": False, "screen": False},
    }
    await get_presence().put(str(consultation.pk), "specific.dead!ghost", ghost, last_seen=time.time() - 3600)
    left = await doctor.expect("leave", timeout=3)
    assert left["reason"] == "timeout"
    await patient.request({"type": "ping", "id": "keep"})
    await _settle(patient, doctor)
    assert doctor.of_type("ice_servers")[0]["expires_at"] is None
    _check_all(patient.frames + doctor.frames)


async def test_rate_limited_errors_match(room, consultation, settings):
    settings.WS_RATE_PER_SECOND = 2
    settings.WS_RATE_BURST = 2
    patient = await room(consultation.patient)
    for n in range(6):
        await patient.send({"type": "ping", "id": f"p{n}"})
    await patient.expect("error", code="RATE_LIMITED")
    await _settle(patient)
    _check_all(patient.frames)


def test_validate_server_frame_refuses_mismatches():
    with pytest.raises(UnknownServerFrame):
        validate_server_frame({"type": "teleport"})
    with pytest.raises(UnknownServerFrame):
        validate_server_frame({"no": "type"})
    with pytest.raises(ValidationError):  # missing field
        validate_server_frame({"type": "admitted"})
    with pytest.raises(ValidationError):  # unknown field
        validate_server_frame({"type": "admitted", "ts": "2026-01-01T00:00:00.000Z", "extra": 1})
    with pytest.raises(ValidationError):  # a relayed frame keeps no client id
        validate_server_frame(
            {
                "type": "typing",
                "id": "t1",
                "typing": True,
                "from": {"user_id": "0d0d0d0d-0000-4000-8000-000000000001", "role": "doctor"},
            }
        )
    with pytest.raises(ValidationError):  # ack fields depend on ``for``
        validate_server_frame({"type": "ack", "id": "m1", "for": "chat_message"})
    with pytest.raises(ValidationError):  # naive timestamps are not documented
        validate_server_frame({"type": "admitted", "ts": "2026-01-01T00:00:00"})


CANONICAL_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _timestamps(frame: dict[str, Any]) -> list[tuple[str, str]]:
    found = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for n, value in enumerate(node):
                walk(value, f"{path}[{n}]")
        elif isinstance(node, str) and re.match(r"^\d{4}-\d\d-\d\dT", node):
            found.append((path, node))

    walk(frame, frame["type"])
    return found


async def test_every_timestamp_has_the_one_documented_format(room, consultation, settings):
    _with_turn(settings)
    patient, doctor = await admitted_pair(room, consultation)
    await patient.request(
        {"type": "vitals", "id": "v1", "readings": [{"kind": "spo2", "unit": "%", "value": 88}]}
    )
    await doctor.expect("alert")
    odd = [
        (path, value)
        for frame in patient.frames + doctor.frames
        for path, value in _timestamps(frame)
        if not CANONICAL_TS.match(value)
    ]
    assert not odd
