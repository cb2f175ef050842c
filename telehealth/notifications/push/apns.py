"""iOS pushes through Apple Push Notification service, over HTTP/2 with token-based auth.

``POST https://{APNS_HOST}:{APNS_PORT}/3/device/{token}`` on one long-lived HTTP/2 connection (as
Apple asks), authorised by an ES256 provider token signed with the ``.p8`` key (``APNS_KEY_ID``,
``APNS_TEAM_ID``). The provider token is reused for 50 minutes: Apple refuses tokens older than an
hour and throttles providers that mint them more often than every 20 minutes.

``410 Unregistered``, ``400 BadDeviceToken`` and ``400 DeviceTokenNotForTopic`` deactivate the
device. ``BadDeviceToken`` is also what a development token gets from the production host: keep
``APNS_HOST`` matching the app build (``api.sandbox.push.apple.com`` for development builds); an app
re-registering at launch reactivates its token.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from typing import Any
from urllib.parse import quote

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from telehealth.notifications.models import Device
from telehealth.notifications.push.base import (
    PushBackend,
    PushMessage,
    PushResult,
    inline_or_file,
    retry_after_seconds,
    short,
)

PROVIDER_TOKEN_MAX_AGE = 50 * 60
_DEAD_TOKEN_REASONS = {"Unregistered", "BadDeviceToken", "DeviceTokenNotForTopic"}
_STALE_PROVIDER_TOKEN_REASONS = {"ExpiredProviderToken", "InvalidProviderToken"}


def load_signing_key(pem: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"APNS_PRIVATE_KEY is not a PEM private key (.p8): {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ImproperlyConfigured("APNS_PRIVATE_KEY must be the P-256 (ES256) .p8 key from Apple.")
    return key


class APNsBackend(PushBackend):
    name = "apns"

    def __init__(
        self,
        *,
        key_id: str | None = None,
        team_id: str | None = None,
        private_key: str | None = None,
        topic: str | None = None,
        host: str | None = None,
        port: int | None = None,
        ca_file: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.key_id = key_id or settings.APNS_KEY_ID
        self.team_id = team_id or settings.APNS_TEAM_ID
        self.topic = topic or settings.APNS_TOPIC
        pem = private_key or settings.APNS_PRIVATE_KEY
        missing = [
            name
            for name, value in (
                ("APNS_KEY_ID", self.key_id),
                ("APNS_TEAM_ID", self.team_id),
                ("APNS_PRIVATE_KEY", pem),
                ("APNS_TOPIC", self.topic),
            )
            if not value
        ]
        if missing:
            raise ImproperlyConfigured(
                f"PUSH_BACKEND=live sends iOS pushes through APNs and needs {', '.join(missing)}."
            )
        self._signing_key = load_signing_key(
            inline_or_file(pem, setting="APNS_PRIVATE_KEY", inline_marker="-----BEGIN", pem=True)
        )
        host = host or settings.APNS_HOST
        port = port or settings.APNS_PORT
        context = ssl.create_default_context(cafile=(ca_file or settings.APNS_CA_FILE) or None)
        self.client = httpx.Client(
            base_url=f"https://{host}:{port}",
            http2=True,
            verify=context,
            timeout=timeout or settings.PUSH_TIMEOUT_SECONDS,
        )
        self._lock = threading.Lock()
        self._token: str | None = None
        self._token_issued = 0.0

    def provider_token(self, *, renew: bool = False) -> str:
        with self._lock:
            now = time.time()
            if renew or self._token is None or now - self._token_issued > PROVIDER_TOKEN_MAX_AGE:
                self._token = jwt.encode(
                    {"iss": self.team_id, "iat": int(now)},
                    self._signing_key,
                    algorithm="ES256",
                    headers={"kid": self.key_id},
                )
                self._token_issued = now
            return self._token

    def payload(self, message: PushMessage) -> dict[str, Any]:
        alert = {"title": message.title}
        if message.body:
            alert["body"] = message.body
        return {"aps": {"alert": alert, "sound": "default"}, "data": message.data}

    def headers(self, message: PushMessage, token: str) -> dict[str, str]:
        return {
            "authorization": f"bearer {token}",
            "apns-topic": self.topic,
            "apns-push-type": "alert",
            "apns-priority": "10",
            # After this moment APNs drops the push instead of storing it for an offline device.
            "apns-expiration": str(int(message.expires_at.timestamp())),
            "apns-collapse-id": message.collapse_id,
        }

    def send(self, device: Device, message: PushMessage) -> PushResult:
        body = json.dumps(self.payload(message), separators=(",", ":")).encode()
        path = f"/3/device/{quote(device.token, safe='')}"
        renew = False
        for _ in range(2):
            try:
                response = self.client.post(
                    path, content=body, headers=self.headers(message, self.provider_token(renew=renew))
                )
            except httpx.HTTPError as exc:
                return PushResult.retry(f"APNs unreachable: {type(exc).__name__}")
            reason = _reason(response)
            if response.status_code == 403 and reason in _STALE_PROVIDER_TOKEN_REASONS and not renew:
                renew = True
                continue
            break
        if response.status_code == 200:
            return PushResult.sent(f"apns-id {response.headers.get('apns-id', '')}".strip())
        detail = short(f"APNs {response.status_code} {reason}")
        if reason in _DEAD_TOKEN_REASONS or response.status_code == 410:
            return PushResult.invalid_token(detail)
        if response.status_code == 429 or response.status_code >= 500:
            return PushResult.retry(
                detail, retry_after=retry_after_seconds(response.headers.get("retry-after"))
            )
        return PushResult.failed(detail)

    def close(self) -> None:
        self.client.close()


def _reason(response: httpx.Response) -> str:
    if not response.content:
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("reason", "")) if isinstance(body, dict) else ""
