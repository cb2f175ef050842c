"""Assertions shared by the API tests: the envelope, in one place."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

_TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def assert_utc_timestamp(value: Any) -> datetime:
    """``value`` is ISO-8601 in UTC with a ``Z`` suffix and close to now."""
    assert isinstance(value, str)
    assert _TIMESTAMP_RE.match(value), value
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=1)
    return moment


def success_data(response, status: int = 200) -> Any:
    """Check a success envelope and return its ``data``."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"success", "data", "message", "timestamp"}
    assert body["success"] is True
    assert body["message"] is None or isinstance(body["message"], str)
    assert_utc_timestamp(body["timestamp"])
    return body["data"]


def error_of(response, status: int, code: str) -> dict[str, Any]:
    """Check an error envelope with ``status`` and ``code``; return its ``error`` object."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"success", "error", "timestamp"}
    assert body["success"] is False
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["details"], dict)
    assert_utc_timestamp(body["timestamp"])
    return error
