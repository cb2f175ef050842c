"""A participant who is not in the room hears about it through a notification: the doctor that a
patient waits, the patient that the doctor is ready, either of them that a message came."""

from __future__ import annotations

from channels.db import database_sync_to_async as sync_to_async

from telehealth.notifications.models import Notification
from tests.signaling.test_room_flow import admitted_pair


@sync_to_async
def _notifications(user=None):
    rows = Notification.objects.order_by("pk")
    if user is not None:
        rows = rows.filter(recipient=user)
    return [(n.recipient_id, n.kind, n.data.get("consultation_id"), n.data.get("seq")) for n in rows]


async def test_a_waiting_patient_notifies_the_absent_doctor(room, consultation):
    patient = await room(consultation.patient)
    await patient.expect("waiting")
    assert await _notifications() == [(consultation.doctor_id, "patient_waiting", str(consultation.pk), None)]


async def test_no_notification_when_the_doctor_is_already_in_the_room(room, consultation):
    await room(consultation.doctor)
    patient = await room(consultation.patient)
    await patient.expect("waiting")
    assert [n[1] for n in await _notifications()] == ["doctor_ready"]  # from when the room was empty


async def test_the_doctor_entering_an_empty_room_tells_the_patient(room, consultation):
    await room(consultation.doctor)
    assert await _notifications() == [(consultation.patient_id, "doctor_ready", str(consultation.pk), None)]


async def test_chat_while_the_other_is_away_notifies_once_until_read(room, consultation):
    patient, doctor = await admitted_pair(room, consultation)
    before = len(await _notifications(consultation.doctor))
    await doctor.leave()
    await patient.expect("leave")
    first = await patient.request({"type": "chat_message", "id": "c1", "text": "Are you there?"})
    await patient.request({"type": "chat_message", "id": "c2", "text": "Hello?"})
    chats = [n for n in await _notifications(consultation.doctor) if n[1] == "chat_message"]
    assert chats == [(consultation.doctor_id, "chat_message", str(consultation.pk), first["seq"])]
    assert len(await _notifications(consultation.doctor)) == before + 1

    # Once the doctor has read it, the next message notifies again; the text is never in it.
    await sync_to_async(Notification.objects.filter(kind="chat_message").update)(read_at="2030-01-01T00:00Z")
    third = await patient.request({"type": "chat_message", "id": "c3", "text": "Secret symptom"})
    rows = await sync_to_async(list)(Notification.objects.filter(kind="chat_message").order_by("pk"))
    assert [r.data["seq"] for r in rows] == [first["seq"], third["seq"]]
    assert all("Secret" not in f"{r.title}{r.body}{r.data}" for r in rows)


async def test_chat_between_two_present_participants_notifies_nobody(room, consultation):
    patient, doctor = await admitted_pair(room, consultation)
    await patient.request({"type": "chat_message", "id": "c1", "text": "Hi"})
    await doctor.request({"type": "chat_message", "id": "c2", "text": "Hello"})
    assert [n for n in await _notifications() if n[1] == "chat_message"] == []
