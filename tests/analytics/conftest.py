"""Fixtures of the analytics tests: the clock frozen at ``seed.NOW``, the seeded data set, staff
clients (``ada`` reads in Asia/Kolkata, ``alan`` in UTC), and helpers to read the envelope.

``seeded`` builds on ``frozen_now``: the data set describes the platform as of ``seed.NOW``, so
"today" and the default windows are seed.NOW's.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from tests.analytics import seed


@pytest.fixture
def frozen_now(monkeypatch):
    """``django.utils.timezone.now()`` answers ``seed.NOW`` (model field defaults that captured the
    function itself still use the real clock: the seed sets those fields explicitly)."""
    monkeypatch.setattr("django.utils.timezone.now", lambda: seed.NOW)
    return seed.NOW


@pytest.fixture
def seeded(db, frozen_now) -> seed.Seeded:
    return seed.build(frozen_now)


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks) -> Callable:
    """``with on_commit(): ...`` runs what the block left for after commit (cache invalidation)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _client_for(user) -> APIClient:
    from telehealth.accounts.services import issue_tokens

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_tokens(user)['access']}")
    return client


@pytest.fixture
def ada(seeded) -> APIClient:
    """The seeded admin in Asia/Kolkata."""
    return _client_for(seeded.staff["ada"])


@pytest.fixture
def alan(seeded) -> APIClient:
    """The seeded admin in UTC."""
    return _client_for(seeded.staff["alan"])


@pytest.fixture
def sam(seeded) -> APIClient:
    """The seeded superadmin in America/New_York."""
    return _client_for(seeded.staff["sam"])


@pytest.fixture
def staff_client(client_for, admin_user) -> APIClient:
    """An admin of the shared cast (UTC), for tests without the seeded data."""
    return client_for(admin_user)
