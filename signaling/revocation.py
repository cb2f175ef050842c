"""Closing a user's open websockets when their access ends: they logged out, their account was
deactivated, or (for their room sockets) a doctor's verification was revoked.

The handshake refuses a revoked token, but a socket lives on after its handshake. So every socket
of a user, room and notifications alike, joins that user's ``sockets_group`` once it is set up and
leaves it in its cleanup; ``close_user_sockets`` sends that group a ``socket.revoke`` event, and
``FrameSocket.socket_revoke`` closes the socket with the event's code (after the socket's usual
cleanup: presence, ``leave`` for the others in a room). Through the channel layer, so sockets on
every server process close.

Its own group, not ``telehealth.notifications.services.user_group``: that one carries the
notifications socket's ``notify.*`` events, which room sockets would have to receive and drop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from signaling import protocol

logger = logging.getLogger("telehealth.signaling")

REVOKE_EVENT = "socket.revoke"
# FrameSocket subclasses name their kind in ``socket_kind``.
ROOM_SOCKETS = "room"
NOTIFICATION_SOCKETS = "notifications"
ALL_SOCKETS = frozenset({ROOM_SOCKETS, NOTIFICATION_SOCKETS})

# Signed out or deactivated: the client must sign in again (after trying its refresh token).
CLOSE_SIGNED_OUT = protocol.CLOSE_UNAUTHENTICATED
# A doctor whose verification was revoked: no room for them until an admin verifies them again.
CLOSE_NOT_VERIFIED = protocol.CLOSE_FORBIDDEN


def sockets_group(user_id: Any) -> str:
    """The channel-layer group every open socket of the user is in."""
    return f"sockets.{user_id}"


def revoke_event(code: int, kinds: Iterable[str] = ALL_SOCKETS) -> dict[str, Any]:
    return {"type": REVOKE_EVENT, "code": code, "kinds": sorted(kinds)}


def close_user_sockets(user_id: Any, code: int, *, kinds: Iterable[str] = ALL_SOCKETS) -> None:
    """Close every open socket of the user of the given kinds, on every server process, with
    ``code``. Call after commit (``close_user_sockets_on_commit``) from sync code. A failure is
    logged, not raised: the change that asked for it is already committed, and the handshake
    refuses the user's next connection anyway."""
    try:
        async_to_sync(get_channel_layer().group_send)(sockets_group(user_id), revoke_event(code, kinds))
    except Exception:
        logger.exception("Could not close the websockets of user %s", user_id)
    else:
        logger.info("Closing the %s websockets of user %s with %s", "/".join(sorted(kinds)), user_id, code)


def close_user_sockets_on_commit(user_id: Any, code: int, *, kinds: Iterable[str] = ALL_SOCKETS) -> None:
    """``close_user_sockets`` once the current transaction commits (at once outside one)."""
    kinds = frozenset(kinds)
    transaction.on_commit(lambda: close_user_sockets(user_id, code, kinds=kinds))
