from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from telehealth.accounts.services import issue_tokens
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REFRESH = "/api/auth/refresh/"
LOGOUT = "/api/auth/logout/"
PROFILE = "/api/auth/profile/"


def bearer(access: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_tokens_carry_the_role(login, new_phone):
    data = login(new_phone)
    assert AccessToken(data["access"])["role"] == "patient"
    assert RefreshToken(data["refresh"])["role"] == "patient"


def test_doctor_token_says_doctor(doctor):
    assert AccessToken(issue_tokens(doctor)["access"])["role"] == "doctor"


def test_access_token_opens_the_profile(login, new_phone):
    data = login(new_phone)
    response = bearer(data["access"]).get(PROFILE)
    assert response.status_code == 200
    assert response.json()["data"]["phone"] == new_phone


def test_refresh_rotates_and_old_refresh_is_refused(api_client, patient):
    tokens = issue_tokens(patient)
    first = api_client.post(REFRESH, {"refresh": tokens["refresh"]})
    assert first.status_code == 200
    rotated = first.json()["data"]
    assert rotated["refresh"] != tokens["refresh"]
    assert AccessToken(rotated["access"])["role"] == "patient"

    replay = api_client.post(REFRESH, {"refresh": tokens["refresh"]})
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "TOKEN_INVALID"
    assert api_client.post(REFRESH, {"refresh": rotated["refresh"]}).status_code == 200


def test_refresh_picks_up_a_changed_role(api_client, patient):
    tokens = issue_tokens(patient)
    patient.role = "doctor"
    patient.save()
    rotated = api_client.post(REFRESH, {"refresh": tokens["refresh"]}).json()["data"]
    assert AccessToken(rotated["access"])["role"] == "doctor"


def test_access_token_is_not_a_refresh_token(api_client, patient):
    response = api_client.post(REFRESH, {"refresh": issue_tokens(patient)["access"]})
    assert response.status_code == 401


def test_garbage_refresh_is_refused(api_client):
    response = api_client.post(REFRESH, {"refresh": "not.a.jwt"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "TOKEN_INVALID"


def test_refresh_needs_a_token(api_client):
    response = api_client.post(REFRESH, {})
    assert response.status_code == 400
    assert "refresh" in response.json()["error"]["details"]


def test_logout_blacklists_the_refresh_token(api_client, patient):
    tokens = issue_tokens(patient)
    response = api_client.post(LOGOUT, {"refresh": tokens["refresh"]})
    assert response.status_code == 200
    assert response.json()["message"] == "Logged out."
    refused = api_client.post(REFRESH, {"refresh": tokens["refresh"]})
    assert refused.status_code == 401
    assert api_client.post(LOGOUT, {"refresh": tokens["refresh"]}).status_code == 401


def test_logout_all_devices_revokes_every_refresh_token(api_client, patient):
    phone_tokens = issue_tokens(patient)
    laptop_tokens = issue_tokens(patient)
    other = issue_tokens(UserFactory())
    api_client.post(LOGOUT, {"refresh": phone_tokens["refresh"], "all_devices": True})
    assert api_client.post(REFRESH, {"refresh": laptop_tokens["refresh"]}).status_code == 401
    assert api_client.post(REFRESH, {"refresh": other["refresh"]}).status_code == 200


def test_deactivated_user_tokens_stop_working(api_client, patient):
    tokens = issue_tokens(patient)
    patient.is_active = False
    patient.save()
    response = bearer(tokens["access"]).get(PROFILE)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_FAILED"
    assert api_client.post(REFRESH, {"refresh": tokens["refresh"]}).status_code == 401


def test_expired_access_token_is_refused(patient):
    token = AccessToken.for_user(patient)
    token.set_exp(lifetime=-timedelta(seconds=1))
    response = bearer(str(token)).get(PROFILE)
    assert response.status_code == 401
    assert response.json()["error"]["details"]["reason"] == "token_not_valid"


def test_token_signed_with_another_key_is_refused(patient, settings):
    forged = AccessToken.for_user(patient)
    forged_str = str(forged)
    header, payload, signature = forged_str.split(".")
    tampered = ".".join([header, payload, signature[::-1]])
    assert bearer(tampered).get(PROFILE).status_code == 401


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_with_one_token_yield_one_success(patient):
    assert connection.vendor == "postgresql"
    tokens = issue_tokens(patient)
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def refresh() -> None:
        client = APIClient()
        barrier.wait()
        statuses.append(client.post(REFRESH, {"refresh": tokens["refresh"]}).status_code)
        connection.close()

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 401, 401, 401]
