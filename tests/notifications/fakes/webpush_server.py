"""A loopback stand-in for a browser's Web Push service (RFC 8030).

``POST /push/<subscription id>`` with the encrypted body (``Content-Encoding: aes128gcm``), ``TTL``
and a VAPID ``Authorization`` header answers ``201 Created``; a subscription the browser dropped
answers 410 Gone (unknown ids 404). Bodies are recorded raw, so tests can decrypt them.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.fakes import RecordedRequest, serving
from tests.notifications.fakes import http_handler


@dataclass
class FakePushService:
    port: int = 0
    requests: list[RecordedRequest] = field(default_factory=list)  # body: the raw bytes
    subscriptions: set[str] = field(default_factory=set)
    gone: set[str] = field(default_factory=set)
    redirect_to: str = ""  # answer every push with a 307 to here
    _failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def new_endpoint(self) -> str:
        """A subscription endpoint, as the push service would hand one to a browser."""
        subscription = f"sub-{next(self._ids)}"
        with self._lock:
            self.subscriptions.add(subscription)
        return f"{self.url}/push/{subscription}"

    def drop(self, endpoint: str) -> None:
        """The browser unsubscribed: pushes to ``endpoint`` now answer 410 Gone."""
        with self._lock:
            self.gone.add(endpoint.rsplit("/", 1)[-1])

    def fail_next(self, status: int, *, times: int = 1, headers=None) -> None:
        with self._lock:
            self._failures.extend([(status, headers or {})] * times)

    def delivered(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.status == 201]

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes):
        subscription = path.removeprefix("/push/")
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
            if self.redirect_to:
                status, extra = 307, {"Location": self.redirect_to}
            elif failure is not None:
                status, extra = failure
            elif method != "POST" or not path.startswith("/push/"):
                status, extra = 404, {}
            elif subscription in self.gone:
                status, extra = 410, {}
            elif subscription not in self.subscriptions:
                status, extra = 404, {}
            else:
                status, extra = 201, {"Location": f"{self.url}/message/{next(self._ids)}"}
            self.requests.append(RecordedRequest(method, path, headers, raw, status, time.monotonic()))
        return status, b"", {"Content-Type": "text/plain", **extra}


@contextmanager
def running_fake_push_service() -> Iterator[FakePushService]:
    fake = FakePushService()
    with serving(http_handler(fake), "fake-web-push") as port:
        fake.port = port
        yield fake
