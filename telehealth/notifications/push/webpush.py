"""Browser pushes through Web Push (RFC 8030), encrypted (RFC 8291, aes128gcm) and signed with
VAPID (RFC 8292) by ``pywebpush``.

The device token is the subscription's endpoint URL, chosen by the browser's push service and sent
to us by the client, so it is an address our server will POST to: ``endpoint_problem`` refuses
anything but https to a public address (loopback over http only with
``WEB_PUSH_ALLOW_INSECURE_ENDPOINTS`` or ``DEBUG``), when the device registers and again, with
the name resolved, before every send; redirects are not followed.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from telehealth.notifications.models import Device
from telehealth.notifications.push.base import (
    PushBackend,
    PushMessage,
    PushResult,
    retry_after_seconds,
    short,
)

_DEAD_SUBSCRIPTION_STATUSES = {404, 410}


def b64url_decode(value: str) -> bytes:
    """Strict base64url with or without padding; raises ValueError."""
    text = value.strip().rstrip("=")
    if not text or any(c not in _B64URL for c in text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def allow_insecure_endpoints() -> bool:
    return bool(settings.WEB_PUSH_ALLOW_INSECURE_ENDPOINTS or settings.DEBUG)


def endpoint_problem(url: str, *, resolve: bool = False) -> str | None:
    """Why we must not POST to this subscription endpoint, or None if it looks like a push
    service. With ``resolve`` the host name is looked up and every address checked too."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "Not a valid URL."
    host = parts.hostname or ""
    if parts.scheme not in {"https", "http"} or not host:
        return "Must be an https URL."
    if parts.username is not None or parts.password is not None:
        return "Must not carry credentials."
    insecure_ok = allow_insecure_endpoints()
    if parts.scheme == "http" and not (insecure_ok and _is_loopback_name(host)):
        return "Must be an https URL."
    addresses: list[str] = []
    if _is_ip(host):
        addresses = [host]
    elif host.lower() == "localhost" or host.lower().endswith(".localhost"):
        addresses = ["127.0.0.1"]
    elif resolve:
        try:
            infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
        except OSError:
            return None  # unresolvable now: the send fails and is retried
        addresses = [str(info[4][0]) for info in infos]
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if ip.is_loopback and insecure_ok:
            continue
        if not ip.is_global:
            return "Must not point at a private, loopback or reserved address."
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_loopback_name(host: str) -> bool:
    if _is_ip(host):
        return ipaddress.ip_address(host).is_loopback
    return host.lower() == "localhost" or host.lower().endswith(".localhost")


def load_vapid_key(value: str) -> ec.EllipticCurvePrivateKey:
    """``VAPID_PRIVATE_KEY``: PEM (PKCS#8 or SEC1, ``\\n`` escapes allowed), or base64url of the
    raw 32-byte private number (what ``vapid --gen``/web-push tools print), or of its DER."""
    text = value.strip().replace("\\n", "\n")
    try:
        if "-----BEGIN" in text:
            key: Any = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            raw = b64url_decode(text)
            if len(raw) == 32:
                key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
            else:
                key = serialization.load_der_private_key(raw, password=None)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "VAPID_PRIVATE_KEY must be a P-256 private key: PEM, or base64url of the raw 32 bytes."
        ) from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ImproperlyConfigured("VAPID_PRIVATE_KEY must be a P-256 (prime256v1) key.")
    return key


@functools.lru_cache(maxsize=4)
def _public_key_of(private_key: str) -> str:
    public = load_vapid_key(private_key).public_key()
    return b64url_encode(
        public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )


def vapid_public_key() -> str | None:
    """The application server key browsers subscribe with (base64url), None when not configured."""
    return _public_key_of(settings.VAPID_PRIVATE_KEY) if settings.VAPID_PRIVATE_KEY else None


class WebPushBackend(PushBackend):
    name = "webpush"

    def __init__(
        self, *, private_key: str | None = None, subject: str | None = None, timeout: float | None = None
    ) -> None:
        from py_vapid import Vapid02, VapidException

        key = private_key or settings.VAPID_PRIVATE_KEY
        subject = subject or settings.VAPID_SUBJECT
        missing = [n for n, v in (("VAPID_PRIVATE_KEY", key), ("VAPID_SUBJECT", subject)) if not v]
        if missing:
            raise ImproperlyConfigured(
                f"PUSH_BACKEND=live sends browser pushes through Web Push and needs {', '.join(missing)}."
            )
        self.subject = subject
        self.vapid = Vapid02(load_vapid_key(key))
        try:  # py_vapid checks the subject only when signing: check it now, not at the first push
            self.vapid.sign({"sub": subject, "aud": "https://push.example.com"})
        except VapidException as exc:
            raise ImproperlyConfigured(
                f"VAPID_SUBJECT must be a mailto: address or an https: URL where push services can "
                f"reach you, got {subject!r}"
            ) from exc
        self.timeout = timeout or settings.PUSH_TIMEOUT_SECONDS
        self.session = requests.Session()
        # A push service answers; it never redirects. Following one would let a registered
        # endpoint bounce our POST to an address endpoint_problem() refused.
        self.session.max_redirects = 0

    def payload(self, message: PushMessage) -> str:
        """What the service worker's ``push`` event receives (``event.data.json()``)."""
        return json.dumps(
            {"title": message.title, "body": message.body, "data": message.data}, separators=(",", ":")
        )

    def send(self, device: Device, message: PushMessage) -> PushResult:
        from pywebpush import WebPushException, webpush

        problem = endpoint_problem(device.token, resolve=True)
        if problem:
            return PushResult.invalid_token(f"endpoint refused: {problem}")
        keys = device.web_push_keys or {}
        if not keys.get("p256dh") or not keys.get("auth"):
            return PushResult.invalid_token("subscription has no p256dh/auth keys")
        try:
            webpush(
                subscription_info={
                    "endpoint": device.token,
                    "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]},
                },
                data=self.payload(message),
                vapid_private_key=self.vapid,
                vapid_claims={"sub": self.subject},  # aud (the endpoint's origin) and exp are added
                ttl=message.ttl_seconds(),
                timeout=self.timeout,
                headers={"Urgency": "high", "Topic": message.collapse_id},
                requests_session=self.session,
            )
        except WebPushException as exc:
            return self._failure(exc)
        except requests.TooManyRedirects:
            return PushResult.failed("push service redirected; not followed")
        except requests.RequestException as exc:
            return PushResult.retry(f"push service unreachable: {type(exc).__name__}")
        except (ValueError, TypeError) as exc:  # keys that do not decode or are not a P-256 point
            return PushResult.invalid_token(f"subscription keys unusable: {type(exc).__name__}")
        return PushResult.sent()

    def _failure(self, exc: Any) -> PushResult:
        status = exc.status_code
        if status is None:  # raised before sending: the subscription itself is unusable
            return PushResult.invalid_token(short(f"subscription unusable: {exc.message}"))
        detail = short(f"Web Push {status}: {getattr(exc.response, 'reason', '')}")
        if status in _DEAD_SUBSCRIPTION_STATUSES:
            return PushResult.invalid_token(detail)
        if status == 429 or status >= 500:
            return PushResult.retry(detail, retry_after=retry_after_seconds(exc.retry_after))
        return PushResult.failed(detail)

    def close(self) -> None:
        self.session.close()
