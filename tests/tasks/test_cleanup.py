"""Housekeeping: finished login codes, expired refresh tokens and expired sessions are deleted;
nothing that can still be used is."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from telehealth.accounts import services, tasks
from telehealth.accounts.models import PhoneOTP

pytestmark = pytest.mark.django_db

PHONE = "+919812345678"


@pytest.fixture
def now():
    return timezone.now()


def otp(now, *, age: timedelta, **fields) -> PhoneOTP:
    """A code created ``age`` ago with the default five-minute life unless ``expires_at`` says."""
    created = now - age
    fields.setdefault("expires_at", created + timedelta(minutes=5))
    return PhoneOTP.objects.create(phone=PHONE, code_hash="x" * 64, created_at=created, **fields)


def test_codes_finished_longer_ago_than_the_retention_are_purged(now):
    usable = otp(now, age=timedelta(minutes=1))
    expired_recently = otp(now, age=timedelta(hours=2))
    used_recently = otp(now, age=timedelta(minutes=2), consumed_at=now - timedelta(minutes=1))
    otp(now, age=timedelta(days=2))  # expired long ago
    otp(now, age=timedelta(days=2), consumed_at=now - timedelta(days=2))
    otp(now, age=timedelta(days=3), invalidated_at=now - timedelta(days=3))

    assert services.purge_expired_otps(now=now) == 3

    assert set(PhoneOTP.objects.all()) == {usable, expired_recently, used_recently}


def test_the_otp_retention_is_a_setting(settings, now):
    settings.OTP_RETENTION_HOURS = 1
    otp(now, age=timedelta(hours=2))

    assert services.purge_expired_otps(now=now) == 1
    assert services.purge_expired_otps(now=now) == 0


def test_a_used_code_can_be_purged_before_it_would_have_expired(now):
    """Replaced and used codes are finished the moment that happens, not at ``expires_at``."""
    otp(
        now, age=timedelta(days=2), invalidated_at=now - timedelta(days=2), expires_at=now + timedelta(days=1)
    )

    assert services.purge_expired_otps(now=now) == 1


def refresh_token(user, *, expires_in: timedelta, now) -> OutstandingToken:
    token = RefreshToken.for_user(user)
    outstanding = OutstandingToken.objects.get(jti=token["jti"])
    outstanding.expires_at = now + expires_in
    outstanding.save(update_fields=["expires_at"])
    return outstanding


def test_expired_refresh_tokens_and_their_blacklist_entries_are_flushed(patient, now):
    live = refresh_token(patient, expires_in=timedelta(days=1), now=now)
    live_revoked = refresh_token(patient, expires_in=timedelta(days=1), now=now)
    expired = refresh_token(patient, expires_in=-timedelta(seconds=1), now=now)
    expired_revoked = refresh_token(patient, expires_in=-timedelta(days=3), now=now)
    for token in (live_revoked, expired_revoked):
        BlacklistedToken.objects.create(token=token)

    assert services.flush_expired_tokens(now=now) == 2

    assert set(OutstandingToken.objects.all()) == {live, live_revoked}
    assert expired not in OutstandingToken.objects.all()
    # A token that can still be presented stays revoked.
    assert list(BlacklistedToken.objects.values_list("token_id", flat=True)) == [live_revoked.pk]


def test_expired_sessions_are_cleared(now):
    Session.objects.create(session_key="a" * 32, session_data="", expire_date=now - timedelta(seconds=1))
    Session.objects.create(session_key="b" * 32, session_data="", expire_date=now + timedelta(days=1))

    tasks.clear_expired_sessions.delay().get()

    assert list(Session.objects.values_list("session_key", flat=True)) == ["b" * 32]


def test_the_cleanup_tasks_run_on_the_real_clock(patient, now):
    otp(now, age=timedelta(days=2))
    otp(now, age=timedelta(seconds=10))
    refresh_token(patient, expires_in=-timedelta(minutes=1), now=now)
    refresh_token(patient, expires_in=timedelta(days=1), now=now)

    assert tasks.purge_expired_otps.delay().get() == 1
    assert tasks.flush_expired_tokens.delay().get() == 1
    assert (PhoneOTP.objects.count(), OutstandingToken.objects.count()) == (1, 1)
