"""Server frames built from stored rows. Live fan-out and resume replay use the same builders, so a
replayed frame is identical to the live one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from clinical.models import ChatMessage, ConsultationEvent, EventKind, VitalSign


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso(datetime.now(UTC))


def chat_frame(message: ChatMessage) -> dict[str, Any]:
    return {
        "type": "chat_message",
        "seq": message.seq,
        "server_id": message.pk,
        "id": message.client_id,
        "sender": {"user_id": str(message.sender_id), "role": message.sender_role},
        "text": message.text,
        "attachment_id": str(message.attachment_id) if message.attachment_id else None,
        "ts": iso(message.created_at),
    }


def event_frame(event: ConsultationEvent, roles: dict[str, str]) -> dict[str, Any]:
    """``roles`` maps the consultation's user ids to patient/doctor."""
    actor = str(event.actor_id) if event.actor_id else None
    by = {"user_id": actor, "role": roles.get(actor)} if actor else None
    if event.kind == EventKind.STATE:
        return {
            "type": "state",
            "seq": event.seq,
            "server_id": event.pk,
            "state": event.payload["to"],
            "previous": event.payload["from"],
            "by": by,
            "ts": iso(event.created_at),
        }
    return {
        "type": "alert",
        "seq": event.seq,
        "server_id": event.pk,
        "reading": {
            **{key: event.payload[key] for key in ("kind", "unit", "value", "value2")},
            "measured_at": iso(datetime.fromisoformat(event.payload["measured_at"])),
        },
        "normal_range": event.payload["normal_range"],
        "by": by,
        "ts": iso(event.created_at),
    }


def log_frame(row: ChatMessage | ConsultationEvent, roles: dict[str, str]) -> dict[str, Any]:
    return chat_frame(row) if isinstance(row, ChatMessage) else event_frame(row, roles)


def vitals_frame(rows: list[VitalSign], sender: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "vitals",
        "sender": sender,
        "readings": [
            {
                "server_id": row.pk,
                "kind": row.kind,
                "unit": row.unit,
                "value": float(row.value),
                "value2": float(row.value2) if row.value2 is not None else None,
                "measured_at": iso(row.measured_at),
                "abnormal": row.is_abnormal,
            }
            for row in rows
        ],
        "ts": now_iso(),
    }


def presence_frame(kind: str, user: dict[str, Any], status: str, reason: str | None = None) -> dict[str, Any]:
    """``join`` or ``leave`` (with ``reason``: "left" or "timeout") for ``user`` {user_id, role, name}."""
    frame = {"type": kind, "user": user, "status": status, "ts": now_iso()}
    if kind == "leave":
        frame["reason"] = reason or "left"
    return frame


def error_frame(code: str, message: str, details: dict | None = None, frame_id: str | None = None) -> dict:
    return {"type": "error", "id": frame_id, "code": code, "message": message, "details": details or {}}


def ack_frame(frame_id: str | None, for_type: str, **extra: Any) -> dict[str, Any]:
    return {"type": "ack", "id": frame_id, "for": for_type, **extra}
