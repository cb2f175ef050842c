"""Frames a client may send on the notifications socket (``/ws/notifications/``).

Same envelope and error codes as the room (``protocol``): ``{"type": ..., "id": ...}`` in, an
``ack`` or an ``error`` out for every frame but ``ping``.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from signaling.protocol import ClientFrame, PingFrame, frames_by_type

MAX_MARK_READ = 500
MAX_STATUS_SUBSCRIPTIONS = 50


class NotificationResumeFrame(ClientFrame):
    """After a reconnect: replay every notification with an id above ``last_id``, oldest first,
    then go live. ``last_id`` is the highest notification id the app has seen (0: everything)."""

    type: Literal["resume"]
    last_id: int = Field(ge=0)


class MarkReadFrame(ClientFrame):
    """Mark notifications read. Ids that are not yours are ignored."""

    type: Literal["mark_read"]
    ids: list[int] = Field(min_length=1, max_length=MAX_MARK_READ)


class SubscribeDoctorStatusFrame(ClientFrame):
    """Follow a doctor's online / busy / offline status (e.g. while their profile is on screen).
    The server answers with the current ``doctor_status``, then sends every change."""

    type: Literal["subscribe_doctor_status"]
    doctor_id: UUID = Field(description="The doctor's id, as in /api/doctors/{id}/.")


class UnsubscribeDoctorStatusFrame(ClientFrame):
    """Stop following a doctor's status."""

    type: Literal["unsubscribe_doctor_status"]
    doctor_id: UUID


CLIENT_FRAMES: dict[str, type[ClientFrame]] = frames_by_type(
    [
        PingFrame,
        NotificationResumeFrame,
        MarkReadFrame,
        SubscribeDoctorStatusFrame,
        UnsubscribeDoctorStatusFrame,
    ]
)
