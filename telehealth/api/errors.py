"""Domain errors: services raise these, the one exception handler turns them into the envelope."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A refusal a client can act on. ``code`` is one of ``error_codes``."""

    status_code = 400

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or self.status_code
        self.details = details or {}
        self.headers = headers or {}
