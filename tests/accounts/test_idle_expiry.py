"""Idle sessions end as configured: JWT access tokens after ``JWT_ACCESS_LIFETIME_MINUTES``, staff
Django sessions (admin, ``/dashboard/``) after ``SESSION_IDLE_TIMEOUT_MINUTES`` without a request."""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from telehealth.accounts.services import issue_tokens
from tests.test_settings import load_settings
from tests.ws_connect import open_socket

pytestmark = pytest.mark.django_db

DASHBOARD = "/dashboard/"


def test_access_token_lifetime_comes_from_the_environment(monkeypatch):
    s = load_settings(monkeypatch, JWT_ACCESS_LIFETIME_MINUTES="7")
    assert s.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] == timedelta(minutes=7)


def test_issued_access_tokens_live_as_long_as_configured(patient, settings):
    token = AccessToken(issue_tokens(patient)["access"])
    assert token["exp"] - token["iat"] == settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()


def test_an_access_token_past_its_lifetime_is_refused_by_the_api(patient, settings):
    token = AccessToken.for_user(patient)
    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"]
    token.set_exp(from_time=timezone.now() - lifetime - timedelta(seconds=1), lifetime=lifetime)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.get("/api/auth/profile/")
    assert response.status_code == 401
    assert response.json()["error"]["details"]["reason"] == "token_not_valid"


@pytest.mark.django_db(transaction=True)
async def test_an_expired_access_token_cannot_open_the_notifications_socket(patient):
    token = AccessToken.for_user(patient)
    token.set_exp(lifetime=-timedelta(seconds=1))
    client = await open_socket("/ws/notifications/", str(token))
    try:
        assert await client.closed(5) == 4401
        assert client.frames == []
    finally:
        await client.leave()
    fresh = await open_socket("/ws/notifications/", (await sync_to_async(issue_tokens)(patient))["access"])
    try:
        assert (await fresh.receive(5))["type"] == "connected"
    finally:
        await fresh.leave()


# --- Staff sessions -----------------------------------------------------------------------------------


def test_session_idle_timeout_comes_from_the_environment(monkeypatch):
    s = load_settings(monkeypatch, SESSION_IDLE_TIMEOUT_MINUTES="20")
    assert s.SESSION_COOKIE_AGE == 20 * 60
    assert s.SESSION_SAVE_EVERY_REQUEST is True
    monkeypatch.delenv("SESSION_IDLE_TIMEOUT_MINUTES")
    assert load_settings(monkeypatch).SESSION_COOKIE_AGE == 30 * 60


@pytest.fixture
def staff_browser(admin_user) -> Client:
    browser = Client()
    browser.force_login(admin_user)
    return browser


def _session_expiry(browser: Client):
    return Session.objects.get(session_key=browser.session.session_key).expire_date


def test_every_request_pushes_the_idle_expiry_forward(staff_browser, settings):
    settings.SESSION_COOKIE_AGE = 20 * 60
    Session.objects.update(expire_date=timezone.now() + timedelta(seconds=30))
    assert staff_browser.get(DASHBOARD).status_code == 200
    left = _session_expiry(staff_browser) - timezone.now()
    assert timedelta(minutes=19) < left <= timedelta(minutes=20)


def test_an_idle_staff_session_is_signed_out(staff_browser):
    assert staff_browser.get(DASHBOARD).status_code == 200
    # As if SESSION_COOKIE_AGE passed without a request.
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = staff_browser.get(DASHBOARD)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert staff_browser.post("/dashboard/token/").status_code in {302, 401, 403}
