"""The room protocol: every frame a client may send, as a pydantic model (which validates it and
documents it in the AsyncAPI document), and every frame the server sends.

Client frames: ``{"type": ..., "id": <client message id>, ...}``. The server answers each one with
an ``ack`` (echoing ``id``) or an ``error`` frame carrying one of ``ERROR_CODES``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from django.conf import settings
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from clinical.models import VitalKind
from clinical.vitals import validate_reading

# --- Error codes (in ``error`` frames) ------------------------------------------------------------

INVALID_JSON = "INVALID_JSON"
UNKNOWN_TYPE = "UNKNOWN_TYPE"
VALIDATION_ERROR = "VALIDATION_ERROR"
RATE_LIMITED = "RATE_LIMITED"
FORBIDDEN = "FORBIDDEN"
TOO_LARGE = "TOO_LARGE"
INVALID_STATE = "INVALID_STATE"
NOT_FOUND = "NOT_FOUND"
SERVER_ERROR = "SERVER_ERROR"
ERROR_CODES = [
    INVALID_JSON,
    UNKNOWN_TYPE,
    VALIDATION_ERROR,
    RATE_LIMITED,
    FORBIDDEN,
    TOO_LARGE,
    INVALID_STATE,
    NOT_FOUND,
    SERVER_ERROR,
]

# --- Close codes ----------------------------------------------------------------------------------

CLOSE_NORMAL = 1000  # the consultation ended, or the client left
CLOSE_TOO_BIG = 1009  # a frame far beyond the size limit
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_IDLE = 4408  # no frame (not even a ping) within the idle timeout
CLOSE_NOT_JOINABLE = 4409
CLOSE_RATE_ABUSE = 4429
CLOSE_UNAVAILABLE = 4503  # the server lost Redis: reconnect and resume
CLOSE_CODES = {
    CLOSE_NORMAL: "The consultation ended, or the socket was closed normally.",
    CLOSE_TOO_BIG: "A frame far beyond the size limit (abuse).",
    CLOSE_UNAUTHENTICATED: (
        "Missing, invalid, expired or revoked token, or the account was signed out or deactivated:"
        " sign in again."
    ),
    CLOSE_FORBIDDEN: (
        "You are not a participant of this consultation, or (on an open socket) you are a doctor"
        " whose verification was revoked."
    ),
    CLOSE_NOT_FOUND: "No such consultation.",
    CLOSE_IDLE: "No frame, not even a ping, within the idle timeout.",
    CLOSE_NOT_JOINABLE: "The consultation is over, or it is outside its time window.",
    CLOSE_RATE_ABUSE: "Frames far beyond the rate limit (abuse).",
    CLOSE_UNAVAILABLE: "The server lost its connection to Redis: reconnect with backoff and resume.",
}

_CLIENT_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
_CLIENT_ID_RE = re.compile(_CLIENT_ID_PATTERN)
_CLIENT_ID = Annotated[str, Field(min_length=1, max_length=64, pattern=_CLIENT_ID_PATTERN)]


class ClientFrame(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)
    id: _CLIENT_ID | None = Field(None, description="Client message id, echoed in the ack or error.")


def _check_sdp(value: str) -> str:
    if len(value.encode()) > settings.SDP_MAX_BYTES:
        raise ValueError(f"SDP is larger than {settings.SDP_MAX_BYTES} bytes")
    lines = value.replace("\r\n", "\n").split("\n")
    if (
        lines[0] != "v=0"
        or not any(line.startswith("o=") for line in lines)
        or not any(line.startswith("m=") for line in lines)
    ):
        raise ValueError("not an SDP session description (needs v=0, o= and m= lines)")
    if any(line and not re.match(r"^[a-z]=", line) for line in lines):
        raise ValueError("SDP lines must look like 'x=...'")
    return value


class PingFrame(ClientFrame):
    """Heartbeat. Send at least every ``heartbeat_seconds``; the server answers ``pong``."""

    type: Literal["ping"]


class ResumeFrame(ClientFrame):
    """After a reconnect: replay everything sequenced after ``last_seq``, then go live."""

    type: Literal["resume"]
    last_seq: int = Field(ge=0)


class AdmitFrame(ClientFrame):
    """Doctor only: let the waiting patient in."""

    type: Literal["admit"]


class EndFrame(ClientFrame):
    """Doctor only: complete the consultation and close everyone's socket."""

    type: Literal["end"]


class _SdpFrame(ClientFrame):
    sdp: str = Field(description="SDP session description, at most SDP_MAX_BYTES.")

    @field_validator("sdp")
    @classmethod
    def _sdp(cls, value: str) -> str:
        return _check_sdp(value)


class OfferFrame(_SdpFrame):
    """WebRTC offer, relayed to the other participant(s)."""

    type: Literal["offer"]


class AnswerFrame(_SdpFrame):
    """WebRTC answer, relayed to the other participant(s)."""

    type: Literal["answer"]


class IceCandidateFrame(ClientFrame):
    """A trickled ICE candidate; an empty ``candidate`` means end of candidates."""

    type: Literal["ice_candidate"]
    candidate: str = Field(max_length=2048)
    sdp_mid: str | None = Field(None, max_length=64)
    sdp_mline_index: int | None = Field(None, ge=0, le=64)

    @field_validator("candidate")
    @classmethod
    def _candidate(cls, value: str) -> str:
        if value and not value.startswith(("candidate:", "a=candidate:")):
            raise ValueError("an ICE candidate line starts with 'candidate:'")
        return value


class IceRestartFrame(ClientFrame):
    """Ask the other side to restart ICE (network changed); an offer with new credentials follows."""

    type: Literal["ice_restart"]
    reason: str | None = Field(None, max_length=200)


class HangupFrame(ClientFrame):
    """Stop the media session (the consultation stays open; only ``end`` completes it)."""

    type: Literal["hangup"]
    reason: str | None = Field(None, max_length=200)


class MediaStateFrame(ClientFrame):
    """Microphone, camera and screen-share state, relayed and kept in presence."""

    type: Literal["media_state"]
    audio: bool
    video: bool
    screen: bool = False


class ChatMessageFrame(ClientFrame):
    """A chat line. ``id`` is required: resending the same id stores one message and acks both."""

    type: Literal["chat_message"]
    id: _CLIENT_ID
    text: str = Field(min_length=1)
    attachment_id: UUID | None = Field(None, description="An uploaded document of this consultation.")

    @field_validator("text")
    @classmethod
    def _text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text must not be blank")
        if len(value) > settings.CHAT_MAX_LENGTH:
            raise ValueError(f"text is longer than {settings.CHAT_MAX_LENGTH} characters")
        return value


class TypingFrame(ClientFrame):
    """Typing indicator, relayed, not stored."""

    type: Literal["typing"]
    typing: bool = True


class ReadFrame(ClientFrame):
    """Read receipt: everything up to ``up_to_seq`` has been seen."""

    type: Literal["read"]
    up_to_seq: int = Field(ge=0)


class VitalReading(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: VitalKind
    unit: str = Field(max_length=16, description="bpm, %, mmHg, C or F, breaths/min, mg/dL or mmol/L")
    value: float = Field(description="The reading; systolic for blood pressure.")
    value2: float | None = Field(None, description="Diastolic, for blood pressure only.")
    measured_at: datetime | None = Field(None, description="When the device measured it; default now.")

    @model_validator(mode="after")
    def _plausible(self) -> VitalReading:
        problems = validate_reading(self.kind, self.unit, self.value, self.value2)
        if problems:
            raise ValueError(" ".join(problems))
        if self.measured_at is not None and self.measured_at.tzinfo is None:
            raise ValueError("measured_at needs a time zone (use UTC, e.g. 2026-01-01T10:00:00Z)")
        return self


class VitalsFrame(ClientFrame):
    """Patient only: readings from the patient's devices; stored, streamed to the doctor,
    and an ``alert`` for each one outside the normal range."""

    type: Literal["vitals"]
    readings: list[VitalReading] = Field(min_length=1, max_length=20)


def frames_by_type(models: list[type[ClientFrame]]) -> dict[str, type[ClientFrame]]:
    """``{"ping": PingFrame, ...}``: each model under the literal of its ``type`` field."""
    return {
        model.model_fields["type"].annotation.__args__[0]: model  # type: ignore[union-attr]
        for model in models
    }


CLIENT_FRAMES: dict[str, type[ClientFrame]] = frames_by_type(
    [
        PingFrame,
        ResumeFrame,
        AdmitFrame,
        EndFrame,
        OfferFrame,
        AnswerFrame,
        IceCandidateFrame,
        IceRestartFrame,
        HangupFrame,
        MediaStateFrame,
        ChatMessageFrame,
        TypingFrame,
        ReadFrame,
        VitalsFrame,
    ]
)


class FrameError(Exception):
    """A client frame that cannot be handled; becomes an ``error`` frame."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None, frame_id=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}
        self.frame_id = frame_id


def parse_frame(data: Any, client_frames: dict[str, type[ClientFrame]] | None = None) -> ClientFrame:
    """Validate a decoded JSON frame into its model (from the room's frames unless
    ``client_frames`` says otherwise), or raise ``FrameError``."""
    known = CLIENT_FRAMES if client_frames is None else client_frames
    if not isinstance(data, dict):
        raise FrameError(INVALID_JSON, "A frame is a JSON object.")
    raw_id = data.get("id")
    # Echo the client's id only when it is a well-formed one.
    frame_id = raw_id if isinstance(raw_id, str) and _CLIENT_ID_RE.match(raw_id) else None
    frame_type = data.get("type")
    model = known.get(frame_type) if isinstance(frame_type, str) else None
    if model is None:
        raise FrameError(
            UNKNOWN_TYPE,
            f"Unknown frame type {frame_type!r}.",
            {"known_types": sorted(known)},
            frame_id,
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise FrameError(
            VALIDATION_ERROR, "The frame is invalid.", validation_details(exc), frame_id
        ) from exc


def validation_details(exc: ValidationError) -> dict[str, list[str]]:
    details: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False, include_context=False, include_input=False):
        field = ".".join(str(part) for part in error["loc"]) or "non_field_errors"
        message = error["msg"].removeprefix("Value error, ")
        details.setdefault(field, []).append(message)
    return details
