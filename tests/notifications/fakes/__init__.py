"""Loopback stand-ins for the push providers (FCM, APNs over HTTP/2, a Web Push service).

Each records what it was sent (``tests.fakes.RecordedRequest``) and answers like the real service,
including its error bodies; ``fail_next`` queues failures for the next requests.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol


class HandlesHTTP(Protocol):
    def handle(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, bytes, dict[str, str]]: ...


def http_handler(fake: HandlesHTTP) -> type[BaseHTTPRequestHandler]:
    """An HTTP/1.1 handler that hands every request to ``fake.handle`` (for ``tests.fakes.serving``)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload, extra = fake.handle(self.command, self.path, headers, raw)
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **extra}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler
