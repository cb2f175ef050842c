"""The consultation room protocol as an AsyncAPI 3.0.0 document, generated from the frame models.

Client frames come from ``protocol.CLIENT_FRAMES``, server frames from
``server_frames.SERVER_FRAMES``; their pydantic JSON schemas become the message payloads, with the
nested definitions hoisted into ``components.schemas``. The document describes the *server*
application, so (AsyncAPI 3 semantics) frames a client sends are ``action: receive`` operations and
frames the server sends are ``action: send`` operations. Served at ``GET /api/asyncapi/``.
"""

from __future__ import annotations

import inspect
from typing import Any

from django.conf import settings
from pydantic import BaseModel

from signaling import protocol, server_frames
from signaling.auth import BEARER_PREFIX, SUBPROTOCOL

ASYNCAPI_VERSION = "3.0.0"
CHANNEL = "consultationRoom"
ADDRESS = "/ws/consultations/{consultationId}/"
SERVER = "telehealth"
REF = "#/components/schemas/{model}"

ERROR_CODE_DESCRIPTIONS: dict[str, str] = {
    protocol.INVALID_JSON: "Not JSON, not a JSON object, or a binary frame.",
    protocol.UNKNOWN_TYPE: "No such client frame type; `details.known_types` lists them.",
    protocol.VALIDATION_ERROR: "The frame does not match its schema; `details` maps field -> messages.",
    protocol.RATE_LIMITED: "Too many frames (or vitals frames); `details.retry_after_ms` says when to retry.",
    protocol.FORBIDDEN: "Not allowed for your role, or not before the doctor admitted you.",
    protocol.TOO_LARGE: "The frame is larger than the size limit; nothing was done.",
    protocol.INVALID_STATE: "Not possible in the consultation's state; `details.state` is the state.",
    protocol.NOT_FOUND: "Notifications socket: no such doctor, or not one you can see.",
    protocol.SERVER_ERROR: "The server failed to handle a valid frame; retrying may work.",
}

TAGS: dict[str, dict[str, str]] = {
    "control": {"name": "control", "description": "Connection set-up, heartbeat, answers and resume."},
    "lifecycle": {"name": "lifecycle", "description": "Waiting room and consultation state."},
    "presence": {"name": "presence", "description": "Who is in the room and their media state."},
    "webrtc": {"name": "webrtc", "description": "WebRTC signaling, relayed between the participants."},
    "chat": {"name": "chat", "description": "Chat messages, typing indicators and read receipts."},
    "vitals": {"name": "vitals", "description": "Vital signs from the patient's devices, and alerts."},
}
FRAME_TAGS: dict[str, str] = {
    "ping": "control",
    "pong": "control",
    "resume": "control",
    "ack": "control",
    "error": "control",
    "room_state": "control",
    "ice_servers": "webrtc",
    "admit": "lifecycle",
    "end": "lifecycle",
    "waiting": "lifecycle",
    "patient_waiting": "lifecycle",
    "admitted": "lifecycle",
    "state": "lifecycle",
    "ended": "lifecycle",
    "participants": "presence",
    "join": "presence",
    "leave": "presence",
    "media_state": "presence",
    "offer": "webrtc",
    "answer": "webrtc",
    "ice_candidate": "webrtc",
    "ice_restart": "webrtc",
    "hangup": "webrtc",
    "chat_message": "chat",
    "typing": "chat",
    "read": "chat",
    "vitals": "vitals",
    "alert": "vitals",
}

# Client frames as clients send them (the tests parse each with ``protocol.parse_frame``).
CLIENT_EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "ping": [{"type": "ping", "id": "hb-17"}],
    "resume": [{"type": "resume", "id": "r-1", "last_seq": 3}],
    "admit": [{"type": "admit", "id": "adm-1"}],
    "end": [{"type": "end", "id": "end-1"}],
    "offer": [{"type": "offer", "id": "o-1", "sdp": server_frames.EXAMPLE_SDP}],
    "answer": [{"type": "answer", "id": "a-1", "sdp": server_frames.EXAMPLE_SDP}],
    "ice_candidate": [
        {
            "type": "ice_candidate",
            "id": "c-1",
            "candidate": "candidate:1 1 UDP 2122252543 192.0.2.10 54400 typ host",
            "sdp_mid": "0",
            "sdp_mline_index": 0,
        },
        {"type": "ice_candidate", "id": "c-2", "candidate": ""},
    ],
    "ice_restart": [{"type": "ice_restart", "id": "ir-1", "reason": "network changed"}],
    "hangup": [{"type": "hangup", "id": "h-1"}],
    "media_state": [{"type": "media_state", "id": "m-1", "audio": True, "video": False}],
    "chat_message": [
        {"type": "chat_message", "id": "msg-1", "text": "I have had a headache since Monday."},
        {
            "type": "chat_message",
            "id": "msg-2",
            "text": "Here is my last lab report.",
            "attachment_id": "0e5b6c1a-2f4d-4b8e-9c7a-1d3e5f7a9b20",
        },
    ],
    "typing": [{"type": "typing", "id": "t-1", "typing": False}],
    "read": [{"type": "read", "id": "rd-1", "up_to_seq": 3}],
    "vitals": [
        {
            "type": "vitals",
            "id": "v-1",
            "readings": [
                {"kind": "heart_rate", "unit": "bpm", "value": 72},
                {"kind": "spo2", "unit": "%", "value": 88, "measured_at": "2026-03-02T10:03:00Z"},
                {"kind": "blood_pressure", "unit": "mmHg", "value": 150, "value2": 95},
            ],
        }
    ],
}


def _client_notes() -> dict[str, str]:
    """Rules a schema cannot carry (roles, states, runtime limits), per client frame."""
    return {
        "ping": "Answered with `pong` (not `ack`). Any frame resets the idle timer; ping when idle.",
        "resume": (
            "Joined sockets only. Replays the sequenced frames after `last_seq` that this connection"
            " has not delivered yet, in order, then acks with `replayed` and `last_seq`."
        ),
        "admit": "Doctor only; INVALID_STATE when no patient is waiting.",
        "end": "Doctor only; INVALID_STATE unless the consultation is in progress.",
        "offer": f"Joined sockets only. `sdp` is at most {settings.SDP_MAX_BYTES} bytes.",
        "answer": f"Joined sockets only. `sdp` is at most {settings.SDP_MAX_BYTES} bytes.",
        "ice_candidate": "Joined sockets only.",
        "ice_restart": "Joined sockets only.",
        "hangup": "Joined sockets only.",
        "media_state": "Joined sockets only. Also stored in presence (see `participants`).",
        "chat_message": (
            f"Joined sockets only. `text` is at most {settings.CHAT_MAX_LENGTH} characters. The ack"
            " carries `server_id`, `seq` and `ts`; every joined socket, the sender's included, then"
            " gets the sequenced `chat_message`."
        ),
        "typing": "Joined sockets only.",
        "read": "Joined sockets only.",
        "vitals": (
            f"Patient only, joined sockets only, at most {settings.WS_VITALS_PER_SECOND} frames a"
            " second. Units: heart_rate bpm; spo2 %; blood_pressure mmHg (value systolic, value2"
            " diastolic); temperature C or F; respiratory_rate breaths/min; glucose mg/dL or mmol/L."
            " Physiologically impossible readings are refused (VALIDATION_ERROR); readings outside"
            " the normal range are stored and raise an `alert`."
        ),
    }


def _server_notes() -> dict[str, str]:
    return {
        "chat_message": "Sequenced: replayed on resume.",
        "state": "Sequenced: replayed on resume.",
        "alert": "Sequenced: replayed on resume.",
        "vitals": "Live only: not replayed on resume.",
    }


def _docstring(model: type[BaseModel]) -> tuple[str, str]:
    """(summary: the first paragraph on one line, description: the whole docstring)."""
    text = inspect.cleandoc(model.__doc__ or "")
    first = text.split("\n\n", 1)[0]
    return " ".join(first.split()), text


def _fix_discriminators(node: Any) -> None:
    """pydantic writes OpenAPI's ``discriminator: {propertyName, mapping}``; an AsyncAPI Schema
    Object's ``discriminator`` is the property name itself."""
    if isinstance(node, dict):
        if isinstance(node.get("discriminator"), dict):
            node["discriminator"] = node["discriminator"]["propertyName"]
        for value in node.values():
            _fix_discriminators(value)
    elif isinstance(node, list):
        for value in node:
            _fix_discriminators(value)


def _payload(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    """The model's JSON schema, its ``$defs`` moved into ``schemas`` (components.schemas)."""
    schema = model.model_json_schema(ref_template=REF)
    _fix_discriminators(schema)
    for name, definition in schema.pop("$defs", {}).items():
        if schemas.setdefault(name, definition) != definition:
            raise ValueError(f"Two different schemas are both called {name!r}.")
    return schema


def _message(
    frame_type: str,
    model: type[BaseModel],
    direction: str,
    examples: list[dict[str, Any]],
    note: str | None,
    schemas: dict[str, Any],
) -> dict[str, Any]:
    summary, description = _docstring(model)
    arrow = "client → server" if direction == "client" else "server → client"
    tag = FRAME_TAGS.get(frame_type)
    message: dict[str, Any] = {
        "name": frame_type,
        "title": f"{frame_type} ({arrow})",
        "summary": summary,
        "description": f"{description}\n\n{note}" if note else description,
        "contentType": "application/json",
        "payload": _payload(model, schemas),
        "examples": [
            {"name": f"{frame_type}_{n}", "summary": f"A {frame_type} frame.", "payload": example}
            for n, example in enumerate(examples, 1)
        ],
    }
    if tag:
        message["tags"] = [TAGS[tag]]
    return message


def _table(rows: list[tuple[Any, str]], header: tuple[str, str]) -> str:
    lines = [f"| {header[0]} | {header[1]} |", "| --- | --- |"]
    lines += [f"| `{key}` | {text} |" for key, text in rows]
    return "\n".join(lines)


def _limits() -> dict[str, int]:
    return {
        "max_frame_bytes": settings.WS_MAX_FRAME_BYTES,
        "abuse_frame_bytes": settings.WS_ABUSE_FRAME_BYTES,
        "frames_per_second": settings.WS_RATE_PER_SECOND,
        "frames_burst": settings.WS_RATE_BURST,
        "vitals_frames_per_second": settings.WS_VITALS_PER_SECOND,
        "abuse_rejects_per_second": settings.WS_ABUSE_REJECTS_PER_SECOND,
        "chat_max_length": settings.CHAT_MAX_LENGTH,
        "sdp_max_bytes": settings.SDP_MAX_BYTES,
        "heartbeat_seconds": settings.WS_HEARTBEAT_SECONDS,
        "idle_timeout_seconds": settings.WS_IDLE_TIMEOUT_SECONDS,
    }


def _description() -> str:
    limits = _limits()
    close_rows = [(code, text) for code, text in protocol.CLOSE_CODES.items()]
    error_rows = [(code, ERROR_CODE_DESCRIPTIONS[code]) for code in protocol.ERROR_CODES]
    return "\n\n".join(
        [
            "The consultation room websocket: WebRTC signaling, chat, presence, the waiting room and"
            " live vital signs between a consultation's patient and doctor. The full protocol guide"
            " is `signaling/PROTOCOL.md`.",
            "**Direction.** This document describes the *server* application, following AsyncAPI 3"
            " semantics: an operation with `action: receive` is a frame the server receives, i.e."
            " one a *client sends*; `action: send` is a frame the server sends to clients. Frame"
            " types that exist in both directions (`chat_message`, `vitals` and the relayed"
            " frames) have two messages, `client_<type>` and `server_<type>`.",
            f"**Connecting.** Open `{ADDRESS}` offering the subprotocols `{SUBPROTOCOL}` and"
            f" `{BEARER_PREFIX}<access JWT>` (preferred: the server selects `{SUBPROTOCOL}` and never"
            " echoes the token), or pass `?token=<access JWT>` (the query string ends up in access"
            " logs). Browsers must offer `telehealth.v1` too. Browser handshakes must come from an"
            " allowed Origin (HTTP 403 otherwise). Add `?last_seq=N` to resume atomically on"
            " reconnect. Only the consultation's patient and doctor may join; everyone else,"
            " admins included, is closed with 4403.",
            "**Frames.** Text frames holding one JSON object with a `type`. Each client frame may"
            " carry an `id` (required for `chat_message`), echoed in its answer: `pong` for `ping`,"
            " `ack` (with `for` = the client frame's type) for the rest, or `error`. Sequenced"
            " frames (`chat_message`, `state`, `alert`) carry `seq` and reach every joined socket"
            " in order, without gaps or duplicates; they are replayed on resume.",
            f"**Heartbeat.** Send a frame (a `ping` when idle) at least every"
            f" {limits['heartbeat_seconds']} s; a socket silent for {limits['idle_timeout_seconds']} s"
            " is closed with 4408.",
            f"**Limits.** Frames up to {limits['max_frame_bytes']} bytes (larger: TOO_LARGE; beyond"
            f" {limits['abuse_frame_bytes']} bytes the socket is closed with 1009);"
            f" {limits['frames_per_second']} frames a second, bursts of {limits['frames_burst']}"
            f" (RATE_LIMITED); vitals {limits['vitals_frames_per_second']} frames a second; more than"
            f" {limits['abuse_rejects_per_second']} refused frames a second close the socket with"
            " 4429.",
            "**Error codes** (`error.code`, also in `x-error-codes`):\n\n"
            + _table(error_rows, ("code", "meaning")),
            "**Close codes** (also in `x-close-codes`):\n\n" + _table(close_rows, ("code", "meaning")),
        ]
    )


def build_asyncapi(host: str = "localhost:8000", *, secure: bool = False) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document; ``host`` and ``secure`` describe the server clients reach
    (the HTTP request's host and scheme when served by the view)."""
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    channel_ref = {"$ref": f"#/channels/{CHANNEL}"}

    def channel_message(key: str) -> dict[str, str]:
        return {"$ref": f"#/channels/{CHANNEL}/messages/{key}"}

    client_notes = _client_notes()
    for frame_type, model in protocol.CLIENT_FRAMES.items():
        key = f"client_{frame_type}"
        messages[key] = _message(
            frame_type, model, "client", CLIENT_EXAMPLES[frame_type], client_notes.get(frame_type), schemas
        )
        answer = "server_pong" if frame_type == "ping" else "server_ack"
        operations[f"receive_{frame_type}"] = {
            "action": "receive",
            "channel": channel_ref,
            "title": f"Receive {frame_type}",
            "summary": messages[key]["summary"],
            "messages": [channel_message(key)],
            "reply": {
                "channel": channel_ref,
                "messages": [channel_message(answer), channel_message("server_error")],
            },
        }
    server_notes = _server_notes()
    for frame_type, model in server_frames.SERVER_FRAMES.items():
        key = f"server_{frame_type}"
        messages[key] = _message(
            frame_type,
            model,
            "server",
            server_frames.SERVER_EXAMPLES[frame_type],
            server_notes.get(frame_type),
            schemas,
        )
        operations[f"send_{frame_type}"] = {
            "action": "send",
            "channel": channel_ref,
            "title": f"Send {frame_type}",
            "summary": messages[key]["summary"],
            "messages": [channel_message(key)],
        }

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Telehealth consultation room",
            "version": settings.APP_VERSION,
            "description": _description(),
            "tags": list(TAGS.values()),
        },
        "defaultContentType": "application/json",
        "servers": {
            SERVER: {
                "host": host,
                "protocol": "wss" if secure else "ws",
                "title": "This server",
                "description": "The websocket endpoint of the server that served this document.",
                "security": [
                    {"$ref": "#/components/securitySchemes/subprotocolToken"},
                    {"$ref": "#/components/securitySchemes/queryToken"},
                ],
            }
        },
        "channels": {
            CHANNEL: {
                "address": ADDRESS,
                "title": "Consultation room",
                "summary": "One websocket per participant socket of a consultation.",
                "description": (
                    "After the handshake the server sends `room_state`, `ice_servers` and"
                    " `participants`, then `waiting` to a patient who arrives before the doctor"
                    " admitted them (or `patient_waiting` frames to a doctor). The socket closes"
                    " with one of `x-close-codes`."
                ),
                "servers": [{"$ref": f"#/servers/{SERVER}"}],
                "parameters": {
                    "consultationId": {
                        "description": "The consultation's UUID; anything else closes with 4404.",
                        "examples": ["3f6c9a2e-8b1d-4e7f-a5c3-9d2e1f0b8a76"],
                    }
                },
                "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in messages},
                "bindings": {
                    "ws": {
                        "method": "GET",
                        "query": {
                            "type": "object",
                            "properties": {
                                "token": {
                                    "type": "string",
                                    "description": "Access JWT, when the subprotocol cannot be used.",
                                },
                                "last_seq": {
                                    "type": "integer",
                                    "minimum": 0,
                                    "description": (
                                        "Resume: replay the sequenced frames after this seq before"
                                        " anything live (values that are not digits are ignored)."
                                    ),
                                },
                            },
                        },
                        "headers": {
                            "type": "object",
                            "properties": {
                                "Sec-WebSocket-Protocol": {
                                    "type": "string",
                                    "description": f"`{SUBPROTOCOL}, {BEARER_PREFIX}<access JWT>`",
                                },
                                "Origin": {
                                    "type": "string",
                                    "description": "Sent by browsers; must be an allowed origin.",
                                },
                            },
                        },
                        "bindingVersion": "0.1.0",
                    }
                },
            }
        },
        "operations": operations,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "messages": messages,
            "securitySchemes": {
                "subprotocolToken": {
                    "type": "httpApiKey",
                    "in": "header",
                    "name": "Sec-WebSocket-Protocol",
                    "description": (
                        f"Preferred. Offer two subprotocols: `{SUBPROTOCOL}` and"
                        f" `{BEARER_PREFIX}<access JWT>` (the access token from /api/auth/verify-otp/;"
                        " browsers: `new WebSocket(url, ['telehealth.v1', 'bearer.' + token])`). The"
                        f" server accepts `{SUBPROTOCOL}` and never echoes the token, which stays out"
                        " of URLs and access logs. A missing, invalid, expired or revoked token closes"
                        " the socket with 4401."
                    ),
                },
                "queryToken": {
                    "type": "httpApiKey",
                    "in": "query",
                    "name": "token",
                    "description": (
                        "Fallback for clients that cannot set subprotocols: `?token=<access JWT>`."
                        " The URL, token included, ends up in proxy and access logs: prefer the"
                        " subprotocol."
                    ),
                },
            },
        },
        "x-subprotocol": SUBPROTOCOL,
        "x-close-codes": {str(code): text for code, text in protocol.CLOSE_CODES.items()},
        "x-error-codes": {code: ERROR_CODE_DESCRIPTIONS[code] for code in protocol.ERROR_CODES},
        "x-limits": _limits(),
        "x-sequenced-types": sorted(server_frames.SEQUENCED_TYPES),
    }
