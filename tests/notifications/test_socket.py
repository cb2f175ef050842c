"""The notifications socket: own events only, resume without loss, bad frames, doctor status."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from telehealth.notifications import services
from telehealth.notifications.models import Notification
from tests.ws_clients import ConnectionClosed

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def _notify(user, title="Hello", **fields):
    return services.notify(user, "appointment_booked", title=title, **fields)


async def test_anonymous_is_refused_with_4401(notification_socket):
    client = await notification_socket(None, expect_open=False)
    with pytest.raises(ConnectionClosed) as closed:
        await client.receive()
    assert closed.value.code == 4401


async def test_connected_frame_counts_unread(notification_socket, patient):
    first = await _notify(patient)
    await _notify(patient)
    await database_sync_to_async(services.mark_read)(patient, [first.pk])
    client = await notification_socket(patient)
    connected = client.of_type("connected")[0]
    assert connected["user_id"] == str(patient.pk)
    assert connected["unread"] == 1
    assert connected["latest_id"] == first.pk + 1


async def test_each_user_gets_their_own_notifications_only(notification_socket, patient, other_patient):
    alice = await notification_socket(patient)
    bob = await notification_socket(other_patient)
    note = await _notify(patient, title="For Alice", data={"consultation_id": "x"})
    frame = await alice.expect("notification")
    assert frame["notification"] == {
        "id": note.pk,
        "kind": "appointment_booked",
        "title": "For Alice",
        "body": "",
        "data": {"consultation_id": "x"},
        "created_at": frame["notification"]["created_at"],
        "read": False,
    }
    assert await bob.drain(0.3) == []


async def test_every_socket_of_the_user_gets_it(notification_socket, patient):
    phone, tablet = await notification_socket(patient), await notification_socket(patient)
    note = await _notify(patient)
    assert (await phone.expect("notification"))["notification"]["id"] == note.pk
    assert (await tablet.expect("notification"))["notification"]["id"] == note.pk


async def test_resume_replays_what_was_missed_in_order_then_live(notification_socket, patient):
    seen = await _notify(patient, title="seen")
    missed = [await _notify(patient, title=f"missed {n}") for n in range(3)]
    client = await notification_socket(patient)
    ack = await client.request({"type": "resume", "id": "r1", "last_id": seen.pk})
    assert ack == {
        "type": "ack",
        "id": "r1",
        "for": "resume",
        "replayed": 3,
        "latest_id": missed[-1].pk,
    }
    replayed = [f["notification"]["id"] for f in client.of_type("notification")]
    assert replayed == [n.pk for n in missed]
    client.unclaimed.clear()
    live = await _notify(patient, title="live")
    assert (await client.expect("notification"))["notification"]["id"] == live.pk
    # Resuming again from the start sends nothing this connection already delivered.
    again = await client.request({"type": "resume", "id": "r2", "last_id": 0})
    assert again["replayed"] == 1  # only "seen", which this connection never delivered
    ids = [f["notification"]["id"] for f in client.of_type("notification")]
    assert sorted(ids) == sorted(set(ids))


async def test_last_id_in_the_url_replays_before_anything_live(notification_socket, patient):
    first = await _notify(patient)
    second = await _notify(patient)
    client = await notification_socket(patient, query=f"last_id={first.pk}")
    frame = await client.expect("notification")
    assert frame["notification"]["id"] == second.pk


async def test_a_bad_last_id_is_an_error_not_a_close(notification_socket, patient):
    client = await notification_socket(patient, query="last_id=abc")
    error = await client.expect("error")
    assert error["code"] == "VALIDATION_ERROR"
    assert (await client.request({"type": "ping", "id": "p"}))["type"] == "pong"


async def test_mark_read_over_the_socket(notification_socket, patient, other_patient):
    mine = await _notify(patient)
    theirs = await _notify(other_patient)
    client = await notification_socket(patient)
    ack = await client.request({"type": "mark_read", "id": "m1", "ids": [mine.pk, theirs.pk]})
    assert (ack["for"], ack["marked"], ack["unread"]) == ("mark_read", 1, 0)
    assert await database_sync_to_async(Notification.objects.filter(pk=theirs.pk, read_at=None).exists)()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "INVALID_JSON"),
        ('{"type": "shout"}', "UNKNOWN_TYPE"),
        ('{"type": "resume", "id": "x", "last_id": -1}', "VALIDATION_ERROR"),
        ('{"type": "mark_read", "id": "x", "ids": []}', "VALIDATION_ERROR"),
        ('{"type": "subscribe_doctor_status", "id": "x", "doctor_id": "nope"}', "VALIDATION_ERROR"),
        ('{"type": "chat_message", "id": "x", "text": "hi"}', "UNKNOWN_TYPE"),
    ],
)
async def test_bad_frames_get_an_error_and_the_socket_stays_open(notification_socket, patient, raw, code):
    client = await notification_socket(patient)
    await client.send_raw(raw)
    error = await client.expect("error")
    assert error["code"] == code
    assert (await client.request({"type": "ping", "id": "still-there"}))["type"] == "pong"
    note = await _notify(patient)
    assert (await client.expect("notification"))["notification"]["id"] == note.pk


# --- Doctor status -----------------------------------------------------------------------------------


async def test_patient_follows_a_doctor_going_online_busy_and_offline(notification_socket, patient, doctor):
    from tests.factories import ConsultationFactory

    watcher = await notification_socket(patient)
    ack = await watcher.request({"type": "subscribe_doctor_status", "id": "s1", "doctor_id": str(doctor.pk)})
    assert ack["for"] == "subscribe_doctor_status"
    assert (await watcher.expect("doctor_status"))["status"] == "offline"

    doctor_socket = await notification_socket(doctor)
    assert (await watcher.expect("doctor_status"))["status"] == "online"

    consultation = await database_sync_to_async(ConsultationFactory)(patient=patient, doctor=doctor)
    await database_sync_to_async(_set_state)(consultation, "in_progress")
    assert (await watcher.expect("doctor_status"))["status"] == "busy"
    await database_sync_to_async(_set_state)(consultation, "completed")
    assert (await watcher.expect("doctor_status"))["status"] == "online"

    await doctor_socket.leave()
    offline = await watcher.expect("doctor_status")
    assert (offline["status"], offline["doctor_id"]) == ("offline", str(doctor.pk))

    await watcher.request({"type": "unsubscribe_doctor_status", "id": "u1", "doctor_id": str(doctor.pk)})
    await notification_socket(doctor)
    assert await watcher.drain(0.3) == []


def _set_state(consultation, state):
    consultation.state = state
    consultation.save(update_fields=["state", "updated_at"])


async def test_an_unverified_or_unknown_doctor_cannot_be_followed(
    notification_socket, patient, doctor_profile
):
    doctor_profile.verification_status = "pending"
    await database_sync_to_async(doctor_profile.save)()
    client = await notification_socket(patient)
    for doctor_id in (doctor_profile.user_id, patient.pk):
        error = await client.request(
            {"type": "subscribe_doctor_status", "id": "s", "doctor_id": str(doctor_id)}
        )
        assert (error["type"], error["code"]) == ("error", "NOT_FOUND")
