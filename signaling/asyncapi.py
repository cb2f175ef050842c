"""The platform's two websockets as one AsyncAPI 3.0.0 document, generated from the frame models:
the consultation room (``/ws/consultations/{id}/``) and the notifications socket
(``/ws/notifications/``).

Room client frames come from ``protocol.CLIENT_FRAMES``, room server frames from
``server_frames.SERVER_FRAMES``; the notifications socket's from ``notification_protocol.CLIENT_FRAMES``
and ``notification_frames.NOTIFICATION_SERVER_FRAMES``. Their pydantic JSON schemas become the
message payloads, with the nested definitions hoisted into ``components.schemas``. Each socket is a
channel with its own messages and operations (the notifications socket's keys start with
``notify_``). The document describes the *server* application, so (AsyncAPI 3 semantics) frames a
client sends are ``action: receive`` operations and frames the server sends are ``action: send``
operations. Served at ``GET /api/asyncapi/``.
"""

from __future__ import annotations

import inspect
from typing import Any

from django.conf import settings
from pydantic import BaseModel

from signaling import notification_frames, notification_protocol, protocol, server_frames
from signaling.auth import BEARER_PREFIX, SUBPROTOCOL
from signaling.protocol import ClientFrame

ASYNCAPI_VERSION = "3.0.0"
CHANNEL = "consultationRoom"
ADDRESS = "/ws/consultations/{consultationId}/"
NOTIFY_CHANNEL = "notifications"
NOTIFY_ADDRESS = "/ws/notifications/"
NOTIFY_PREFIX = "notify_"  # message and operation keys of the notifications channel
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
    "notifications": {"name": "notifications", "description": "Notifications socket: your notifications."},
    "doctor_status": {
        "name": "doctor_status",
        "description": "Notifications socket: following doctors' online / busy / offline status.",
    },
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
    # Notifications socket (ping, pong, resume, ack and error are control there too).
    "connected": "control",
    "notification": "notifications",
    "mark_read": "notifications",
    "doctor_status": "doctor_status",
    "subscribe_doctor_status": "doctor_status",
    "unsubscribe_doctor_status": "doctor_status",
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


_DOCTOR = "8a7e2d44-1b9c-4f3e-8d2a-6c5b4a3f2e10"
# Notifications socket client frames as apps send them (the tests parse each).
NOTIFICATION_CLIENT_EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "ping": [{"type": "ping", "id": "hb-3"}],
    "resume": [{"type": "resume", "id": "r-1", "last_id": 1039}, {"type": "resume", "last_id": 0}],
    "mark_read": [{"type": "mark_read", "id": "m-1", "ids": [1040, 1041]}],
    "subscribe_doctor_status": [{"type": "subscribe_doctor_status", "id": "s-1", "doctor_id": _DOCTOR}],
    "unsubscribe_doctor_status": [{"type": "unsubscribe_doctor_status", "id": "u-1", "doctor_id": _DOCTOR}],
}
# What closes a notifications socket (a subset of ``protocol.CLOSE_CODES``, worded for it).
NOTIFICATION_CLOSE_CODES: dict[int, str] = {
    protocol.CLOSE_NORMAL: "Closed normally (by the client).",
    protocol.CLOSE_TOO_BIG: "A frame far beyond the size limit (abuse).",
    protocol.CLOSE_UNAUTHENTICATED: (
        "Missing, invalid, expired or revoked token, or the account was signed out or deactivated."
    ),
    protocol.CLOSE_IDLE: "No frame, not even a ping, within the idle timeout.",
    protocol.CLOSE_RATE_ABUSE: "Frames far beyond the rate limit (abuse).",
    protocol.CLOSE_UNAVAILABLE: protocol.CLOSE_CODES[protocol.CLOSE_UNAVAILABLE],
}


def _notification_client_notes() -> dict[str, str]:
    return {
        "ping": "Answered with `pong` (not `ack`). Any frame resets the idle timer; ping when idle.",
        "resume": (
            "Replays your notifications with an id above `last_id`, oldest first, skipping those"
            " this connection already delivered, then acks with `replayed` and `latest_id`."
        ),
        "mark_read": (
            f"At most {notification_protocol.MAX_MARK_READ} ids. Ids that are not yours, or already"
            " read, are ignored; the ack says how many were `marked` and your `unread` count."
        ),
        "subscribe_doctor_status": (
            f"At most {notification_protocol.MAX_STATUS_SUBSCRIPTIONS} doctors per socket"
            " (VALIDATION_ERROR beyond). NOT_FOUND for an unknown doctor or one you may not see"
            " (e.g. unverified). The ack is followed by the current `doctor_status`, then one per"
            " change."
        ),
        "unsubscribe_doctor_status": "Always acked, also for a doctor you did not follow.",
    }


def _notification_server_notes() -> dict[str, str]:
    kinds = [
        (kind, f"{doc.when} To: {doc.recipients}. `data`: {_fields(doc.data)}.")
        for kind, doc in notification_frames.NOTIFICATION_KINDS.items()
    ]
    return {
        "notification": "Kinds (also in `x-notification-kinds`):\n\n" + _table(kinds, ("kind", "sent")),
        "doctor_status": "Live only: not replayed. Subscribe again after a reconnect.",
    }


def _fields(model: type[BaseModel]) -> str:
    return ", ".join(f"`{name}`" for name in model.model_fields)


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
    *,
    socket: str = "",
) -> dict[str, Any]:
    """``socket`` names the socket in the title when it is not the consultation room."""
    summary, description = _docstring(model)
    arrow = "client → server" if direction == "client" else "server → client"
    tag = FRAME_TAGS.get(frame_type)
    message: dict[str, Any] = {
        "name": frame_type,
        "title": f"{frame_type} ({socket}, {arrow})" if socket else f"{frame_type} ({arrow})",
        "summary": summary,
        "description": f"{description}\n\n{note}" if note else description,
        "contentType": "application/json",
        "payload": _payload(model, schemas),
        "examples": [
            {
                "name": f"{frame_type}_{n}",
                "summary": _example_summary(frame_type, example),
                "payload": example,
            }
            for n, example in enumerate(examples, 1)
        ],
    }
    if tag:
        message["tags"] = [TAGS[tag]]
    return message


def _example_summary(frame_type: str, example: dict[str, Any]) -> str:
    if frame_type == "notification":
        return f"A {example['notification']['kind']} notification."
    return f"A {frame_type} frame."


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
    notify_close_rows = list(NOTIFICATION_CLOSE_CODES.items())
    error_rows = [(code, ERROR_CODE_DESCRIPTIONS[code]) for code in protocol.ERROR_CODES]
    return "\n\n".join(
        [
            "The platform's two websockets, both served by this server with the same handshake,"
            " frame envelope, error codes and limits. The full protocol guide is"
            " `signaling/PROTOCOL.md`.",
            f"* **Consultation room** (channel `{CHANNEL}`, `{ADDRESS}`): WebRTC signaling, chat,"
            " presence, the waiting room and live vital signs between a consultation's patient and"
            " doctor.\n"
            f"* **Notifications** (channel `{NOTIFY_CHANNEL}`, `{NOTIFY_ADDRESS}`): one socket per app"
            " instance of a signed-in user; their own notifications (stored first, replayed on"
            " resume) and the status of the doctors they follow.",
            "**Direction.** This document describes the *server* application, following AsyncAPI 3"
            " semantics: an operation with `action: receive` is a frame the server receives, i.e."
            " one a *client sends*; `action: send` is a frame the server sends to clients. Frame"
            " types that exist in both directions (`chat_message`, `vitals` and the relayed"
            " frames) have two messages, `client_<type>` and `server_<type>`. The notifications"
            f" socket's messages and operations are prefixed `{NOTIFY_PREFIX}` (`notify_client_ping`,"
            " `notify_receive_resume`, `notify_send_notification`, ...).",
            f"**Connecting.** Open `{ADDRESS}` or `{NOTIFY_ADDRESS}` offering the subprotocols"
            f" `{SUBPROTOCOL}` and `{BEARER_PREFIX}<access JWT>` (preferred: the server selects"
            f" `{SUBPROTOCOL}` and never echoes the token), or pass `?token=<access JWT>` (the query"
            " string ends up in access logs). Browsers must offer `telehealth.v1` too. Browser"
            " handshakes must come from an allowed Origin (HTTP 403 otherwise). A missing or bad"
            " token closes with 4401. Room: add `?last_seq=N` to resume atomically on reconnect;"
            " only the consultation's patient and doctor may join; everyone else, admins included,"
            " is closed with 4403. Notifications: any signed-in user; add `?last_id=N` to get the"
            " notifications after id N before anything live. Open sockets close when access ends:"
            " 4401 on every socket of a user who logs out (on any device) or is deactivated (sign"
            " in again), 4403 on the room sockets of a doctor whose verification was revoked.",
            "**Frames.** Text frames holding one JSON object with a `type`. Each client frame may"
            " carry an `id` (required for `chat_message`), echoed in its answer: `pong` for `ping`,"
            " `ack` (with `for` = the client frame's type) for the rest, or `error`. Room:"
            " sequenced frames (`chat_message`, `state`, `alert`) carry `seq` and reach every"
            " joined socket in order, without gaps or duplicates; they are replayed on resume."
            " Notifications: ids increase per user; a replay sends those above your `last_id`,"
            " oldest first, and a connection never gets one id twice.",
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
            "**Close codes** of the room (also in `x-close-codes`):\n\n"
            + _table(close_rows, ("code", "meaning")),
            "**Close codes** of the notifications socket (also in the channel's `x-close-codes`):\n\n"
            + _table(notify_close_rows, ("code", "meaning")),
        ]
    )


def _add_socket(
    *,
    channel: str,
    prefix: str,
    socket: str,
    client_frames: dict[str, type[ClientFrame]],
    client_examples: dict[str, list[dict[str, Any]]],
    client_notes: dict[str, str],
    server_models: dict[str, type[BaseModel]],
    server_examples: dict[str, list[dict[str, Any]]],
    server_notes: dict[str, str],
    messages: dict[str, Any],
    operations: dict[str, Any],
    schemas: dict[str, Any],
) -> list[str]:
    """Add one socket's messages and operations (keys ``<prefix>client_<type>``,
    ``<prefix>receive_<type>``, ...); returns its message keys, for its channel."""
    channel_ref = {"$ref": f"#/channels/{channel}"}
    keys: list[str] = []

    def channel_message(key: str) -> dict[str, str]:
        return {"$ref": f"#/channels/{channel}/messages/{key}"}

    for frame_type, model in client_frames.items():
        key = f"{prefix}client_{frame_type}"
        keys.append(key)
        messages[key] = _message(
            frame_type,
            model,
            "client",
            client_examples[frame_type],
            client_notes.get(frame_type),
            schemas,
            socket=socket,
        )
        answer = f"{prefix}server_pong" if frame_type == "ping" else f"{prefix}server_ack"
        operations[f"{prefix}receive_{frame_type}"] = {
            "action": "receive",
            "channel": channel_ref,
            "title": f"Receive {frame_type}" + (f" ({socket})" if socket else ""),
            "summary": messages[key]["summary"],
            "messages": [channel_message(key)],
            "reply": {
                "channel": channel_ref,
                "messages": [channel_message(answer), channel_message(f"{prefix}server_error")],
            },
        }
    for frame_type, model in server_models.items():
        key = f"{prefix}server_{frame_type}"
        keys.append(key)
        messages[key] = _message(
            frame_type,
            model,
            "server",
            server_examples[frame_type],
            server_notes.get(frame_type),
            schemas,
            socket=socket,
        )
        operations[f"{prefix}send_{frame_type}"] = {
            "action": "send",
            "channel": channel_ref,
            "title": f"Send {frame_type}" + (f" ({socket})" if socket else ""),
            "summary": messages[key]["summary"],
            "messages": [channel_message(key)],
        }
    return keys


def _headers_binding() -> dict[str, Any]:
    return {
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
    }


_TOKEN_QUERY = {"type": "string", "description": "Access JWT, when the subprotocol cannot be used."}


def _notification_kinds() -> dict[str, Any]:
    """``x-notification-kinds``: per kind, who gets it, when, and the schema of its ``data``."""
    return {
        kind: {
            "recipients": doc.recipients,
            "when": doc.when,
            "data": {"$ref": REF.format(model=doc.data.__name__)},
        }
        for kind, doc in notification_frames.NOTIFICATION_KINDS.items()
    }


def build_asyncapi(host: str = "localhost:8000", *, secure: bool = False) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document; ``host`` and ``secure`` describe the server clients reach
    (the HTTP request's host and scheme when served by the view)."""
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    room_keys = _add_socket(
        channel=CHANNEL,
        prefix="",
        socket="",
        client_frames=protocol.CLIENT_FRAMES,
        client_examples=CLIENT_EXAMPLES,
        client_notes=_client_notes(),
        server_models=server_frames.SERVER_FRAMES,
        server_examples=server_frames.SERVER_EXAMPLES,
        server_notes=_server_notes(),
        messages=messages,
        operations=operations,
        schemas=schemas,
    )
    notify_keys = _add_socket(
        channel=NOTIFY_CHANNEL,
        prefix=NOTIFY_PREFIX,
        socket="notifications",
        client_frames=notification_protocol.CLIENT_FRAMES,
        client_examples=NOTIFICATION_CLIENT_EXAMPLES,
        client_notes=_notification_client_notes(),
        server_models=notification_frames.NOTIFICATION_SERVER_FRAMES,
        server_examples=notification_frames.NOTIFICATION_SERVER_EXAMPLES,
        server_notes=_notification_server_notes(),
        messages=messages,
        operations=operations,
        schemas=schemas,
    )

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Telehealth realtime: consultation room and notifications",
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
                "description": "The websocket endpoints of the server that served this document.",
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
                "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in room_keys},
                "bindings": {
                    "ws": {
                        "method": "GET",
                        "query": {
                            "type": "object",
                            "properties": {
                                "token": _TOKEN_QUERY,
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
                        "headers": _headers_binding(),
                        "bindingVersion": "0.1.0",
                    }
                },
            },
            NOTIFY_CHANNEL: {
                "address": NOTIFY_ADDRESS,
                "title": "Notifications",
                "summary": "One websocket per app instance of a signed-in user (any role).",
                "description": (
                    "After the handshake the server sends `connected` (your unread count and latest"
                    " notification id), then, with `?last_id=`, the notifications you missed, oldest"
                    " first, then live `notification` frames. You get your own notifications only,"
                    " on every socket you have open; with none open, they go to your registered"
                    " devices as push notifications instead. `subscribe_doctor_status` adds"
                    " `doctor_status` frames for a doctor. The socket closes with one of"
                    " `x-close-codes`; payloads never carry clinical content."
                ),
                "servers": [{"$ref": f"#/servers/{SERVER}"}],
                "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in notify_keys},
                "bindings": {
                    "ws": {
                        "method": "GET",
                        "query": {
                            "type": "object",
                            "properties": {
                                "token": _TOKEN_QUERY,
                                "last_id": {
                                    "type": "integer",
                                    "minimum": 0,
                                    "description": (
                                        "Resume: send your notifications with an id above this one,"
                                        " oldest first, before anything live (0: all of them). A"
                                        " value that is not a whole number gets a VALIDATION_ERROR"
                                        " `error` frame and the socket starts live."
                                    ),
                                },
                            },
                        },
                        "headers": _headers_binding(),
                        "bindingVersion": "0.1.0",
                    }
                },
                "x-close-codes": {str(code): text for code, text in NOTIFICATION_CLOSE_CODES.items()},
                "x-notification-kinds": _notification_kinds(),
            },
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
