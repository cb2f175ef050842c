"""Fake third-party services on loopback, for tests that must not reach the internet.

``FakeSMSProvider`` stands in for the HTTP SMS provider; later providers (payments, push) follow
the same pattern: a real HTTP server on 127.0.0.1 that records what it was sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, or the raw text when it is not JSON
    status: int  # what the fake answered
    at: float  # time.monotonic()


@dataclass
class FakeSMSProvider:
    """Loopback HTTP server standing in for the SMS provider. Answers 500 to the first
    ``fail_first`` requests, 200 afterwards, and records every request."""

    fail_first: int = 0
    requests: list[RecordedRequest] = field(default_factory=list)
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/sms"

    @property
    def delivered(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.status < 300]

    def record(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> int:
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", errors="replace")
        with self._lock:
            status = 500 if len(self.requests) < self.fail_first else 200
            self.requests.append(RecordedRequest(method, path, headers, body, status, time.monotonic()))
        return status

    def wait_for_delivered(self, count: int = 1, timeout: float = 15.0) -> list[RecordedRequest]:
        deadline = time.monotonic() + timeout
        while len(self.delivered) < count:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"fake SMS provider got {len(self.delivered)} delivered message(s), expected {count} "
                    f"within {timeout}s; all requests: {self.requests}",
                    pytrace=False,
                )
            time.sleep(0.05)
        return self.delivered


def _handler_for(provider: FakeSMSProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status = provider.record(self.command, self.path, headers, raw)
            payload = json.dumps({"ok": status < 300}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_POST = do_GET = do_PUT = _handle

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    return Handler


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], name: str) -> Iterator[int]:
    """Serve ``handler`` on 127.0.0.1 (a free port, yielded) in a background thread until exit.
    Every fake provider (SMS, payment gateways) runs this way."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    # A short poll interval so shutdown() at teardown returns in milliseconds, not half a second.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, name=name, daemon=True
    )
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def running_sms_provider() -> Iterator[FakeSMSProvider]:
    """A started fake SMS provider, stopped on exit."""
    provider = FakeSMSProvider()
    with serving(_handler_for(provider), "fake-sms-provider") as port:
        provider.port = port
        yield provider
