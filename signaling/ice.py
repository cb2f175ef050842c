"""ICE servers for a participant: STUN as configured, TURN with time-limited credentials in the
TURN REST scheme that coturn's ``use-auth-secret`` checks: username ``<expiry>:<user id>``,
password ``base64(HMAC-SHA1(secret, username))``."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from signaling.frames import iso

# Even a call running over its slot gets credentials that last this long.
MIN_TTL_SECONDS = 300


def turn_credentials(user_id: str, expires_at: datetime) -> tuple[str, str]:
    username = f"{int(expires_at.timestamp())}:{user_id}"
    digest = hmac.new(settings.TURN_SECRET.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers_for(user_id: str, slot_end: datetime, now: datetime) -> dict[str, Any]:
    """The ``ice_servers`` frame. TURN credentials expire with the slot (plus the late-join grace),
    and never later than ``TURN_TTL_SECONDS`` from now."""
    servers: list[dict[str, Any]] = []
    if settings.STUN_URLS:
        servers.append({"urls": list(settings.STUN_URLS)})
    expires_at = None
    if settings.TURN_URLS:
        slot_limit = slot_end + timedelta(minutes=settings.ROOM_JOIN_LATE_MINUTES)
        expires_at = min(now + timedelta(seconds=settings.TURN_TTL_SECONDS), slot_limit)
        expires_at = max(expires_at, now + timedelta(seconds=MIN_TTL_SECONDS))
        username, credential = turn_credentials(user_id, expires_at)
        servers.append({"urls": list(settings.TURN_URLS), "username": username, "credential": credential})
    return {
        "type": "ice_servers",
        "ice_servers": servers,
        "expires_at": iso(expires_at) if expires_at else None,
    }
