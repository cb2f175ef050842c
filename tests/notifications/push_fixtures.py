"""Fixtures for device push: the three fake providers on loopback, backends pointed at them,
``live_push`` (settings routing every platform to its fake), a browser's side of a Web Push
subscription, and devices of the cast.

Test modules import the fixtures with ``from tests.notifications.push_fixtures import *``. Nothing here
reaches the internet: ``loopback_only`` refuses any lookup or connection off this machine.
"""

from __future__ import annotations

import base64
import ipaddress
import itertools
import json
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import http_ece
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from telehealth.notifications import services
from telehealth.notifications.models import Device, Notification
from telehealth.notifications.push import reset_backends
from telehealth.notifications.push.apns import APNsBackend
from telehealth.notifications.push.fcm import FCMBackend
from telehealth.notifications.push.webpush import WebPushBackend
from tests.notifications.fakes.apns_server import FakeAPNs, running_fake_apns
from tests.notifications.fakes.fcm_server import FakeFCM, running_fake_fcm
from tests.notifications.fakes.tls import LoopbackCertificate, make_loopback_certificate
from tests.notifications.fakes.webpush_server import FakePushService, running_fake_push_service

# The fixtures, for ``import *``; helpers (WebSubscriber, b64url, fcm_token, VAPID_SUBJECT) are
# imported by name.
__all__ = [
    "android_device",
    "apns_backend",
    "fake_apns",
    "fake_fcm",
    "fake_push_service",
    "fcm_backend",
    "inline_retries",
    "ios_device",
    "live_push",
    "loopback_certificate",
    "loopback_only",
    "make_notification",
    "subscriber",
    "vapid_key",
    "vapid_raw",
    "web_device",
    "webpush_backend",
]

VAPID_SUBJECT = "mailto:push@telehealth.example.com"
_tokens = itertools.count(1)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def fcm_token() -> str:
    """A registration token shaped like FCM's (``<instance id>:APA91b<...>``)."""
    return f"d{next(_tokens):05d}X:APA91b{secrets.token_urlsafe(100)}"


def _is_loopback(host: Any) -> bool:
    if host is None or host in ("localhost", b"localhost"):
        return True
    if isinstance(host, bytes):
        host = host.decode()
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture
def loopback_only(monkeypatch) -> list[str]:
    """Refuse, and record, every DNS lookup or connection that would leave the machine."""
    blocked: list[str] = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if not _is_loopback(host):
            blocked.append(str(host))
            raise socket.gaierror(f"test refused a lookup of {host!r}: tests stay on loopback")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock, address):
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            blocked.append(str(address[0]))
            raise ConnectionRefusedError(f"test refused a connection to {address!r}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return blocked


# --- fake providers and backends pointed at them ---------------------------------------------------


@pytest.fixture
def loopback_certificate(tmp_path) -> LoopbackCertificate:
    return make_loopback_certificate(tmp_path)


@pytest.fixture
def fake_fcm() -> Iterator[FakeFCM]:
    with running_fake_fcm() as fake:
        yield fake


@pytest.fixture
def fake_apns(loopback_certificate) -> Iterator[FakeAPNs]:
    with running_fake_apns(loopback_certificate) as fake:
        yield fake


@pytest.fixture
def fake_push_service() -> Iterator[FakePushService]:
    with running_fake_push_service() as fake:
        yield fake


@pytest.fixture
def vapid_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def vapid_raw(vapid_key) -> str:
    """The VAPID private key as web-push tools print it: base64url of the raw 32 bytes."""
    return b64url(vapid_key.private_numbers().private_value.to_bytes(32, "big"))


@pytest.fixture
def fcm_backend(fake_fcm) -> Iterator[FCMBackend]:
    backend = FCMBackend(credentials=fake_fcm.service_account_info(), api_base=fake_fcm.url, timeout=5)
    yield backend
    backend.close()


@pytest.fixture
def apns_backend(fake_apns) -> Iterator[APNsBackend]:
    backend = APNsBackend(
        key_id=fake_apns.key_id,
        team_id=fake_apns.team_id,
        private_key=fake_apns.private_key_pem(),
        topic=fake_apns.topic,
        host=fake_apns.host,
        port=fake_apns.port,
        ca_file=str(fake_apns.certificate.cert_file),
        timeout=5,
    )
    yield backend
    backend.close()


@pytest.fixture
def webpush_backend(settings, vapid_raw) -> Iterator[WebPushBackend]:
    settings.WEB_PUSH_ALLOW_INSECURE_ENDPOINTS = True  # the fake push service is http on loopback
    backend = WebPushBackend(private_key=vapid_raw, subject=VAPID_SUBJECT, timeout=5)
    yield backend
    backend.close()


@pytest.fixture
def live_push(settings, fake_fcm, fake_apns, fake_push_service, vapid_raw) -> Iterator[SimpleNamespace]:
    """``PUSH_BACKEND=live`` with every provider's settings pointing at its fake."""
    settings.PUSH_BACKEND = "live"
    settings.FCM_CREDENTIALS = json.dumps(fake_fcm.service_account_info())
    settings.FCM_PROJECT_ID = ""
    settings.FCM_API_BASE = fake_fcm.url
    settings.APNS_KEY_ID = fake_apns.key_id
    settings.APNS_TEAM_ID = fake_apns.team_id
    settings.APNS_PRIVATE_KEY = fake_apns.private_key_pem()
    settings.APNS_TOPIC = fake_apns.topic
    settings.APNS_HOST = fake_apns.host
    settings.APNS_PORT = fake_apns.port
    settings.APNS_CA_FILE = str(fake_apns.certificate.cert_file)
    settings.VAPID_PRIVATE_KEY = vapid_raw
    settings.VAPID_SUBJECT = VAPID_SUBJECT
    settings.WEB_PUSH_ALLOW_INSECURE_ENDPOINTS = True
    settings.PUSH_TIMEOUT_SECONDS = 5
    yield SimpleNamespace(fcm=fake_fcm, apns=fake_apns, web=fake_push_service)
    reset_backends()  # close connections before the fakes stop


@pytest.fixture
def inline_retries():
    """Eager tasks run their retries inline (``task.apply()``) instead of raising ``Retry`` to the
    caller, which ``task_eager_propagates`` makes them do."""
    from telehealth.celery import app

    before = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = before


# --- a browser's side of a Web Push subscription ------------------------------------------------------


@dataclass
class WebSubscriber:
    """What a browser keeps for a push subscription: its ECDH key pair and auth secret."""

    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    auth: bytes = field(default_factory=lambda: secrets.token_bytes(16))

    def keys(self) -> dict[str, str]:
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"p256dh": b64url(public), "auth": b64url(self.auth)}

    def decrypt(self, body: bytes) -> Any:
        """The service worker's view of a push: RFC 8291 decryption with the browser's keys."""
        return json.loads(
            http_ece.decrypt(body, private_key=self.key, auth_secret=self.auth, version="aes128gcm")
        )


@pytest.fixture
def subscriber() -> WebSubscriber:
    return WebSubscriber()


# --- devices and notifications ------------------------------------------------------------------------


@pytest.fixture
def android_device(patient) -> Device:
    return services.register_device(patient, services.DeviceRegistration("android", fcm_token()))


@pytest.fixture
def ios_device(patient) -> Device:
    return services.register_device(patient, services.DeviceRegistration("ios", secrets.token_hex(32)))


@pytest.fixture
def web_device(patient, fake_push_service, subscriber) -> Device:
    return services.register_device(
        patient,
        services.DeviceRegistration("web", fake_push_service.new_endpoint(), web_push_keys=subscriber.keys()),
    )


@pytest.fixture
def make_notification():
    """``make_notification(user, **fields)``: a stored notification, not delivered (tasks run it)."""

    def make(user, **fields) -> Notification:
        fields.setdefault("kind", "appointment_confirmed")
        fields.setdefault("title", "Appointment confirmed")
        fields.setdefault("body", "See you on Monday.")
        fields.setdefault(
            "data",
            {
                "consultation_id": "5f2b7c3e-0000-4000-8000-000000000001",
                "room": "/ws/consultations/5f2b/",
                "n": 3,
            },
        )
        return Notification.objects.create(recipient=user, **fields)

    return make
