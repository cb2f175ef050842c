"""The README "done when" flow against a real daphne, over real HTTP."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from tests.factories import phone_number

pytestmark = pytest.mark.live_server


def _otp_from_log(server, phone: str) -> str:
    match = server.wait_for_log(rf"SMS to {re.escape(phone)}: (\d+) is your Telehealth login code")
    return match.group(1)


def test_docs_otp_login_and_profile(daphne_server, django_db_blocker):
    phone = phone_number(7001)
    with httpx.Client(base_url=daphne_server.url, timeout=10) as client:
        docs = client.get("/api/docs/")
        assert docs.status_code == 200
        assert docs.headers["content-type"].startswith("text/html")
        assert "swagger" in docs.text.lower()
        # The Swagger UI assets come from the sidecar through WhiteNoise, also in the real server.
        script = re.search(r'<script src="([^"]+swagger-ui-bundle\.js)"', docs.text)
        assert script, docs.text[:2000]
        assert client.get(script.group(1)).status_code == 200

        sent = client.post("/api/auth/send-otp/", json={"phone": phone})
        assert sent.status_code == 200, sent.text
        assert sent.json()["success"] is True
        assert "code" not in sent.json()["data"]  # the code only travels by SMS

        code = _otp_from_log(daphne_server, phone)
        verified = client.post("/api/auth/verify-otp/", json={"phone": phone, "code": code})
        assert verified.status_code == 200, verified.text
        data = verified.json()["data"]
        assert data["access"]
        assert data["refresh"]
        assert data["created"] is True

        profile = client.get("/api/auth/profile/", headers={"Authorization": f"Bearer {data['access']}"})
        assert profile.status_code == 200, profile.text
        body = profile.json()
        assert body["success"] is True
        assert body["data"]["phone"] == phone

        anonymous = client.get("/api/auth/profile/")
        assert anonymous.status_code == 401
        assert anonymous.json()["success"] is False

    from django.db import connection

    from telehealth.accounts.models import User

    if connection.vendor == "postgresql":  # on SQLite daphne has its own database file
        with django_db_blocker.unblock():
            assert User.objects.filter(phone=phone).exists()


def test_health_request_id_and_json_404(daphne_server):
    with httpx.Client(base_url=daphne_server.url, timeout=10) as client:
        detailed = client.get("/health/detailed/")
        assert detailed.status_code == 200, detailed.text
        checks = detailed.json()["data"]["checks"]
        assert checks["database"]["status"] == "ok"
        assert checks["channel_layer"]["status"] == "ok"
        assert checks["redis"]["status"] in {"ok", "not_configured"}
        assert checks["celery"] == {"status": "not_configured", "mode": "eager"}
        assert re.fullmatch(r"[0-9a-f]{32}", detailed.headers["X-Request-ID"])

        proxy_id = uuid.uuid4().hex  # what nginx's $request_id looks like: kept
        echoed = client.get("/health/", headers={"X-Request-ID": proxy_id})
        assert echoed.headers["X-Request-ID"] == proxy_id
        forged = client.get("/health/", headers={"X-Request-ID": "x] ERROR forged <script>"})
        assert re.fullmatch(r"[0-9a-f]{32}", forged.headers["X-Request-ID"])

        missing = client.get("/api/does-not-exist/")
        assert missing.status_code == 404
        assert missing.headers["content-type"].startswith("application/json")
        assert "X-Request-ID" in missing.headers
        body = missing.json()
        assert body["success"] is False
        assert body["error"]["code"]
        assert body["error"]["details"]["path"] == "/api/does-not-exist/"
