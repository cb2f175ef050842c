"""Helpers views use to answer with a message next to the data."""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response


def ok(data: Any = None, *, message: str | None = None, status: int = 200, headers=None) -> Response:
    """A success response; the renderer wraps ``data`` and ``message`` in the envelope."""
    response = Response(data, status=status, headers=headers)
    response.envelope_message = message
    return response
