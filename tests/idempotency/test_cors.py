"""Browsers may send the header cross-origin and read the replay marker."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def cors(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]


def test_preflight_allows_the_idempotency_key_header(api_client, cors):
    response = api_client.options(
        "/api/auth/send-otp/",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type, idempotency-key",
    )

    assert "idempotency-key" in response["Access-Control-Allow-Headers"].lower()


def test_replay_marker_is_exposed_to_browsers(api_client, cors):
    response = api_client.get("/health/", HTTP_ORIGIN="https://app.example.com")

    assert "idempotent-replayed" in response["Access-Control-Expose-Headers"].lower()
