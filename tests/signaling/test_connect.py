from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from telehealth.accounts.services import issue_tokens, logout
from tests.factories import ConsultationFactory, UserFactory


async def test_patient_connects_with_subprotocol_token(room, consultation):
    client = await room(consultation.patient)
    assert client.subprotocol == "telehealth.v1"
    state = client.of_type("room_state")[0]
    assert state["consultation"]["id"] == str(consultation.pk)
    assert state["you"] == {"user_id": str(consultation.patient_id), "role": "patient", "status": "waiting"}
    assert client.of_type("ice_servers")


async def test_query_token_works_too(room, consultation):
    client = await room(consultation.doctor, via="query")
    assert client.of_type("room_state")[0]["you"]["role"] == "doctor"


async def test_no_token_closes_4401(room):
    client = await room(None, expect_open=False)
    assert await client.closed() == 4401


async def test_garbage_token_closes_4401(room):
    client = await room(None, token="not-a-jwt", expect_open=False)
    assert await client.closed() == 4401


async def test_expired_token_closes_4401(room, consultation):
    token = AccessToken.for_user(consultation.patient)
    token.set_exp(lifetime=-timedelta(seconds=1))
    client = await room(None, token=str(token), expect_open=False)
    assert await client.closed() == 4401


async def test_logged_out_session_closes_4401(room, consultation):
    from channels.db import database_sync_to_async as sync_to_async

    tokens = await sync_to_async(issue_tokens)(consultation.patient)
    await sync_to_async(logout)(tokens["refresh"])
    client = await room(None, token=tokens["access"], expect_open=False)
    assert await client.closed() == 4401


async def test_outsider_closes_4403(room):
    from channels.db import database_sync_to_async as sync_to_async

    outsider = await sync_to_async(UserFactory)(role="patient")
    client = await room(outsider, expect_open=False)
    assert await client.closed() == 4403


async def test_unknown_consultation_closes_4404(room, consultation):
    client = await room(
        consultation.patient, consultation_id="6f1c1f9e-0000-4000-8000-000000000000", expect_open=False
    )
    assert await client.closed() == 4404
    client = await room(consultation.patient, consultation_id="12", expect_open=False)
    assert await client.closed() == 4404


async def test_completed_consultation_closes_4409(room):
    from channels.db import database_sync_to_async as sync_to_async

    done = await sync_to_async(ConsultationFactory)(state="completed")
    client = await room(done.patient, consultation_id=done.pk, expect_open=False)
    assert await client.closed() == 4409


async def test_patient_outside_time_window_closes_4409_but_doctor_gets_in(room):
    from channels.db import database_sync_to_async as sync_to_async

    later = await sync_to_async(ConsultationFactory)(scheduled_start=timezone.now() + timedelta(days=1))
    client = await room(later.patient, consultation_id=later.pk, expect_open=False)
    assert await client.closed() == 4409
    host = await room(later.doctor, consultation_id=later.pk)
    assert host.of_type("room_state")


async def test_cross_site_origin_is_refused(room, consultation, settings):
    settings.WS_ALLOWED_ORIGINS = ["https://app.example.com"]
    client = await room(consultation.patient, origin="https://evil.example.net", expect_open=False)
    assert client.connected is False
    allowed = await room(consultation.patient, origin="https://app.example.com")
    assert allowed.connected


async def test_missing_origin_follows_policy(room, consultation, settings):
    settings.WS_ALLOW_MISSING_ORIGIN = False
    client = await room(consultation.patient, expect_open=False)
    assert client.connected is False


@pytest.mark.parametrize("turn", [True])
async def test_ice_servers_carry_time_limited_turn_credentials(room, consultation, settings, turn):
    import base64
    import hashlib
    import hmac

    settings.STUN_URLS = ["stun:stun.example.org:3478"]
    settings.TURN_URLS = ["turn:turn.example.org:3478?transport=udp"]
    settings.TURN_SECRET = "coturn-secret"
    settings.TURN_TTL_SECONDS = 7200
    client = await room(consultation.patient)
    frame = client.of_type("ice_servers")[0]
    stun, turn_server = frame["ice_servers"]
    assert stun == {"urls": ["stun:stun.example.org:3478"]}
    expiry, user_id = turn_server["username"].split(":")
    assert user_id == str(consultation.patient_id)
    expected = base64.b64encode(
        hmac.new(b"coturn-secret", turn_server["username"].encode(), hashlib.sha1).digest()
    ).decode()
    assert turn_server["credential"] == expected
    # Bounded by the slot (30 min + 30 min grace), not the 2 h TTL.
    slot_limit = consultation.scheduled_start + timedelta(minutes=60)
    assert int(expiry) <= int(slot_limit.timestamp()) + 1
    assert int(expiry) > int(timezone.now().timestamp())


async def test_token_expiring_during_the_call_does_not_cut_it(room, consultation):
    import asyncio

    token = AccessToken.for_user(consultation.doctor)
    token.set_exp(lifetime=timedelta(seconds=1))
    client = await room(None, token=str(token))
    await asyncio.sleep(1.5)
    assert (await client.request({"type": "ping", "id": "after-expiry"}))["type"] == "pong"
    # A reconnect needs a valid token.
    again = await room(None, token=str(token), expect_open=False)
    assert await again.closed() == 4401


def test_meeting_links_are_random_uuids(consultation):
    import uuid

    assert isinstance(consultation.pk, uuid.UUID)
    assert consultation.pk.version == 4
