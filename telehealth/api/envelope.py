"""The response envelope, in one place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def utc_timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def success_body(data: Any, message: str | None = None) -> dict[str, Any]:
    return {"success": True, "data": data, "message": message, "timestamp": utc_timestamp()}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {
        "success": False,
        "error": {"code": code, "message": message, "details": details if details is not None else {}},
        "timestamp": utc_timestamp(),
    }


def is_envelope(data: Any) -> bool:
    return isinstance(data, dict) and "success" in data and "timestamp" in data
