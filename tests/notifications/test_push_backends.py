"""Each push backend against its fake provider on loopback: the exact request it sends (checked
independently: signatures, tokens, encryption) and how it reads each kind of answer."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from urllib.parse import urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from telehealth.notifications.push import Outcome, PushMessage
from telehealth.notifications.push.apns import APNsBackend
from telehealth.notifications.push.fcm import FCMBackend
from telehealth.notifications.push.webpush import WebPushBackend, load_vapid_key, vapid_public_key
from tests.notifications.fakes.fcm_server import SCOPE, TOKEN_AUDIENCE, fcm_error
from tests.notifications.push_fixtures import *  # noqa: F403  (fixtures)
from tests.notifications.push_fixtures import VAPID_SUBJECT, WebSubscriber, b64url

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("loopback_only")]

DATA = {"notification_id": 41, "kind": "appointment_confirmed", "consultation_id": "c-1", "amount": 50000}


def message(**fields) -> PushMessage:
    fields.setdefault("title", "Appointment confirmed")
    fields.setdefault("body", "See you on Monday.")
    fields.setdefault("data", DATA)
    fields.setdefault("collapse_id", "notification-41")
    fields.setdefault("expires_at", timezone.now() + timedelta(hours=1))
    return PushMessage(**fields)


# --- FCM HTTP v1 ---------------------------------------------------------------------------------------


def test_fcm_sends_a_v1_message_with_an_access_token_from_the_service_account(
    fcm_backend, fake_fcm, android_device
):
    result = fcm_backend.send(android_device, message())

    assert result.outcome == Outcome.SENT
    assert result.detail.startswith(f"projects/{fake_fcm.project_id}/messages/")
    [grant] = fake_fcm.token_requests()
    claims = jwt.decode(
        grant.body["assertion"],
        fake_fcm.key.public_key(),
        algorithms=["RS256"],
        audience=TOKEN_AUDIENCE,
        issuer=fake_fcm.client_email,
    )
    assert SCOPE in claims["scope"].split()
    assert claims["exp"] - claims["iat"] <= 3600
    [send] = fake_fcm.sends()
    assert send.path == f"/v1/projects/{fake_fcm.project_id}/messages:send"
    assert send.headers["authorization"] == f"Bearer {fake_fcm.issued[0]}"
    android = send.body["message"].pop("android")
    assert send.body == {
        "message": {
            "token": android_device.token,
            "notification": {"title": "Appointment confirmed", "body": "See you on Monday."},
            # FCM data values are strings: non-strings travel as JSON.
            "data": {
                "notification_id": "41",
                "kind": "appointment_confirmed",
                "consultation_id": "c-1",
                "amount": "50000",
            },
        }
    }
    assert android["priority"] == "HIGH"
    assert android["collapse_key"] == android["notification"]["tag"] == "notification-41"
    assert 3590 <= int(android["ttl"].removesuffix("s")) <= 3600


def test_fcm_reuses_its_access_token(fcm_backend, fake_fcm, android_device):
    for _ in range(3):
        assert fcm_backend.send(android_device, message()).outcome == Outcome.SENT

    assert len(fake_fcm.token_requests()) == 1
    assert len(fake_fcm.delivered()) == 3


def test_fcm_gets_a_new_access_token_when_the_old_one_is_refused(fcm_backend, fake_fcm, android_device):
    fcm_backend.send(android_device, message())
    fake_fcm.revoked.add(fake_fcm.issued[0])

    result = fcm_backend.send(android_device, message())

    assert result.outcome == Outcome.SENT
    assert len(fake_fcm.token_requests()) == 2
    assert [r.status for r in fake_fcm.sends()] == [200, 401, 200]
    assert fake_fcm.sends()[-1].headers["authorization"] == f"Bearer {fake_fcm.issued[1]}"


@pytest.mark.parametrize("outcome_of", ["unregistered", "malformed"])
def test_fcm_dead_tokens_are_invalid(fcm_backend, fake_fcm, android_device, outcome_of):
    getattr(fake_fcm, outcome_of).add(android_device.token)

    result = fcm_backend.send(android_device, message())

    assert result.outcome == Outcome.INVALID_TOKEN
    assert ("UNREGISTERED" if outcome_of == "unregistered" else "INVALID_ARGUMENT") in result.detail


def test_fcm_sender_id_mismatch_is_an_invalid_token(fcm_backend, fake_fcm, android_device):
    fake_fcm.fail_next(
        403, fcm_error(403, "PERMISSION_DENIED", "SenderId mismatch", error_code="SENDER_ID_MISMATCH")
    )

    assert fcm_backend.send(android_device, message()).outcome == Outcome.INVALID_TOKEN


def test_fcm_invalid_argument_about_the_payload_does_not_blame_the_token(
    fcm_backend, fake_fcm, android_device
):
    fake_fcm.fail_next(400, fcm_error(400, "INVALID_ARGUMENT", "Invalid value at 'message.android.ttl'"))

    result = fcm_backend.send(android_device, message())

    assert result.outcome == Outcome.FAILED


@pytest.mark.parametrize(("status", "retry_after"), [(503, None), (500, None), (429, 120.0)])
def test_fcm_overload_and_server_errors_are_transient(
    fcm_backend, fake_fcm, android_device, status, retry_after
):
    fake_fcm.fail_next(status, headers={"Retry-After": "120"} if retry_after else None)

    result = fcm_backend.send(android_device, message())

    assert (result.outcome, result.retry_after) == (Outcome.RETRY, retry_after)


def test_fcm_unreachable_is_transient(fake_fcm, android_device):
    backend = FCMBackend(
        credentials=fake_fcm.service_account_info(), api_base="http://127.0.0.1:9", timeout=2
    )

    assert backend.send(android_device, message()).outcome == Outcome.RETRY


def test_fcm_refused_credentials_are_a_failure_not_a_dead_token(fake_fcm, android_device):
    info = fake_fcm.service_account_info()
    info["client_email"] = "someone-else@example.iam.gserviceaccount.com"
    backend = FCMBackend(credentials=info, api_base=fake_fcm.url, timeout=2)

    result = backend.send(android_device, message())

    assert result.outcome == Outcome.FAILED
    assert "credentials refused" in result.detail


def test_fcm_reads_credentials_from_a_file(fake_fcm, android_device, tmp_path, settings):
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps(fake_fcm.service_account_info()))
    settings.FCM_CREDENTIALS = str(path)
    settings.FCM_API_BASE = fake_fcm.url

    assert FCMBackend().send(android_device, message()).outcome == Outcome.SENT


@pytest.mark.parametrize(
    ("credentials", "complaint"),
    [
        ("", "needs FCM_CREDENTIALS"),
        ("/nonexistent/sa.json", "could not read"),
        ("{not json", "not a service"),
    ],
)
def test_fcm_without_usable_credentials_is_improperly_configured(settings, credentials, complaint):
    settings.FCM_CREDENTIALS = credentials

    with pytest.raises(ImproperlyConfigured, match=complaint):
        FCMBackend()


# --- APNs over HTTP/2 ------------------------------------------------------------------------------------


def test_apns_sends_over_http2_with_an_es256_provider_token(apns_backend, fake_apns, ios_device):
    msg = message()

    result = apns_backend.send(ios_device, msg)

    assert result.outcome == Outcome.SENT
    assert result.detail.startswith("apns-id ")
    assert fake_apns.connections == ["h2"]
    [sent] = fake_apns.requests
    assert (sent.method, sent.path) == ("POST", f"/3/device/{ios_device.token}")
    token = sent.headers["authorization"].removeprefix("bearer ")
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": fake_apns.key_id, "typ": "JWT"}
    claims = jwt.decode(token, fake_apns.key.public_key(), algorithms=["ES256"])
    assert claims["iss"] == fake_apns.team_id
    assert abs(claims["iat"] - time.time()) < 60
    assert sent.headers["apns-topic"] == fake_apns.topic
    assert sent.headers["apns-push-type"] == "alert"
    assert sent.headers["apns-priority"] == "10"
    assert sent.headers["apns-expiration"] == str(int(msg.expires_at.timestamp()))
    assert sent.headers["apns-collapse-id"] == "notification-41"
    assert sent.body == {
        "aps": {
            "alert": {"title": "Appointment confirmed", "body": "See you on Monday."},
            "sound": "default",
        },
        "data": DATA,
    }


def test_apns_keeps_one_connection_and_one_provider_token(apns_backend, fake_apns, ios_device):
    for _ in range(3):
        assert apns_backend.send(ios_device, message()).outcome == Outcome.SENT

    assert fake_apns.connections == ["h2"]
    assert len({r.headers["authorization"] for r in fake_apns.requests}) == 1


def test_apns_renews_a_provider_token_it_calls_expired(apns_backend, fake_apns, ios_device):
    apns_backend.send(ios_device, message())
    first = fake_apns.requests[0].headers["authorization"].removeprefix("bearer ")
    fake_apns.rejected_provider_tokens.add(first)

    assert apns_backend.send(ios_device, message()).outcome == Outcome.SENT
    assert [r.status for r in fake_apns.requests] == [200, 403, 200]
    assert fake_apns.requests[-1].headers["authorization"] != f"bearer {first}"


@pytest.mark.parametrize(
    ("kind", "reason"), [("unregistered", "410 Unregistered"), ("bad_tokens", "400 BadDeviceToken")]
)
def test_apns_dead_tokens_are_invalid(apns_backend, fake_apns, ios_device, kind, reason):
    getattr(fake_apns, kind).add(ios_device.token)

    result = apns_backend.send(ios_device, message())

    assert (result.outcome, result.detail) == (Outcome.INVALID_TOKEN, f"APNs {reason}")


@pytest.mark.parametrize(
    ("status", "reason", "outcome"),
    [
        (503, "ServiceUnavailable", Outcome.RETRY),
        (500, "InternalServerError", Outcome.RETRY),
        (429, "TooManyRequests", Outcome.RETRY),
        (413, "PayloadTooLarge", Outcome.FAILED),
        (400, "DeviceTokenNotForTopic", Outcome.INVALID_TOKEN),
    ],
)
def test_apns_errors(apns_backend, fake_apns, ios_device, status, reason, outcome):
    fake_apns.fail_next(status, reason)

    assert apns_backend.send(ios_device, message()).outcome == outcome


def test_apns_refuses_a_server_it_cannot_verify(fake_apns, ios_device):
    backend = APNsBackend(
        key_id=fake_apns.key_id,
        team_id=fake_apns.team_id,
        private_key=fake_apns.private_key_pem(),
        topic=fake_apns.topic,
        host=fake_apns.host,
        port=fake_apns.port,
        ca_file="",  # the system CAs do not know the fake's certificate
        timeout=5,
    )

    result = backend.send(ios_device, message())
    backend.close()

    assert result.outcome == Outcome.RETRY
    assert fake_apns.requests == []


def test_apns_without_settings_names_what_is_missing(settings):
    settings.APNS_KEY_ID = settings.APNS_PRIVATE_KEY = ""
    settings.APNS_TEAM_ID, settings.APNS_TOPIC = "DEF123GHIJ", "com.example.telehealth"

    with pytest.raises(ImproperlyConfigured, match="needs APNS_KEY_ID, APNS_PRIVATE_KEY"):
        APNsBackend()


def test_apns_refuses_a_key_that_is_not_p256(settings):
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = (
        rsa.generate_private_key(65537, 2048)
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )

    with pytest.raises(ImproperlyConfigured, match="P-256"):
        APNsBackend(key_id="K", team_id="T", topic="com.example.app", private_key=pem)


# --- Web Push (VAPID) -----------------------------------------------------------------------------------


def test_webpush_encrypts_for_the_browser_and_signs_with_vapid(
    webpush_backend, fake_push_service, web_device, subscriber, vapid_key
):
    msg = message()

    result = webpush_backend.send(web_device, msg)

    assert result.outcome == Outcome.SENT
    [sent] = fake_push_service.requests
    assert sent.path == urlsplit(web_device.token).path
    assert sent.headers["content-encoding"] == "aes128gcm"
    assert 3590 <= int(sent.headers["ttl"]) <= 3600
    assert sent.headers["urgency"] == "high"
    assert sent.headers["topic"] == "notification-41"
    assert subscriber.decrypt(sent.body) == {
        "title": "Appointment confirmed",
        "body": "See you on Monday.",
        "data": DATA,
    }
    scheme, _, params = sent.headers["authorization"].partition(" ")
    parts = dict(item.split("=", 1) for item in params.split(","))
    public = vapid_key.public_key()
    assert scheme == "vapid"
    assert parts["k"] == b64url(
        public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    claims = jwt.decode(parts["t"], public, algorithms=["ES256"], audience=fake_push_service.url)
    assert claims["sub"] == VAPID_SUBJECT
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600


def test_webpush_body_is_unreadable_without_the_browsers_keys(webpush_backend, fake_push_service, web_device):
    webpush_backend.send(web_device, message())

    [sent] = fake_push_service.requests
    assert b"Appointment" not in sent.body
    with pytest.raises(Exception):  # noqa: B017, PT011  (http_ece raises several types)
        WebSubscriber().decrypt(sent.body)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (410, Outcome.INVALID_TOKEN),
        (404, Outcome.INVALID_TOKEN),
        (429, Outcome.RETRY),
        (502, Outcome.RETRY),
        (400, Outcome.FAILED),
        (413, Outcome.FAILED),
    ],
)
def test_webpush_answers(webpush_backend, fake_push_service, web_device, status, outcome):
    fake_push_service.fail_next(status, headers={"Retry-After": "30"})

    result = webpush_backend.send(web_device, message())

    assert result.outcome == outcome
    if outcome == Outcome.RETRY:
        assert result.retry_after == 30.0


def test_webpush_a_dropped_subscription_is_invalid(webpush_backend, fake_push_service, web_device):
    fake_push_service.drop(web_device.token)

    result = webpush_backend.send(web_device, message())

    assert (result.outcome, result.detail) == (Outcome.INVALID_TOKEN, "Web Push 410: Gone")


def test_webpush_does_not_follow_redirects(webpush_backend, fake_push_service, web_device):
    fake_push_service.redirect_to = "http://127.0.0.1:9/internal"

    result = webpush_backend.send(web_device, message())

    assert result.outcome == Outcome.FAILED
    assert len(fake_push_service.requests) == 1


def test_webpush_refuses_endpoints_on_private_addresses_without_sending(webpush_backend, web_device):
    web_device.token = "https://10.0.0.7/push/sub-1"

    result = webpush_backend.send(web_device, message())

    assert result.outcome == Outcome.INVALID_TOKEN
    assert "private" in result.detail


def test_webpush_refuses_plain_http_loopback_unless_allowed(
    webpush_backend, fake_push_service, web_device, settings
):
    settings.WEB_PUSH_ALLOW_INSECURE_ENDPOINTS = False
    settings.DEBUG = False

    result = webpush_backend.send(web_device, message())

    assert result.outcome == Outcome.INVALID_TOKEN
    assert fake_push_service.requests == []


def test_vapid_key_as_pem_or_raw_is_the_same_key(vapid_key, vapid_raw, settings):
    pem = vapid_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    escaped = pem.replace("\n", "\\n")  # as it arrives from a one-line env file

    numbers = {load_vapid_key(v).private_numbers().private_value for v in (pem, escaped, vapid_raw)}
    assert numbers == {vapid_key.private_numbers().private_value}
    settings.VAPID_PRIVATE_KEY = escaped
    public = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), __import__("base64").urlsafe_b64decode(vapid_public_key() + "=")
    )
    assert public.public_numbers() == vapid_key.public_key().public_numbers()


@pytest.mark.parametrize(
    ("key", "subject", "complaint"),
    [
        ("", VAPID_SUBJECT, "needs VAPID_PRIVATE_KEY"),
        ("bm90IGEga2V5", VAPID_SUBJECT, "P-256"),
        ("raw", "push@example.com", "VAPID_SUBJECT must be"),
    ],
)
def test_webpush_configuration_errors(vapid_raw, key, subject, complaint, settings):
    settings.VAPID_PRIVATE_KEY, settings.VAPID_SUBJECT = (vapid_raw if key == "raw" else key), subject

    with pytest.raises(ImproperlyConfigured, match=complaint):
        WebPushBackend()
