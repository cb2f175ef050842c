"""/api/notifications/devices/: registering, refreshing, moving and removing push tokens, with
per-platform validation answered in the error envelope."""

from __future__ import annotations

import secrets

import pytest

from telehealth.notifications import services
from telehealth.notifications.models import Device
from tests.notifications.push_fixtures import WebSubscriber, b64url, fcm_token

pytestmark = pytest.mark.django_db

URL = "/api/notifications/devices/"
ENDPOINT = "https://fcm.googleapis.com/fcm/send/dpH5lCsTSSM:APA91bHqjZxM0VImWWqDRN"


@pytest.fixture
def alice(client_for, patient):
    return client_for(patient)


@pytest.fixture
def bob(client_for, other_patient):
    return client_for(other_patient)


@pytest.fixture
def web_subscription() -> dict:
    return {"platform": "web", "endpoint": ENDPOINT, "keys": WebSubscriber().keys()}


def validation_errors(response) -> dict:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "VALIDATION_ERROR"
    return body["error"]["details"]


# --- registering -----------------------------------------------------------------------------------------


def test_register_an_android_token(alice, patient):
    token = fcm_token()

    response = alice.post(URL, {"platform": "android", "token": token}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    device = Device.objects.get(user=patient)
    assert body["data"] == {
        "id": device.pk,
        "platform": "android",
        "token": token,
        "active": True,
        "deactivated_reason": "",
        "created_at": body["data"]["created_at"],
        "last_push_at": None,
    }


def test_registering_the_same_token_again_is_the_same_device(alice, patient):
    token = secrets.token_hex(32)

    first = alice.post(URL, {"platform": "ios", "token": token}, format="json")
    second = alice.post(URL, {"platform": "ios", "token": token.upper()}, format="json")

    assert first.status_code == second.status_code == 201
    assert first.json()["data"]["id"] == second.json()["data"]["id"]
    assert list(Device.objects.values_list("token", flat=True)) == [token]  # one spelling, lower case


def test_a_token_registered_by_another_account_moves_to_the_caller(alice, patient, other_patient):
    token = fcm_token()
    services.register_device(other_patient, services.DeviceRegistration("android", token))

    response = alice.post(URL, {"platform": "android", "token": token}, format="json")

    assert response.status_code == 201
    assert Device.objects.get(token=token).user == patient
    assert not Device.objects.filter(user=other_patient).exists()


def test_registering_a_deactivated_token_reactivates_it(alice, patient):
    device = services.register_device(patient, services.DeviceRegistration("android", fcm_token()))
    services.deactivate_device(device, "FCM 404 UNREGISTERED")

    response = alice.post(URL, {"platform": "android", "token": device.token}, format="json")

    device.refresh_from_db()
    assert response.json()["data"]["active"] is True
    assert (device.active, device.deactivated_reason) == (True, "")


def test_register_a_web_subscription(alice, patient, web_subscription):
    response = alice.post(URL, {**web_subscription, "expirationTime": None}, format="json")

    assert response.status_code == 201
    device = Device.objects.get(user=patient)
    assert (device.platform, device.token) == ("web", ENDPOINT)
    assert device.web_push_keys == web_subscription["keys"]
    assert "keys" not in response.json()["data"]


def test_loopback_http_endpoints_only_when_allowed(alice, web_subscription, settings):
    subscription = {**web_subscription, "endpoint": "http://127.0.0.1:8999/push/sub-1"}

    refused = alice.post(URL, subscription, format="json")
    settings.WEB_PUSH_ALLOW_INSECURE_ENDPOINTS = True
    accepted = alice.post(URL, subscription, format="json")

    assert validation_errors(refused) == {"endpoint": ["Must be an https URL."]}
    assert accepted.status_code == 201


# --- validation per platform ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"platform": "android", "token": "short"}, "token"),
        ({"platform": "android", "token": "x" * 40 + " spaces " + "y" * 40}, "token"),
        ({"platform": "android", "token": "a" * 4097}, "token"),
        ({"platform": "android"}, "token"),
        ({"platform": "ios", "token": "a" * 63}, "token"),
        ({"platform": "ios", "token": "g" * 64}, "token"),
        ({"platform": "ios", "token": "ab" * 32, "endpoint": ENDPOINT}, "endpoint"),
        ({"platform": "windows", "token": "ab" * 32}, "platform"),
        ({"token": "ab" * 32}, "platform"),
    ],
)
def test_tokens_are_checked_per_platform(alice, body, field):
    assert field in validation_errors(alice.post(URL, body, format="json"))
    assert not Device.objects.exists()


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"endpoint": "http://push.example.com/sub"}, "endpoint", "Must be an https URL."),
        ({"endpoint": "ftp://push.example.com/sub"}, "endpoint", "Must be an https URL."),
        ({"endpoint": "https://user:pw@push.example.com/sub"}, "endpoint", "Must not carry credentials."),
        ({"endpoint": "https://10.1.2.3/sub"}, "endpoint", "private"),
        ({"endpoint": "https://169.254.169.254/latest"}, "endpoint", "private"),
        ({"endpoint": "https://[::1]/sub"}, "endpoint", "private"),
        ({"endpoint": "https://localhost/sub"}, "endpoint", "private"),
        ({"endpoint": None}, "endpoint", "null"),
        ({"keys": None}, "keys", "null"),
        ({"token": ENDPOINT}, "token", "not token"),
    ],
)
def test_web_endpoints_must_be_public_https(alice, web_subscription, change, field, message):
    errors = validation_errors(alice.post(URL, {**web_subscription, **change}, format="json"))

    assert message in str(errors[field])


def test_web_subscription_without_endpoint_or_keys(alice):
    errors = validation_errors(alice.post(URL, {"platform": "web"}, format="json"))

    assert errors == {"endpoint": ["Required for web."], "keys": ["Required for web."]}


@pytest.mark.parametrize(
    ("keys", "field"),
    [
        ({"p256dh": b64url(b"\x04" + b"\x01" * 64), "auth": b64url(b"a" * 16)}, "p256dh"),  # not on the curve
        ({"p256dh": "not base64url!", "auth": b64url(b"a" * 16)}, "p256dh"),
        ({"auth": b64url(b"a" * 16)}, "p256dh"),
        ({"p256dh": WebSubscriber().keys()["p256dh"], "auth": b64url(b"a" * 15)}, "auth"),
    ],
)
def test_web_keys_must_be_a_p256_key_and_a_16_byte_secret(alice, web_subscription, keys, field):
    errors = validation_errors(alice.post(URL, {**web_subscription, "keys": keys}, format="json"))

    assert field in errors["keys"]


# --- listing and removing ---------------------------------------------------------------------------------


def test_list_shows_only_my_devices_and_the_vapid_key(alice, patient, other_patient, settings):
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    settings.VAPID_PRIVATE_KEY = b64url(key.private_numbers().private_value.to_bytes(32, "big"))
    mine = services.register_device(patient, services.DeviceRegistration("android", fcm_token()))
    services.deactivate_device(mine, "FCM 404 UNREGISTERED")
    services.register_device(other_patient, services.DeviceRegistration("android", fcm_token()))

    data = alice.get(URL).json()["data"]

    assert [(d["id"], d["active"], d["deactivated_reason"]) for d in data["devices"]] == [
        (mine.pk, False, "FCM 404 UNREGISTERED")
    ]
    assert len(data["web_push_public_key"]) == 87  # 65 bytes, base64url


def test_without_vapid_the_public_key_is_null(alice, settings):
    settings.VAPID_PRIVATE_KEY = ""

    assert alice.get(URL).json()["data"] == {"devices": [], "web_push_public_key": None}


def test_remove_my_device_by_body(alice, patient):
    device = services.register_device(patient, services.DeviceRegistration("android", fcm_token()))

    response = alice.delete(URL, {"token": device.token}, format="json")

    assert response.status_code == 204
    assert not Device.objects.filter(pk=device.pk).exists()


def test_remove_my_device_by_query_string(alice, patient):
    device = services.register_device(patient, services.DeviceRegistration("ios", secrets.token_hex(32)))

    response = alice.delete(f"{URL}?platform=ios&token={device.token.upper()}")

    assert response.status_code == 204
    assert not Device.objects.filter(pk=device.pk).exists()


def test_remove_a_web_subscription_by_endpoint(alice, patient, web_subscription):
    alice.post(URL, web_subscription, format="json")

    response = alice.delete(URL, {"endpoint": ENDPOINT}, format="json")

    assert response.status_code == 204
    assert not Device.objects.exists()


def test_someone_elses_token_is_not_found_and_stays(alice, other_patient):
    theirs = services.register_device(other_patient, services.DeviceRegistration("android", fcm_token()))

    response = alice.delete(URL, {"token": theirs.token, "platform": "android"}, format="json")

    assert response.status_code == 404
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert Device.objects.filter(pk=theirs.pk, active=True).exists()


def test_the_platform_narrows_the_removal(alice, patient):
    device = services.register_device(patient, services.DeviceRegistration("android", fcm_token()))

    response = alice.delete(URL, {"token": device.token, "platform": "web"}, format="json")

    assert response.status_code == 404
    assert Device.objects.filter(pk=device.pk).exists()


def test_remove_needs_a_token(alice):
    assert "token" in validation_errors(alice.delete(URL))


def test_anonymous_is_refused(api_client, patient):
    services.register_device(patient, services.DeviceRegistration("android", token := fcm_token()))

    responses = [
        api_client.get(URL),
        api_client.post(URL, {"platform": "android", "token": fcm_token()}, format="json"),
        api_client.delete(URL, {"token": token}, format="json"),
    ]

    assert [r.status_code for r in responses] == [401, 401, 401]
    assert {r.json()["error"]["code"] for r in responses} == {"AUTHENTICATION_FAILED"}
    assert Device.objects.count() == 1
