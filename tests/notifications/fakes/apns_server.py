"""A loopback stand-in for APNs: HTTP/2 only, over TLS with a throwaway certificate.

Like Apple's service it negotiates ``h2`` by ALPN (a client that cannot is refused), keeps the
connection open for many requests, checks the provider token (ES256 JWT with ``kid`` and ``iss``,
at most an hour old) and ``apns-topic``, and answers ``POST /3/device/<token>`` with 200 and an
``apns-id`` or Apple's error JSON (``{"reason": ...}``).
"""

from __future__ import annotations

import json
import socketserver
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fakes import RecordedRequest, serving
from tests.notifications.fakes.tls import LoopbackCertificate

KEY_ID = "ABC123DEFG"
TEAM_ID = "DEF123GHIJ"
TOPIC = "com.example.telehealth"


@dataclass
class _Failure:
    status: int
    reason: str
    headers: dict[str, str]


@dataclass
class FakeAPNs:
    certificate: LoopbackCertificate
    key_id: str = KEY_ID
    team_id: str = TEAM_ID
    topic: str = TOPIC
    port: int = 0
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    requests: list[RecordedRequest] = field(default_factory=list)
    unregistered: set[str] = field(default_factory=set)  # 410 Unregistered
    bad_tokens: set[str] = field(default_factory=set)  # 400 BadDeviceToken
    rejected_provider_tokens: set[str] = field(default_factory=set)  # 403 ExpiredProviderToken
    connections: list[str] = field(default_factory=list)  # the ALPN protocol of each TLS connection
    _failures: list[_Failure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def private_key_pem(self) -> str:
        from cryptography.hazmat.primitives import serialization

        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    def fail_next(self, status: int, reason: str, *, times: int = 1, headers=None) -> None:
        with self._lock:
            self._failures.extend([_Failure(status, reason, headers or {})] * times)

    def delivered(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.status == 200]

    # --- the API -----------------------------------------------------------------------------

    def handle(self, headers: dict[str, str], raw: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        method, path = headers.get(":method", ""), headers.get(":path", "")
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        status, reason, extra = self._answer(method, path, headers)
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    method,
                    path,
                    {k: v for k, v in headers.items() if not k.startswith(":")},
                    body,
                    status,
                    time.monotonic(),
                )
            )
        if status == 200:
            return 200, [("apns-id", str(uuid.uuid4()).upper())], b""
        payload: dict[str, Any] = {"reason": reason}
        if status == 410:
            payload["timestamp"] = int(time.time() * 1000)
        return status, [("content-type", "application/json"), *extra.items()], json.dumps(payload).encode()

    def _answer(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, str, dict[str, str]]:
        if method != "POST":
            return 405, "MethodNotAllowed", {}
        if not path.startswith("/3/device/"):
            return 404, "BadPath", {}
        authorization = headers.get("authorization", "")
        if not authorization.startswith("bearer "):
            return 403, "MissingProviderToken", {}
        provider_token = authorization.removeprefix("bearer ")
        try:
            header = jwt.get_unverified_header(provider_token)
            claims = jwt.decode(
                provider_token,
                self.key.public_key(),
                algorithms=["ES256"],
                options={"require": ["iat", "iss"]},
            )
        except jwt.PyJWTError:
            return 403, "InvalidProviderToken", {}
        if header.get("kid") != self.key_id or claims["iss"] != self.team_id:
            return 403, "InvalidProviderToken", {}
        if provider_token in self.rejected_provider_tokens or time.time() - claims["iat"] > 3600:
            return 403, "ExpiredProviderToken", {}
        if headers.get("apns-topic") != self.topic:
            return 400, "BadTopic" if headers.get("apns-topic") else "MissingTopic", {}
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            return failure.status, failure.reason, failure.headers
        device_token = path.removeprefix("/3/device/")
        if device_token in self.unregistered:
            return 410, "Unregistered", {}
        if device_token in self.bad_tokens:
            return 400, "BadDeviceToken", {}
        return 200, "", {}


def _h2_handler(fake: FakeAPNs, context: ssl.SSLContext) -> type[socketserver.BaseRequestHandler]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            try:
                sock = context.wrap_socket(self.request, server_side=True)
            except (ssl.SSLError, OSError):
                return  # e.g. a client that does not trust the certificate
            with fake._lock:
                fake.connections.append(sock.selected_alpn_protocol() or "")
            if sock.selected_alpn_protocol() != "h2":
                sock.close()
                return
            sock.settimeout(30)
            try:
                self._serve(sock)
            finally:
                sock.close()

        def _serve(self, sock: ssl.SSLSocket) -> None:
            conn = h2.connection.H2Connection(
                h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
            )
            conn.initiate_connection()
            sock.sendall(conn.data_to_send())
            streams: dict[int, tuple[dict[str, str], bytearray]] = {}
            while True:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                try:
                    events = conn.receive_data(data)
                except h2.exceptions.ProtocolError:
                    return
                for event in events:
                    if isinstance(event, h2.events.RequestReceived):
                        streams[event.stream_id] = (dict(event.headers), bytearray())
                    elif isinstance(event, h2.events.DataReceived):
                        streams[event.stream_id][1].extend(event.data)
                        conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        headers, body = streams.pop(event.stream_id)
                        status, extra, payload = fake.handle(headers, bytes(body))
                        response_headers = [
                            (":status", str(status)),
                            *extra,
                            ("content-length", str(len(payload))),
                        ]
                        conn.send_headers(event.stream_id, response_headers, end_stream=not payload)
                        if payload:
                            conn.send_data(event.stream_id, payload, end_stream=True)
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        sock.sendall(conn.data_to_send())
                        return
                sock.sendall(conn.data_to_send())

    return Handler


@contextmanager
def running_fake_apns(certificate: LoopbackCertificate) -> Iterator[FakeAPNs]:
    fake = FakeAPNs(certificate)
    context = certificate.server_context(alpn=["h2"])
    with serving(_h2_handler(fake, context), "fake-apns") as port:  # type: ignore[arg-type]
        fake.port = port
        yield fake
