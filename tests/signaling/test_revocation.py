"""Logging out, deactivating an account or revoking a doctor's verification closes that user's open
websockets (room and notifications) within seconds; everybody else's stay open."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

import pytest
from channels.db import database_sync_to_async as sync_to_async
from rest_framework.test import APIClient

from clinical.doctors.services import reject_doctor
from signaling import revocation
from telehealth.accounts.services import issue_tokens, rotate_refresh_token, update_account
from tests.factories import ConsultationFactory, DoctorProfileFactory, UserFactory
from tests.ws_connect import open_socket

ROOT = Path(__file__).resolve().parents[2]
NOT_A_CONSULTATION = "00000000-0000-4000-8000-00000000a11c"
WITHIN_SECONDS = 3


@pytest.fixture
async def notification_socket():
    clients = []

    async def connect(user):
        token = (await sync_to_async(issue_tokens)(user))["access"]
        client = await open_socket("/ws/notifications/", token)
        clients.append(client)
        await client.expect("connected", timeout=5)
        return client

    yield connect
    for client in clients:
        with contextlib.suppress(Exception):
            await client.leave()


@pytest.fixture
def consultation(transactional_db):
    """Between a verified doctor (with a profile, so that it can be revoked) and a patient."""
    return ConsultationFactory(doctor=DoctorProfileFactory().user)


async def still_open(client) -> bool:
    return (await client.request({"type": "ping", "id": "still-open"}, timeout=3))["type"] == "pong"


async def test_logout_closes_every_socket_of_the_user(room, consultation, notification_socket):
    patient, doctor = consultation.patient, consultation.doctor
    patient_rooms = [await room(patient), await room(patient)]
    patient_inbox = await notification_socket(patient)
    doctor_room = await room(doctor)
    doctor_inbox = await notification_socket(doctor)
    tokens = await sync_to_async(issue_tokens)(patient)

    response = await sync_to_async(APIClient().post)("/api/auth/logout/", {"refresh": tokens["refresh"]})
    assert response.status_code == 200

    for client in [*patient_rooms, patient_inbox]:
        assert await client.closed(WITHIN_SECONDS) == 4401
    # The room socket cleaned up as usual: the doctor hears the patient leave.
    assert (await doctor_room.expect("leave"))["user"]["user_id"] == str(patient.pk)
    assert await still_open(doctor_room)
    assert await still_open(doctor_inbox)


async def test_logout_of_all_devices_closes_every_socket(room, consultation, notification_socket):
    doctor = consultation.doctor
    doctor_room = await room(doctor)
    doctor_inbox = await notification_socket(doctor)
    patient_room = await room(consultation.patient)
    tokens = await sync_to_async(issue_tokens)(doctor)

    response = await sync_to_async(APIClient().post)(
        "/api/auth/logout/", {"refresh": tokens["refresh"], "all_devices": True}
    )
    assert response.status_code == 200

    assert await doctor_room.closed(WITHIN_SECONDS) == 4401
    assert await doctor_inbox.closed(WITHIN_SECONDS) == 4401
    assert await still_open(patient_room)


async def test_deactivation_by_an_admin_closes_every_socket(room, consultation, notification_socket):
    patient = consultation.patient
    admin = await sync_to_async(UserFactory)(role="admin")
    patient_room = await room(patient)
    patient_inbox = await notification_socket(patient)
    doctor_room = await room(consultation.doctor)

    await sync_to_async(update_account)(admin, patient, is_active=False)

    assert await patient_room.closed(WITHIN_SECONDS) == 4401
    assert await patient_inbox.closed(WITHIN_SECONDS) == 4401
    assert await still_open(doctor_room)
    # And the token that opened them no longer opens anything.
    again = await room(patient, expect_open=False)
    assert await again.closed() == 4401


async def test_deactivation_by_any_save_closes_every_socket(room, consultation, notification_socket):
    """The Django admin, a shell: whatever saves ``is_active=False``."""
    doctor = consultation.doctor
    doctor_room = await room(doctor)
    doctor_inbox = await notification_socket(doctor)
    bystander = await notification_socket(await sync_to_async(UserFactory)(role="patient"))

    doctor.is_active = False
    await sync_to_async(doctor.save)(update_fields=["is_active"])

    assert await doctor_room.closed(WITHIN_SECONDS) == 4401
    assert await doctor_inbox.closed(WITHIN_SECONDS) == 4401
    assert await still_open(bystander)


async def test_revoking_verification_closes_the_doctors_room_sockets_only(
    room, consultation, notification_socket
):
    doctor = consultation.doctor
    admin = await sync_to_async(UserFactory)(role="admin")
    patient_room = await room(consultation.patient)
    doctor_room = await room(doctor)
    doctor_inbox = await notification_socket(doctor)

    profile = await sync_to_async(lambda: doctor.doctor_profile)()
    await sync_to_async(reject_doctor)(admin, profile, reason="Licence expired")

    assert await doctor_room.closed(WITHIN_SECONDS) == 4403
    # The notifications socket stays, and carries the decision.
    assert (await doctor_inbox.expect("notification", timeout=WITHIN_SECONDS))["notification"]
    assert await still_open(doctor_inbox)
    assert await still_open(patient_room)


async def test_a_doctor_whose_verification_was_revoked_cannot_enter_again(room, consultation):
    admin = await sync_to_async(UserFactory)(role="admin")
    profile = await sync_to_async(lambda: consultation.doctor.doctor_profile)()
    await sync_to_async(reject_doctor)(admin, profile, reason="Licence expired")
    again = await room(consultation.doctor, expect_open=False)
    assert await again.closed() == 4403


async def test_a_token_refresh_closes_nothing(room, consultation, notification_socket):
    """Rotation blacklists the old refresh token too; it is not a logout."""
    patient = consultation.patient
    patient_room = await room(patient)
    patient_inbox = await notification_socket(patient)
    tokens = await sync_to_async(issue_tokens)(patient)

    await sync_to_async(rotate_refresh_token)(tokens["refresh"])

    await asyncio.sleep(0.5)
    assert await still_open(patient_room)
    assert await still_open(patient_inbox)


async def members_of(group: str) -> set[str]:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if hasattr(layer, "groups"):  # the in-memory layer
        return set(layer.groups.get(group, {}))
    connection = layer.connection(layer.consistent_hash(group))
    return {name.decode() for name in await connection.zrange(layer._group_key(group), 0, -1)}


async def test_sockets_join_the_users_group_and_leave_it_when_closed(room, consultation, notification_socket):
    patient = consultation.patient
    group = revocation.sockets_group(patient.pk)
    sockets = [await room(patient), await notification_socket(patient)]
    refused = await room(patient, consultation_id=NOT_A_CONSULTATION, expect_open=False)
    assert await refused.closed() == 4404
    assert len(await members_of(group)) == 2  # the refused socket never joined

    await sync_to_async(revocation.close_user_sockets)(patient.pk, revocation.CLOSE_SIGNED_OUT)
    for client in sockets:
        assert await client.closed(WITHIN_SECONDS) == 4401
    assert await members_of(group) == set()


@pytest.mark.redis
async def test_sockets_close_when_another_process_revokes(room, consultation, notification_socket):
    """Another server process (here a plain Python process on the same Redis) does the revoking."""
    patient = consultation.patient
    patient_room = await room(patient)
    patient_inbox = await notification_socket(patient)
    doctor_room = await room(consultation.doctor)

    code = (
        "import django; django.setup()\n"
        "from signaling import revocation\n"
        f"revocation.close_user_sockets({str(patient.pk)!r}, revocation.CLOSE_SIGNED_OUT)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "telehealth.settings"}
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", code, cwd=ROOT, env=env)
    assert await asyncio.wait_for(process.wait(), 60) == 0

    assert await patient_room.closed(WITHIN_SECONDS) == 4401
    assert await patient_inbox.closed(WITHIN_SECONDS) == 4401
    assert await still_open(doctor_room)
