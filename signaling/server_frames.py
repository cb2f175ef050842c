"""Every frame the server sends on the consultation room socket, as pydantic models.

Documentation and validation only: the consumer builds its frames as plain dicts (``consumers``,
``frames``, ``ice``) and never touches these models on the hot path. They feed the AsyncAPI document
(``signaling.asyncapi``) and the tests, which validate every frame a real room session produces
with ``validate_server_frame``.

Conventions, matching what the consumer sends today:

* A field typed ``X | None`` without a default is always present and may be ``null``.
* Every object is closed (``additionalProperties: false``): a new field must be documented here.
* Relayed frames (``offer``, ``answer``, ``ice_candidate``, ``ice_restart``, ``hangup``,
  ``media_state``, ``typing``, ``read``) are the sender's client frame without its ``id`` and with
  every field present (defaults filled in), plus ``from``; they are derived from the client models
  in ``protocol`` so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, RootModel, create_model

from clinical.models import ConsultationState, ConsultationType, VitalKind
from signaling import protocol

Role = Literal["patient", "doctor"]
Status = Literal["waiting", "joined"]
Seq = Annotated[int, Field(ge=1, description="Position in the room's sequenced log (1, 2, 3, ...).")]
Timestamp = Annotated[
    AwareDatetime, Field(description="ISO 8601 with a time zone, e.g. 2026-03-02T10:15:00.123Z.")
]
ClientId = Annotated[
    str | None, Field(description="The client's frame id this answers; null when the frame had none.")
]
ErrorCode = Literal[tuple(protocol.ERROR_CODES)]  # type: ignore[valid-type]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerFrame(_Closed):
    """Base of every server frame."""


# --- Nested objects -------------------------------------------------------------------------------


class UserRef(_Closed):
    """A participant: who sent or relayed something."""

    user_id: UUID
    role: Role


class Actor(_Closed):
    """Who caused a logged event. ``role`` is null for someone who is neither the patient nor the
    doctor of the consultation (e.g. staff changing its state through the REST API)."""

    user_id: UUID
    role: Role | None


class NamedUser(_Closed):
    """A participant with the display name (full name, else "Patient"/"Doctor")."""

    user_id: UUID
    role: Role
    name: str


class MediaFlags(_Closed):
    """Microphone, camera and screen-share state."""

    audio: bool
    video: bool
    screen: bool


class Participant(_Closed):
    """One user in the room (several sockets of one user are listed once, joined before waiting)."""

    user_id: UUID
    role: Role
    name: str
    status: Status
    media: MediaFlags


class RoomConsultation(_Closed):
    """The consultation as the room sees it."""

    id: UUID
    state: ConsultationState
    type: ConsultationType
    scheduled_start: Timestamp
    scheduled_end: Timestamp


class RoomYou(_Closed):
    """This socket's user, role and status."""

    user_id: UUID
    role: Role
    status: Status


class StunServer(_Closed):
    """An RTCIceServer without credentials (STUN)."""

    urls: list[str] = Field(min_length=1)


class TurnServer(_Closed):
    """An RTCIceServer with time-limited TURN REST credentials: username ``<expiry>:<user id>``,
    credential ``base64(HMAC-SHA1(secret, username))``."""

    urls: list[str] = Field(min_length=1)
    username: str
    credential: str


class WaitingPatient(_Closed):
    """The patient in the waiting room."""

    user_id: UUID
    name: str


class AlertReading(_Closed):
    """The reading that raised the alert, as the patient's device reported it."""

    kind: VitalKind
    unit: str
    value: float
    value2: float | None
    measured_at: Timestamp


class StoredReading(_Closed):
    """A stored vital-sign reading."""

    server_id: int = Field(description="The reading's id on the server.")
    kind: VitalKind
    unit: str
    value: float
    value2: float | None = Field(description="Diastolic for blood pressure, else null.")
    measured_at: Timestamp
    abnormal: bool = Field(description="Outside the normal range (an ``alert`` follows).")


Bounds = Annotated[list[float], Field(min_length=2, max_length=2, description="[low, high]")]


# --- Connection and presence ----------------------------------------------------------------------


class RoomStateFrame(ServerFrame):
    """First frame after the handshake: the consultation, who you are, the log position and the
    heartbeat timing."""

    type: Literal["room_state"]
    consultation: RoomConsultation
    you: RoomYou
    last_seq: int = Field(ge=0, description="The room's current log position.")
    heartbeat_seconds: int = Field(ge=1, description="Send a ping at least this often.")
    idle_timeout_seconds: int = Field(ge=1, description="Silent sockets are closed (4408) after this.")


class IceServersFrame(ServerFrame):
    """Second frame after the handshake: the ``iceServers`` for ``RTCPeerConnection``. TURN
    credentials expire with the consultation slot (plus the late-join grace), never later than
    TURN_TTL_SECONDS from now; ``expires_at`` is null when no TURN server is configured."""

    type: Literal["ice_servers"]
    ice_servers: list[TurnServer | StunServer]
    expires_at: AwareDatetime | None


class ParticipantsFrame(ServerFrame):
    """Third frame after the handshake: everyone in the room, you included."""

    type: Literal["participants"]
    participants: list[Participant]


class WaitingFrame(ServerFrame):
    """To a patient who arrives before the doctor started the consultation: you are in the waiting
    room until the doctor admits you."""

    type: Literal["waiting"]
    message: str
    ts: Timestamp


class PatientWaitingFrame(ServerFrame):
    """To the doctor: a patient is in the waiting room (live, or on the doctor's arrival)."""

    type: Literal["patient_waiting"]
    patient: WaitingPatient
    ts: Timestamp


class AdmittedFrame(ServerFrame):
    """To the waiting patient: the doctor let you in. The missed sequenced log follows."""

    type: Literal["admitted"]
    ts: Timestamp


class JoinFrame(ServerFrame):
    """To the others: a user joined the room (sent once per user, not per socket)."""

    type: Literal["join"]
    user: NamedUser
    status: Status
    ts: Timestamp


class LeaveFrame(ServerFrame):
    """To the others: a user's last socket left (``reason: "left"``), or a socket of a server
    process that died was pruned after the idle timeout (``reason: "timeout"``)."""

    type: Literal["leave"]
    user: NamedUser
    status: Status = Field(description="The leaver's status when last seen.")
    reason: Literal["left", "timeout"]
    ts: Timestamp


class EndedFrame(ServerFrame):
    """To everyone: the doctor ended the consultation; the socket closes with 1000 right after."""

    type: Literal["ended"]
    by: UserRef = Field(description="Who ended it (the doctor).")
    ts: Timestamp


# --- Answers to client frames ---------------------------------------------------------------------


class PongFrame(ServerFrame):
    """Answer to ``ping``."""

    type: Literal["pong"]
    id: ClientId
    ts: Timestamp


class _Ack(ServerFrame):
    type: Literal["ack"]
    id: ClientId


class RelayAck(_Ack):
    """Ack of a relayed frame: it went to the other participants."""

    for_: Literal["offer", "answer", "ice_candidate", "ice_restart", "hangup", "media_state", "typing"] = (
        Field(alias="for")
    )


class ResumeAck(_Ack):
    """Ack of ``resume``, after the replay."""

    for_: Literal["resume"] = Field(alias="for")
    replayed: int = Field(ge=0, description="How many sequenced frames were replayed.")
    last_seq: int = Field(ge=0, description="The last seq now delivered on this socket.")


class StateChangeAck(_Ack):
    """Ack of ``admit`` or ``end``: the state change's seq (its ``state`` frame follows)."""

    for_: Literal["admit", "end"] = Field(alias="for")
    seq: Seq


class ChatAck(_Ack):
    """Ack of ``chat_message``: where it was stored. A resent id acks the first copy with
    ``duplicate: true``."""

    for_: Literal["chat_message"] = Field(alias="for")
    server_id: int
    seq: Seq
    ts: Timestamp
    duplicate: bool


class ReadAck(_Ack):
    """Ack of ``read``: the stored read position (it never moves backwards, nor past the log)."""

    for_: Literal["read"] = Field(alias="for")
    up_to_seq: int = Field(ge=0)


class VitalsAck(_Ack):
    """Ack of ``vitals``: the stored readings' ids, and the seqs of the alerts they raised."""

    for_: Literal["vitals"] = Field(alias="for")
    server_ids: list[int]
    alerts: list[int]


class AckFrame(RootModel):
    """Success answer to a client frame (all but ``ping``), echoing its ``id``; ``for`` is the
    client frame's type and decides the other fields."""

    root: Annotated[
        Union[RelayAck, ResumeAck, StateChangeAck, ChatAck, ReadAck, VitalsAck],  # noqa: UP007
        Field(discriminator="for_"),
    ]


class ErrorFrame(ServerFrame):
    """A client frame was refused. ``id`` echoes the frame's id when it had a string one (even an
    invalid one), else null; ``details`` depends on the code: field -> messages for
    VALIDATION_ERROR, ``known_types`` for UNKNOWN_TYPE, ``retry_after_ms`` for RATE_LIMITED,
    ``state`` for INVALID_STATE, else empty."""

    type: Literal["error"]
    id: str | None
    code: ErrorCode
    message: str
    details: dict[str, Any]


# --- Sequenced log (replayed on resume) -----------------------------------------------------------


class ServerChatMessageFrame(ServerFrame):
    """Sequenced. A stored chat message, to everyone in the room (the sender too)."""

    type: Literal["chat_message"]
    seq: Seq
    server_id: int
    id: str = Field(description="The sender's client id of the message.")
    sender: UserRef
    text: str
    attachment_id: UUID | None
    ts: Timestamp


class StateFrame(ServerFrame):
    """Sequenced. The consultation's state changed (waiting, in_progress, completed, ...)."""

    type: Literal["state"]
    seq: Seq
    server_id: int
    state: ConsultationState
    previous: ConsultationState
    by: Actor | None
    ts: Timestamp


class AlertFrame(ServerFrame):
    """Sequenced. A vital-sign reading outside its normal range; ``normal_range`` lists only the
    fields (value, value2) that were outside, with their [low, high]."""

    type: Literal["alert"]
    seq: Seq
    server_id: int
    reading: AlertReading
    normal_range: dict[Literal["value", "value2"], Bounds]
    by: Actor | None
    ts: Timestamp


# --- Streamed, not sequenced ----------------------------------------------------------------------


class ServerVitalsFrame(ServerFrame):
    """To the others (the doctor): the patient's stored readings. Not sequenced and not replayed;
    the abnormal ones also raise a sequenced ``alert``."""

    type: Literal["vitals"]
    sender: UserRef
    readings: list[StoredReading]
    ts: Timestamp


# --- Relayed frames -------------------------------------------------------------------------------


class RelayedFrame(ServerFrame):
    """Base of relayed frames: a client frame minus ``id``, plus ``from``."""


RELAYED_CLIENT_MODELS: dict[str, type[protocol.ClientFrame]] = {
    "offer": protocol.OfferFrame,
    "answer": protocol.AnswerFrame,
    "ice_candidate": protocol.IceCandidateFrame,
    "ice_restart": protocol.IceRestartFrame,
    "hangup": protocol.HangupFrame,
    "media_state": protocol.MediaStateFrame,
    "typing": protocol.TypingFrame,
    "read": protocol.ReadFrame,
}


def _relayed(frame_type: str, client: type[protocol.ClientFrame]) -> type[RelayedFrame]:
    """The client model's fields (constraints and descriptions kept, all required: the consumer
    dumps defaults too), without ``id``, plus ``from``."""
    fields: dict[str, Any] = {}
    for name, info in client.model_fields.items():
        if name == "id":
            continue
        annotation = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        fields[name] = (annotation, Field(description=info.description))
    fields["from_"] = (UserRef, Field(alias="from", description="Who sent it."))
    summary = (client.__doc__ or "").strip()
    if frame_type == "read":
        summary += " ``up_to_seq`` is the stored position (it never moves backwards)."
    return create_model(  # type: ignore[call-overload]
        f"Relayed{client.__name__}",
        __base__=RelayedFrame,
        __doc__=f"Relayed from another participant (their frame minus ``id``, plus ``from``). {summary}",
        __module__=__name__,
        **fields,
    )


RELAYED_FRAMES: dict[str, type[RelayedFrame]] = {
    frame_type: _relayed(frame_type, client) for frame_type, client in RELAYED_CLIENT_MODELS.items()
}

# --- Registry -------------------------------------------------------------------------------------

SERVER_FRAMES: dict[str, type[BaseModel]] = {
    "room_state": RoomStateFrame,
    "ice_servers": IceServersFrame,
    "participants": ParticipantsFrame,
    "waiting": WaitingFrame,
    "patient_waiting": PatientWaitingFrame,
    "admitted": AdmittedFrame,
    "join": JoinFrame,
    "leave": LeaveFrame,
    "pong": PongFrame,
    "ack": AckFrame,
    "error": ErrorFrame,
    **RELAYED_FRAMES,
    "chat_message": ServerChatMessageFrame,
    "state": StateFrame,
    "alert": AlertFrame,
    "vitals": ServerVitalsFrame,
    "ended": EndedFrame,
}

# Frames of the room's log: numbered by ``seq``, delivered in order without gaps or duplicates,
# replayed on resume. Everything else is live only.
SEQUENCED_TYPES = frozenset({"chat_message", "state", "alert"})


class UnknownServerFrame(ValueError):
    """A frame whose ``type`` is not a server frame type."""


def validate_server_frame(frame: dict[str, Any]) -> None:
    """Raise ``UnknownServerFrame`` for an unknown type, ``pydantic.ValidationError`` (also a
    ``ValueError``) when the frame does not match its model."""
    frame_type = frame.get("type") if isinstance(frame, dict) else None
    model = SERVER_FRAMES.get(frame_type) if isinstance(frame_type, str) else None
    if model is None:
        raise UnknownServerFrame(f"Unknown server frame type {frame_type!r}.")
    model.model_validate(frame)


# --- Examples (shapes of real frames; the tests validate each one) ------------------------------

_PATIENT = "5b0c1f8e-6d3a-4c2e-9a41-0f2b7d9e3c11"
_DOCTOR = "8a7e2d44-1b9c-4f3e-8d2a-6c5b4a3f2e10"
_ROOM = "3f6c9a2e-8b1d-4e7f-a5c3-9d2e1f0b8a76"
EXAMPLE_SDP = (
    "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
)
_FROM_DOCTOR = {"user_id": _DOCTOR, "role": "doctor"}
_FROM_PATIENT = {"user_id": _PATIENT, "role": "patient"}

SERVER_EXAMPLES: dict[str, list[dict[str, Any]]] = {
    "room_state": [
        {
            "type": "room_state",
            "consultation": {
                "id": _ROOM,
                "state": "scheduled",
                "type": "video",
                "scheduled_start": "2026-03-02T10:00:00.000Z",
                "scheduled_end": "2026-03-02T10:30:00.000Z",
            },
            "you": {"user_id": _PATIENT, "role": "patient", "status": "waiting"},
            "last_seq": 0,
            "heartbeat_seconds": 15,
            "idle_timeout_seconds": 45,
        }
    ],
    "ice_servers": [
        {
            "type": "ice_servers",
            "ice_servers": [
                {"urls": ["stun:stun.example.org:3478"]},
                {
                    "urls": ["turn:turn.example.org:3478?transport=udp"],
                    "username": f"1772449200:{_PATIENT}",
                    "credential": "0d2Vb3kqS0bq1x0m5mZ3tq9cQ2U=",
                },
            ],
            "expires_at": "2026-03-02T11:00:00+00:00",
        },
        {"type": "ice_servers", "ice_servers": [], "expires_at": None},
    ],
    "participants": [
        {
            "type": "participants",
            "participants": [
                {
                    "user_id": _DOCTOR,
                    "role": "doctor",
                    "name": "Dr Ada Lovelace",
                    "status": "joined",
                    "media": {"audio": True, "video": True, "screen": False},
                },
                {
                    "user_id": _PATIENT,
                    "role": "patient",
                    "name": "Sam Patient",
                    "status": "waiting",
                    "media": {"audio": False, "video": False, "screen": False},
                },
            ],
        }
    ],
    "waiting": [
        {
            "type": "waiting",
            "message": "The doctor will let you in shortly.",
            "ts": "2026-03-02T09:58:12.345Z",
        }
    ],
    "patient_waiting": [
        {
            "type": "patient_waiting",
            "patient": {"user_id": _PATIENT, "name": "Sam Patient"},
            "ts": "2026-03-02T09:58:12.351Z",
        }
    ],
    "admitted": [{"type": "admitted", "ts": "2026-03-02T10:00:03.120Z"}],
    "join": [
        {
            "type": "join",
            "user": {"user_id": _PATIENT, "role": "patient", "name": "Sam Patient"},
            "status": "joined",
            "ts": "2026-03-02T10:00:03.125Z",
        }
    ],
    "leave": [
        {
            "type": "leave",
            "user": {"user_id": _PATIENT, "role": "patient", "name": "Sam Patient"},
            "status": "joined",
            "reason": "left",
            "ts": "2026-03-02T10:12:40.002Z",
        },
        {
            "type": "leave",
            "user": {"user_id": _DOCTOR, "role": "doctor", "name": "Dr Ada Lovelace"},
            "status": "joined",
            "reason": "timeout",
            "ts": "2026-03-02T10:13:30.500Z",
        },
    ],
    "pong": [{"type": "pong", "id": "hb-17", "ts": "2026-03-02T10:05:00.010Z"}],
    "ack": [
        {"type": "ack", "id": "o-1", "for": "offer"},
        {
            "type": "ack",
            "id": "msg-1",
            "for": "chat_message",
            "server_id": 412,
            "seq": 3,
            "ts": "2026-03-02T10:01:10.200Z",
            "duplicate": False,
        },
        {"type": "ack", "id": "adm-1", "for": "admit", "seq": 2},
        {"type": "ack", "id": "r-1", "for": "resume", "replayed": 5, "last_seq": 8},
        {"type": "ack", "id": "rd-1", "for": "read", "up_to_seq": 3},
        {"type": "ack", "id": "v-1", "for": "vitals", "server_ids": [90, 91], "alerts": [4]},
    ],
    "error": [
        {
            "type": "error",
            "id": "m1",
            "code": "VALIDATION_ERROR",
            "message": "The frame is invalid.",
            "details": {"text": ["text is longer than 4000 characters"]},
        },
        {
            "type": "error",
            "id": None,
            "code": "RATE_LIMITED",
            "message": "Too many frames.",
            "details": {"retry_after_ms": 34},
        },
        {
            "type": "error",
            "id": "a1",
            "code": "INVALID_STATE",
            "message": "No patient is waiting to be admitted.",
            "details": {"state": "scheduled"},
        },
    ],
    "offer": [{"type": "offer", "sdp": EXAMPLE_SDP, "from": _FROM_DOCTOR}],
    "answer": [{"type": "answer", "sdp": EXAMPLE_SDP, "from": _FROM_PATIENT}],
    "ice_candidate": [
        {
            "type": "ice_candidate",
            "candidate": "candidate:1 1 UDP 2122252543 192.0.2.10 54400 typ host",
            "sdp_mid": "0",
            "sdp_mline_index": 0,
            "from": _FROM_DOCTOR,
        }
    ],
    "ice_restart": [{"type": "ice_restart", "reason": "network changed", "from": _FROM_PATIENT}],
    "hangup": [{"type": "hangup", "reason": None, "from": _FROM_DOCTOR}],
    "media_state": [
        {"type": "media_state", "audio": True, "video": False, "screen": False, "from": _FROM_PATIENT}
    ],
    "typing": [{"type": "typing", "typing": True, "from": _FROM_DOCTOR}],
    "read": [{"type": "read", "up_to_seq": 3, "from": _FROM_DOCTOR}],
    "chat_message": [
        {
            "type": "chat_message",
            "seq": 3,
            "server_id": 412,
            "id": "msg-1",
            "sender": _FROM_PATIENT,
            "text": "I have had a headache since Monday.",
            "attachment_id": None,
            "ts": "2026-03-02T10:01:10.200Z",
        }
    ],
    "state": [
        {
            "type": "state",
            "seq": 2,
            "server_id": 17,
            "state": "in_progress",
            "previous": "waiting",
            "by": _FROM_DOCTOR,
            "ts": "2026-03-02T10:00:03.110Z",
        }
    ],
    "alert": [
        {
            "type": "alert",
            "seq": 4,
            "server_id": 18,
            "reading": {
                "kind": "spo2",
                "unit": "%",
                "value": 88.0,
                "value2": None,
                "measured_at": "2026-03-02T10:03:00+00:00",
            },
            "normal_range": {"value": [92, 100]},
            "by": _FROM_PATIENT,
            "ts": "2026-03-02T10:03:00.870Z",
        }
    ],
    "vitals": [
        {
            "type": "vitals",
            "sender": _FROM_PATIENT,
            "readings": [
                {
                    "server_id": 90,
                    "kind": "heart_rate",
                    "unit": "bpm",
                    "value": 72.0,
                    "value2": None,
                    "measured_at": "2026-03-02T10:03:00.000Z",
                    "abnormal": False,
                },
                {
                    "server_id": 91,
                    "kind": "spo2",
                    "unit": "%",
                    "value": 88.0,
                    "value2": None,
                    "measured_at": "2026-03-02T10:03:00.000Z",
                    "abnormal": True,
                },
            ],
            "ts": "2026-03-02T10:03:00.865Z",
        }
    ],
    "ended": [
        {"type": "ended", "by": {"user_id": _DOCTOR, "role": "doctor"}, "ts": "2026-03-02T10:28:44.001Z"}
    ],
}
