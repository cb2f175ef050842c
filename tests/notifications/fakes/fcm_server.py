"""A loopback stand-in for FCM HTTP v1 and Google's OAuth2 token endpoint.

``POST /token`` (the service account's ``token_uri``): the JWT-bearer grant (RFC 7523). The
assertion must be an RS256 JWT signed with the service account's key, issued by its
``client_email`` for Google's token audience, asking for the firebase.messaging scope; the answer
is a fresh access token.

``POST /v1/projects/{project}/messages:send``: needs ``Authorization: Bearer <issued token>``
(401 UNAUTHENTICATED otherwise, as for an expired token) and answers like FCM: the message name,
or the v1 error body (``google.rpc.Status`` with an ``FcmError`` detail).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes import RecordedRequest, serving
from tests.notifications.fakes import http_handler

PROJECT_ID = "telehealth-test"
CLIENT_EMAIL = "push-sender@telehealth-test.iam.gserviceaccount.com"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Google's token endpoint expects this audience in the assertion, whatever URL it is posted to.
TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


def fcm_error(status: int, code: str, message: str, *, error_code: str | None = None, **extra: Any) -> bytes:
    details: list[dict[str, Any]] = [{"@type": _FCM_ERROR, "errorCode": error_code or code}]
    if "field_violation" in extra:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": extra["field_violation"], "description": message}],
            }
        )
    return json.dumps(
        {"error": {"code": status, "message": message, "status": code, "details": details}}
    ).encode()


@dataclass
class _Failure:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass
class FakeFCM:
    project_id: str = PROJECT_ID
    client_email: str = CLIENT_EMAIL
    port: int = 0
    key: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(65537, 2048), repr=False)
    requests: list[RecordedRequest] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    unregistered: set[str] = field(default_factory=set)  # device tokens answered 404 UNREGISTERED
    malformed: set[str] = field(default_factory=set)  # device tokens answered 400 about message.token
    _failures: list[_Failure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1), repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def service_account_info(self) -> dict[str, str]:
        """The service-account JSON Firebase hands out, pointing at this fake's token endpoint."""
        pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": "fake-key-1",
            "private_key": pem,
            "client_email": self.client_email,
            "client_id": "100000000000000000001",
            "token_uri": self.token_uri,
        }

    # --- test controls -----------------------------------------------------------------------

    def fail_next(self, status: int, body: bytes = b"", *, times: int = 1, headers=None) -> None:
        """The next ``times`` message sends answer ``status`` (default body: FCM's for it)."""
        if not body:
            code = {429: "QUOTA_EXCEEDED", 500: "INTERNAL", 503: "UNAVAILABLE"}.get(status, "INTERNAL")
            body = fcm_error(status, code, "fake failure")
        with self._lock:
            self._failures.extend([_Failure(status, body, headers or {})] * times)

    def sends(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/messages:send")]

    def delivered(self) -> list[RecordedRequest]:
        return [r for r in self.sends() if r.status == 200]

    def token_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == "/token"]

    # --- the API -----------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes):
        if method == "POST" and path == "/token":
            form = {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
            status, payload = self._token(form)
            self._record(method, path, headers, form, status)
            return status, json.dumps(payload).encode(), {}
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        status, payload, extra = self._send(method, path, headers, body)
        self._record(method, path, headers, body, status)
        return status, payload, extra

    def _record(self, method: str, path: str, headers: dict[str, str], body: Any, status: int) -> None:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, headers, body, status, time.monotonic()))

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != JWT_BEARER:
            return 400, {"error": "unsupported_grant_type"}
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                self.key.public_key(),
                algorithms=["RS256"],
                audience=TOKEN_AUDIENCE,
                issuer=self.client_email,
                options={"require": ["exp", "iat", "aud", "iss"]},
            )
        except jwt.PyJWTError as exc:
            return 400, {"error": "invalid_grant", "error_description": f"Invalid JWT: {exc}"}
        if SCOPE not in claims.get("scope", "").split():
            return 400, {"error": "invalid_scope"}
        token = f"ya29.fake-access-{next(self._ids)}"
        with self._lock:
            self.issued.append(token)
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

    def _send(self, method: str, path: str, headers: dict[str, str], body: Any):
        if method != "POST" or path != f"/v1/projects/{self.project_id}/messages:send":
            return (
                404,
                fcm_error(
                    404, "NOT_FOUND", "Requested entity was not found.", error_code="UNSPECIFIED_ERROR"
                ),
                {},
            )
        token = headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            authorised = token in self.issued and token not in self.revoked
            failure = self._failures.pop(0) if authorised and self._failures else None
        if not authorised:
            return (
                401,
                fcm_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."),
                {},
            )
        if failure is not None:
            return failure.status, failure.body, failure.headers
        message = body.get("message", {}) if isinstance(body, dict) else {}
        device_token = message.get("token", "")
        if device_token in self.unregistered:
            return (
                404,
                fcm_error(404, "NOT_FOUND", "Requested entity was not found.", error_code="UNREGISTERED"),
                {},
            )
        if device_token in self.malformed or not device_token:
            return (
                400,
                fcm_error(
                    400,
                    "INVALID_ARGUMENT",
                    "The registration token is not a valid FCM registration token",
                    field_violation="message.token",
                ),
                {},
            )
        if not isinstance(message.get("data", {}), dict) or not all(
            isinstance(v, str) for v in message.get("data", {}).values()
        ):
            return 400, fcm_error(400, "INVALID_ARGUMENT", "Invalid value at 'message.data'"), {}
        name = f"projects/{self.project_id}/messages/0:{next(self._ids)}%fake"
        return 200, json.dumps({"name": name}).encode(), {}


@contextmanager
def running_fake_fcm() -> Iterator[FakeFCM]:
    fake = FakeFCM()
    with serving(http_handler(fake), "fake-fcm") as port:
        fake.port = port
        yield fake
