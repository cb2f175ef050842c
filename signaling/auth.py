"""Websocket handshake checks: the Origin policy and the JWT.

A browser offers two subprotocols, ``telehealth.v1`` and ``bearer.<access token>``; the server
accepts ``telehealth.v1`` (it never echoes the token). Simple clients may use ``?token=`` instead,
at the price of the token showing up in proxy logs. Both are documented in PROTOCOL.md.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.http.request import validate_host

from telehealth.accounts.services import verified_access_token

SUBPROTOCOL = "telehealth.v1"
BEARER_PREFIX = "bearer."


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def token_from_scope(scope) -> str | None:
    for protocol in scope.get("subprotocols") or []:
        if protocol.startswith(BEARER_PREFIX):
            return protocol[len(BEARER_PREFIX) :]
    values = parse_qs(scope.get("query_string", b"").decode("latin1")).get("token")
    return values[0] if values else None


def origin_allowed(origin: str | None) -> bool:
    """Browsers always send Origin: it must be one of ``WS_ALLOWED_ORIGINS`` or a page served by
    this server (its host in ``ALLOWED_HOSTS``). Native apps send none; ``WS_ALLOW_MISSING_ORIGIN``
    decides for them."""
    if not origin:
        return settings.WS_ALLOW_MISSING_ORIGIN
    if origin in settings.WS_ALLOWED_ORIGINS:
        return True
    host = urlsplit(origin).netloc.lower()
    return bool(host) and validate_host(host, settings.ALLOWED_HOSTS)


class WebsocketAuthMiddleware:
    """Refuses cross-site handshakes (HTTP 403) and puts the access token, verified (signature,
    type, expiry) or None, in ``scope["token"]``. No database access here: the consumer looks the
    user up (``FrameSocket.accept_user``), the room socket together with its room access, in one
    trip to the database; a missing or revoked user closes with 4401."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket":
            return await self.app(scope, receive, send)
        if not origin_allowed(_header(scope, b"origin")):
            await receive()  # the connect event
            await send({"type": "websocket.close", "code": 4403})
            return None
        raw = token_from_scope(scope)
        token = verified_access_token(raw) if raw else None
        return await self.app(dict(scope, token=token), receive, send)
