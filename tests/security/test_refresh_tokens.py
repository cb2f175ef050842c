"""Refresh tokens: a rotated or logged-out token is refused, and racing refreshes of one token
yield at most one new pair."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from telehealth.accounts import services
from telehealth.accounts.services import issue_tokens
from telehealth.api.errors import ServiceError

pytestmark = pytest.mark.django_db

REFRESH = "/api/auth/refresh/"
LOGOUT = "/api/auth/logout/"


def test_rotation_and_blacklisting_are_switched_on(settings):
    assert settings.SIMPLE_JWT["ROTATE_REFRESH_TOKENS"] is True
    assert settings.SIMPLE_JWT["BLACKLIST_AFTER_ROTATION"] is True
    assert "rest_framework_simplejwt.token_blacklist" in settings.INSTALLED_APPS


def test_rotated_token_is_refused_and_blacklisted(api_client, patient):
    old = issue_tokens(patient)["refresh"]
    new = api_client.post(REFRESH, {"refresh": old}).json()["data"]["refresh"]

    replay = api_client.post(REFRESH, {"refresh": old})

    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "TOKEN_INVALID"
    assert replay.json().get("data") is None
    assert BlacklistedToken.objects.filter(token__jti=RefreshToken(new, verify=False)["jti"]).count() == 0
    assert BlacklistedToken.objects.filter(token__jti=RefreshToken(old, verify=False)["jti"]).count() == 1


def test_every_token_of_a_chain_is_single_use(api_client, patient):
    tokens = [issue_tokens(patient)["refresh"]]
    for _ in range(3):
        tokens.append(api_client.post(REFRESH, {"refresh": tokens[-1]}).json()["data"]["refresh"])

    assert [api_client.post(REFRESH, {"refresh": t}).status_code for t in tokens[:-1]] == [401, 401, 401]
    assert api_client.post(REFRESH, {"refresh": tokens[-1]}).status_code == 200


def test_logged_out_token_is_refused(api_client, patient):
    refresh = issue_tokens(patient)["refresh"]
    assert api_client.post(LOGOUT, {"refresh": refresh}).status_code == 200

    response = api_client.post(REFRESH, {"refresh": refresh})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "TOKEN_INVALID"


def test_logout_after_rotation_does_not_revive_anything(api_client, patient):
    old = issue_tokens(patient)["refresh"]
    new = api_client.post(REFRESH, {"refresh": old}).json()["data"]["refresh"]

    assert api_client.post(LOGOUT, {"refresh": old}).status_code == 401
    assert api_client.post(LOGOUT, {"refresh": new}).status_code == 200
    assert api_client.post(REFRESH, {"refresh": new}).status_code == 401


def test_refresh_of_a_token_never_recorded_as_outstanding_is_refused(patient):
    # A validly signed token the server has no record of (e.g. its row was flushed) is not traded.
    refresh = RefreshToken.for_user(patient)
    OutstandingToken.objects.filter(jti=refresh["jti"]).delete()

    with pytest.raises(ServiceError) as exc:
        services.rotate_refresh_token(str(refresh))
    assert exc.value.status == 401


def _race(workers: int, attempt: Callable[[], int]) -> list[int]:
    """Run ``attempt`` on ``workers`` threads released together; each thread has its own
    database connection (Django's are per thread), closed when it is done."""
    barrier = threading.Barrier(workers)
    results: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            status = attempt()
            with lock:
                results.append(status)
        except BaseException as exc:  # reported below, not swallowed by the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_http_refreshes_yield_at_most_one_success(patient):
    assert connection.vendor == "postgresql"
    refresh = issue_tokens(patient)["refresh"]

    statuses = _race(8, lambda: APIClient().post(REFRESH, {"refresh": refresh}).status_code)

    assert sorted(statuses) == [200] + [401] * 7
    assert BlacklistedToken.objects.filter(token__jti=RefreshToken(refresh, verify=False)["jti"]).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_service_refreshes_yield_at_most_one_pair(patient):
    assert connection.vendor == "postgresql"
    refresh = issue_tokens(patient)["refresh"]
    before = OutstandingToken.objects.count()

    def attempt() -> int:
        try:
            services.rotate_refresh_token(refresh)
        except ServiceError as exc:
            return exc.status
        return 200

    statuses = _race(6, attempt)

    assert statuses.count(200) <= 1
    assert statuses.count(200) == 1  # and the race does not lock everyone out
    assert OutstandingToken.objects.count() == before + 1  # exactly one new refresh token issued


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_logout_racing_refreshes_leaves_the_old_token_dead(patient):
    assert connection.vendor == "postgresql"
    refresh = issue_tokens(patient)["refresh"]
    calls = iter(["logout"] + ["refresh"] * 4)
    calls_lock = threading.Lock()

    def attempt() -> int:
        with calls_lock:
            call = next(calls)
        path = LOGOUT if call == "logout" else REFRESH
        return APIClient().post(path, {"refresh": refresh}).status_code

    statuses = _race(5, attempt)

    assert statuses.count(200) <= 2  # the logout and at most one refresh
    assert APIClient().post(REFRESH, {"refresh": refresh}).status_code == 401
