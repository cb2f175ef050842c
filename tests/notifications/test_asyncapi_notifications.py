"""The notifications socket in the AsyncAPI document and PROTOCOL.md: exactly the frames its
consumer handles and sends, a documented ``data`` payload for every notification kind that the
real events produce, and a real session whose every frame matches the published models."""

from __future__ import annotations

import inspect
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from channels.db import database_sync_to_async
from django.conf import settings

from clinical.models import Prescription
from payments.models import Payment, Refund
from signaling import notification_protocol, protocol
from signaling.asyncapi import NOTIFICATION_CLIENT_EXAMPLES, NOTIFICATION_CLOSE_CODES, build_asyncapi
from signaling.notification_frames import (
    NOTIFICATION_DATA_EXAMPLES,
    NOTIFICATION_KINDS,
    NOTIFICATION_MODELS,
    NOTIFICATION_SERVER_EXAMPLES,
    NOTIFICATION_SERVER_FRAMES,
    validate_notification_frame,
)
from signaling.notifications import NotificationConsumer
from signaling.server_frames import UnknownServerFrame
from telehealth.notifications import events, services
from telehealth.notifications.models import Notification, NotificationKind
from tests.clinical.clinics.factories import ClinicFactory, InventoryItemFactory
from tests.factories import ConsultationFactory, DoctorProfileFactory, UserFactory
from tests.signaling.test_asyncapi import (
    PROTOCOL_MD,
    SPEC_SCHEMA,
    _frame_headings,
    _json_blocks,
    _messages,
    _refs,
    _resolve,
    _section,
)

ROOT = Path(settings.BASE_DIR)
SENDING_SOURCES = [
    ROOT / "signaling" / "notifications.py",
    ROOT / "signaling" / "sockets.py",
    ROOT / "telehealth" / "notifications" / "services.py",
    ROOT / "telehealth" / "notifications" / "doctor_status.py",
]
# The room's frame builders (``signaling.frames``) the notifications socket calls, and what they send.
SHARED_BUILDERS = {"error_frame": "error", "ack_frame": "ack"}
CHANNEL = "notifications"
CLIENT_SECTION = "Notifications socket: client → server frames"
SERVER_SECTION = "Notifications socket: server → client frames"
KINDS_SECTION = "Notifications socket: notification kinds"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_asyncapi()


@pytest.fixture(scope="module")
def spec_validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SPEC_SCHEMA.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    return validator_class(schema)


def _sent_types_in_source() -> set[str]:
    """Frame types the notifications code can send: every ``"type": "<name>"`` literal (channel
    layer events such as ``notify.deliver`` excluded) and the shared builders it calls."""
    types: set[str] = set()
    for path in SENDING_SOURCES:
        source = path.read_text()
        types |= set(re.findall(r'"type":\s*"([a-z_]+)"', source))
        for builder in re.findall(r"frames\.([a-z_]+_frame)\(", source):
            assert builder in SHARED_BUILDERS, f"{path.name} sends a room frame via frames.{builder}"
            types.add(SHARED_BUILDERS[builder])
    return types


def _payload_validators(document: dict[str, Any]) -> dict[str, jsonschema.Draft7Validator]:
    """Frame type -> a validator for the published payload of the notifications socket's message."""
    components = document["components"]
    return {
        message["name"]: jsonschema.Draft7Validator({**message["payload"], "components": components})
        for key, message in components["messages"].items()
        if key.startswith("notify_server_")
    }


def _check_all(frames: list[dict[str, Any]], document: dict[str, Any]) -> None:
    """Both the pydantic model and the published JSON schema accept every frame."""
    validators = _payload_validators(document)
    problems = []
    for frame in frames:
        try:
            validate_notification_frame(frame)
        except ValueError as error:
            problems.append(f"model: {frame}\n{error}")
        validator = validators.get(frame.get("type"))
        if validator is None:
            problems.append(f"not in the document: {frame}")
            continue
        problems += [f"document: {frame}\n{e.message}" for e in validator.iter_errors(frame)]
    assert not problems, "\n\n".join(problems)


# --- Client and server frames ⇔ the document -------------------------------------------------------


def test_every_handler_is_a_documented_client_frame_and_vice_versa(document):
    handlers = {name[3:] for name in dir(NotificationConsumer) if name.startswith("on_")}
    assert handlers == set(notification_protocol.CLIENT_FRAMES)
    assert _messages(document, "receive", CHANNEL) == handlers


def test_every_frame_the_notifications_code_sends_is_documented_and_vice_versa(document):
    sent = _sent_types_in_source()
    assert sent == set(NOTIFICATION_SERVER_FRAMES)
    assert _messages(document, "send", CHANNEL) == sent


def test_the_notifications_channel(document, spec_validator):
    errors = [f"{list(e.absolute_path)}: {e.message[:300]}" for e in spec_validator.iter_errors(document)]
    assert not errors, "\n".join(errors)
    channel = document["channels"][CHANNEL]
    assert channel["address"] == "/ws/notifications/"
    assert "parameters" not in channel
    assert channel["servers"] == document["channels"]["consultationRoom"]["servers"]
    assert set(channel["bindings"]["ws"]["query"]["properties"]) == {"token", "last_id"}
    assert all(key.startswith("notify_") for key in channel["messages"])
    room_keys = set(document["channels"]["consultationRoom"]["messages"])
    assert not room_keys & set(channel["messages"])
    assert set(room_keys | set(channel["messages"])) == set(document["components"]["messages"])
    notify_operations = {name for name in document["operations"] if name.startswith("notify_")}
    assert len(notify_operations) == len(notification_protocol.CLIENT_FRAMES) + len(
        NOTIFICATION_SERVER_FRAMES
    )
    for name in notify_operations:
        assert document["operations"][name]["channel"] == {"$ref": f"#/channels/{CHANNEL}"}, name
    assert channel["x-close-codes"] == {str(code): text for code, text in NOTIFICATION_CLOSE_CODES.items()}
    description = document["info"]["description"]
    assert "/ws/notifications/" in description
    assert "/ws/consultations/" in description
    for code in NOTIFICATION_CLOSE_CODES:
        assert f"`{code}`" in description


def test_every_kind_has_a_documented_data_payload(document):
    kinds = set(NotificationKind.values)
    assert set(NOTIFICATION_KINDS) == kinds
    assert set(NOTIFICATION_MODELS) == kinds
    assert set(NOTIFICATION_DATA_EXAMPLES) == kinds
    assert set(document["channels"][CHANNEL]["x-notification-kinds"]) == kinds
    for kind, entry in document["channels"][CHANNEL]["x-notification-kinds"].items():
        data = _resolve(document, entry["data"]["$ref"])
        assert data["additionalProperties"] is False, kind
        assert set(data["properties"]) == set(NOTIFICATION_KINDS[kind].data.model_fields), kind
    message = document["components"]["messages"]["notify_server_notification"]
    item = _resolve(document, message["payload"]["properties"]["notification"]["$ref"])
    assert item["discriminator"] == "kind"
    assert len(item["oneOf"]) == len(kinds)
    assert {example["payload"]["notification"]["kind"] for example in message["examples"]} == kinds
    for ref in _refs(document):
        _resolve(document, ref)


def test_every_example_is_a_real_frame():
    assert set(NOTIFICATION_CLIENT_EXAMPLES) == set(notification_protocol.CLIENT_FRAMES)
    assert set(NOTIFICATION_SERVER_EXAMPLES) == set(NOTIFICATION_SERVER_FRAMES)
    for frame_type, examples in NOTIFICATION_CLIENT_EXAMPLES.items():
        for example in examples:
            assert protocol.parse_frame(example, notification_protocol.CLIENT_FRAMES).type == frame_type
    for frame_type, examples in NOTIFICATION_SERVER_EXAMPLES.items():
        for example in examples:
            assert example["type"] == frame_type
            validate_notification_frame(example)


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "room_state"},
        {"type": "connected", "user_id": str(uuid.uuid4()), "unread": 0, "latest_id": 0},
        {**NOTIFICATION_SERVER_EXAMPLES["doctor_status"][0], "status": "away"},
        {"type": "ack", "id": "a", "for": "resume", "replayed": 0, "last_seq": 3},
    ],
)
def test_models_refuse_what_the_socket_never_sends(frame):
    with pytest.raises((UnknownServerFrame, ValueError)):
        validate_notification_frame(frame)


def test_data_of_one_kind_is_refused_under_another():
    frame = json.loads(json.dumps(NOTIFICATION_SERVER_EXAMPLES["notification"][0]))
    frame["notification"]["kind"] = "payment_succeeded"
    with pytest.raises(ValueError, match="payment_id"):
        validate_notification_frame(frame)


# --- Real payloads of every event ---------------------------------------------------------------------


@pytest.fixture
def booked(db):
    return ConsultationFactory(state="scheduled")


def _event_calls(booked) -> dict[str, Any]:
    """One call of every event function of ``telehealth.notifications.events``, with real rows
    (or unsaved ones, where the event reads only their fields)."""
    patient, doctor = booked.patient, booked.doctor
    now = datetime.now(UTC)
    replacement = ConsultationFactory(
        patient=patient,
        doctor=doctor,
        state="scheduled",
        scheduled_start=booked.scheduled_start + timedelta(days=1),
    )
    unpaid = ConsultationFactory(
        patient=patient,
        doctor=doctor,
        state="pending_payment",
        scheduled_start=booked.scheduled_start + timedelta(days=2),
    )
    missed = ConsultationFactory(patient=patient, doctor=doctor, state="no_show", no_show_party="doctor")
    prescription = Prescription(consultation=booked, doctor=doctor, patient=patient, issued_at=now)
    payment = Payment(consultation=booked, patient=patient, doctor=doctor, amount=50_000, currency="INR")
    refund = Refund(payment=payment, amount=20_000)
    clinic = ClinicFactory()
    item = InventoryItemFactory(clinic=clinic, stock=4, low_stock_threshold=5)
    clinic_admin = UserFactory(role="patient")
    return {
        "appointment_booked": lambda: [
            *events.appointment_booked(unpaid),
            *events.appointment_booked(booked),
        ],
        "appointment_confirmed": lambda: events.appointment_confirmed(booked),
        "appointment_rescheduled": lambda: events.appointment_rescheduled(booked, replacement),
        "appointment_cancelled": lambda: events.appointment_cancelled(booked, by=patient),
        "appointment_reminder": lambda: [
            *events.appointment_reminder(booked, window="24h"),
            *events.appointment_reminder(booked, window="15m"),
        ],
        "consultation_no_show": lambda: events.consultation_no_show(missed),
        "doctor_ready": lambda: events.doctor_ready(booked),
        "patient_waiting": lambda: events.patient_waiting(booked),
        "chat_message": lambda: events.chat_message(
            booked, recipient_id=doctor.pk, seq=3, sender_role="patient"
        ),
        "prescription_issued": lambda: events.prescription_issued(prescription),
        "medication_reminder": lambda: events.medication_reminder(
            patient.pk, prescription_id=prescription.pk, item_id=41, dose_at=now
        ),
        "payment_succeeded": lambda: events.payment_succeeded(payment),
        "payment_refunded": lambda: events.payment_refunded(payment, refund),
        "doctor_verification": lambda: [
            events.doctor_verification(DoctorProfileFactory(verification_status="verified")),
            events.doctor_verification(DoctorProfileFactory(verification_status="rejected")),
        ],
        "clinic_low_stock": lambda: events.clinic_low_stock(clinic, item, [clinic_admin.pk]),
    }


@pytest.mark.django_db
def test_the_payload_of_every_event_matches_its_documented_kind(booked, document):
    public_events = {
        name
        for name, function in inspect.getmembers(events, inspect.isfunction)
        if function.__module__ == events.__name__ and not name.startswith("_") and name != "room_link"
    }
    calls = _event_calls(booked)
    assert set(calls) == public_events
    for call in calls.values():
        call()
    stored = list(Notification.objects.order_by("pk"))
    assert {n.kind for n in stored} == set(NotificationKind.values)
    _check_all([services.notification_frame(n) for n in stored], document)


# --- PROTOCOL.md ------------------------------------------------------------------------------------


def test_protocol_md_has_a_heading_and_a_real_example_for_every_frame():
    text = PROTOCOL_MD.read_text()
    client, server = _section(text, CLIENT_SECTION), _section(text, SERVER_SECTION)
    assert _frame_headings(client) == set(notification_protocol.CLIENT_FRAMES)
    assert _frame_headings(server) == set(NOTIFICATION_SERVER_FRAMES)
    client_examples, server_examples = _json_blocks(client), _json_blocks(server)
    assert {frame["type"] for frame in client_examples} == set(notification_protocol.CLIENT_FRAMES)
    assert {frame["type"] for frame in server_examples} == set(NOTIFICATION_SERVER_FRAMES)
    for frame in client_examples:
        protocol.parse_frame(frame, notification_protocol.CLIENT_FRAMES)
    for frame in server_examples:
        validate_notification_frame(frame)


def test_protocol_md_lists_every_kind_with_its_data_fields():
    rows = {}
    for line in _section(PROTOCOL_MD.read_text(), KINDS_SECTION).splitlines():
        match = re.match(r"^\| `([a-z_]+)` \| (.+?) \| (.+?) \| (.+) \|$", line)
        if match:
            rows[match.group(1)] = match.group(4)
    assert set(rows) == set(NotificationKind.values)
    for kind, data_column in rows.items():
        fields = set(re.findall(r"`([a-z_0-9]+)`", re.sub(r"\([^)]*\)", "", data_column)))
        assert fields == set(NOTIFICATION_KINDS[kind].data.model_fields), kind


def test_protocol_md_explains_resume_status_push_and_close_codes():
    text = PROTOCOL_MD.read_text()
    section = text[text.index("# Notifications socket") :]
    for heading in ("connecting", "resume", "doctor status", "push fallback", "notification kinds"):
        assert f"\n## Notifications socket: {heading}\n" in section
    for code in NOTIFICATION_CLOSE_CODES:
        assert f"`{code}`" in section, code
    for phrase in ("?last_id=", "at most once", "increase per user", "never carry clinical content"):
        assert phrase in section, phrase


# --- A real session -----------------------------------------------------------------------------------


@database_sync_to_async
def _notify(user, kind: str, title: str, data: dict[str, Any]) -> Notification:
    return services.notify(user, kind, title=title, data=data)


@database_sync_to_async
def _book(patient, doctor):
    return ConsultationFactory(patient=patient, doctor=doctor, state="scheduled")


@pytest.mark.django_db(transaction=True)
async def test_a_whole_session_sends_only_documented_frames(notification_socket, patient, doctor, document):
    consultation = await _book(patient, doctor)
    room = events.room_link(consultation.pk)
    start = consultation.scheduled_start.isoformat()
    missed = await _notify(
        patient,
        "doctor_ready",
        "Your doctor is ready",
        {
            "consultation_id": str(consultation.pk),
            "scheduled_start": start,
            "state": "scheduled",
            "room": room,
        },
    )

    # Connect with ?last_id: connected, then the replay.
    client = await notification_socket(patient, query="last_id=0")
    assert (await client.expect("notification"))["notification"]["id"] == missed.pk

    # Live.
    live = await _notify(
        patient,
        "medication_reminder",
        "Time for your medication",
        {"prescription_id": str(uuid.uuid4()), "item_id": 7, "dose_at": "2026-03-03T08:00:00Z"},
    )
    assert (await client.expect("notification"))["notification"]["id"] == live.pk

    # Answers to every client frame.
    resumed = await client.request({"type": "resume", "id": "r-1", "last_id": 0})
    assert (resumed["for"], resumed["replayed"], resumed["latest_id"]) == ("resume", 0, live.pk)
    marked = await client.request({"type": "mark_read", "id": "m-1", "ids": [missed.pk, live.pk]})
    assert (marked["for"], marked["marked"], marked["unread"]) == ("mark_read", 2, 0)
    subscribed = {"type": "subscribe_doctor_status", "id": "s-1", "doctor_id": str(doctor.pk)}
    assert (await client.request(subscribed))["for"] == "subscribe_doctor_status"
    assert (await client.expect("doctor_status"))["status"] == "offline"
    doctor_client = await notification_socket(doctor)
    online = await client.expect("doctor_status")
    assert (online["status"], online["doctor_id"]) == ("online", str(doctor.pk))
    unsubscribed = {"type": "unsubscribe_doctor_status", "id": "u-1", "doctor_id": str(doctor.pk)}
    assert (await client.request(unsubscribed))["for"] == "unsubscribe_doctor_status"
    assert (await client.request({"type": "ping", "id": "hb-1"}))["type"] == "pong"
    await client.send({"type": "ping"})
    assert (await client.expect("pong", id=None))["type"] == "pong"

    # Every kind of refusal this socket gives.
    unknown_doctor = {"type": "subscribe_doctor_status", "id": "s-2", "doctor_id": str(uuid.uuid4())}
    assert (await client.request(unknown_doctor))["code"] == "NOT_FOUND"
    assert (await client.request({"type": "mark_read", "id": "m-2", "ids": []}))["code"] == "VALIDATION_ERROR"
    assert (await client.request({"type": "admit", "id": "a-1"}))["code"] == "UNKNOWN_TYPE"
    await client.send_raw(text="{not json")
    assert (await client.expect("error", code="INVALID_JSON"))["id"] is None
    bad_url = await notification_socket(patient, query="last_id=abc")
    assert (await bad_url.expect("error"))["code"] == "VALIDATION_ERROR"

    received = [frame for c in (client, doctor_client, bad_url) for frame in c.frames]
    assert {frame["type"] for frame in received} == set(NOTIFICATION_SERVER_FRAMES)
    _check_all(received, document)
