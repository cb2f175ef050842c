"""``Idempotency-Key`` on POST: one run per key, retries get the stored answer."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from telehealth.idempotency import services
from telehealth.idempotency.models import IdempotencyRecord, KeyState
from tests.api.helpers import error_of, success_data
from tests.idempotency.conftest import CHARGE

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.idempotency.urls")]


def post(client, body, key=None, path=CHARGE, **extra):
    if key is not None:
        extra["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(path, body, format="json", **extra)


# --- Replay --------------------------------------------------------------------------------------


def test_first_request_runs_and_is_not_marked_replayed(alice, key, runs):
    response = post(alice, {"amount": 500}, key)

    assert success_data(response, 201) == {"amount": 500, "run": 1}
    assert "Idempotent-Replayed" not in response
    record = IdempotencyRecord.objects.get()
    assert record.state == KeyState.COMPLETED
    assert (record.status_code, record.key, record.method, record.path) == (201, key, "POST", CHARGE)


def test_retry_with_same_key_and_body_replays_without_running(alice, key, runs):
    first = post(alice, {"amount": 500}, key)

    retry = post(alice, {"amount": 500}, key)

    assert retry.status_code == 201
    assert retry["Idempotent-Replayed"] == "true"
    assert retry["Content-Type"] == first["Content-Type"]
    assert retry.content == first.content  # the very bytes, timestamp included
    assert runs.count == 1


def test_replay_ignores_key_order_and_whitespace_of_the_json_body(alice, key, runs):
    def send(raw: str):
        return alice.post(CHARGE, raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)

    send(json.dumps({"amount": 500, "note": "x"}))
    retry = send('{ "note" : "x",\n  "amount": 500 }')

    assert retry["Idempotent-Replayed"] == "true"
    assert runs.count == 1


def test_validation_error_is_stored_and_replayed_too(alice, key, runs):
    first = post(alice, {"amount": 0}, key)
    error_of(first, 400, "VALIDATION_ERROR")

    retry = post(alice, {"amount": 0}, key)

    assert retry.status_code == 400
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.content == first.content
    assert runs.count == 1


def test_multipart_retry_with_same_file_replays(alice, key, runs):
    def upload(content: bytes):
        return alice.post(
            "/api/test-idem/upload/",
            {"title": "scan", "file": SimpleUploadedFile("scan.pdf", content)},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY=key,
        )

    assert success_data(upload(b"%PDF-1.4 one"), 201)["size"] == 12
    retry = upload(b"%PDF-1.4 one")  # a new multipart boundary, the same content

    assert retry["Idempotent-Replayed"] == "true"
    error_of(upload(b"%PDF-1.4 two"), 409, "IDEMPOTENCY_KEY_REUSED")
    assert runs.count == 1


def test_viewset_create_and_post_actions_are_idempotent(alice, key, runs):
    create = post(alice, {"amount": 1}, key, path="/api/test-idem/viewset/")
    refund = post(alice, {}, key, path="/api/test-idem/viewset/refund/")  # another path: another key

    assert post(alice, {"amount": 1}, key, path="/api/test-idem/viewset/")["Idempotent-Replayed"] == "true"
    assert post(alice, {}, key, path="/api/test-idem/viewset/refund/")["Idempotent-Replayed"] == "true"
    assert (create.status_code, refund.status_code, runs.count) == (201, 200, 2)


# --- Conflicts -----------------------------------------------------------------------------------


def test_same_key_with_different_body_is_409_reused(alice, key, runs):
    post(alice, {"amount": 500}, key)

    response = post(alice, {"amount": 501}, key)

    error = error_of(response, 409, "IDEMPOTENCY_KEY_REUSED")
    assert error["details"] == {"idempotency_key": key}
    assert "Idempotent-Replayed" not in response
    assert runs.count == 1


def test_key_still_in_progress_is_409(alice, patient, key, runs):
    services.claim_idempotency_key(
        patient, method="POST", path=CHARGE, key=key, fingerprint=_fingerprint({"amount": 500})
    )

    response = post(alice, {"amount": 500}, key)

    error = error_of(response, 409, "IDEMPOTENCY_KEY_IN_PROGRESS")
    assert error["details"] == {"idempotency_key": key, "retry_after": 1}
    assert response["Retry-After"] == "1"
    assert runs.count == 0


def test_different_body_while_in_progress_is_409_reused(alice, patient, key, runs):
    services.claim_idempotency_key(
        patient, method="POST", path=CHARGE, key=key, fingerprint=_fingerprint({"amount": 500})
    )

    error_of(post(alice, {"amount": 9}, key), 409, "IDEMPOTENCY_KEY_REUSED")


def test_abandoned_in_progress_key_is_taken_over(alice, patient, key, runs):
    services.claim_idempotency_key(
        patient,
        method="POST",
        path=CHARGE,
        key=key,
        fingerprint=_fingerprint({"amount": 500}),
        now=timezone.now() - services.ABANDONED_AFTER - timedelta(seconds=1),
    )

    response = post(alice, {"amount": 500}, key)

    assert success_data(response, 201)["run"] == 1
    assert IdempotencyRecord.objects.get().state == KeyState.COMPLETED


# --- Scope ---------------------------------------------------------------------------------------


def test_another_user_with_the_same_key_runs_normally(alice, bob, key, runs):
    post(alice, {"amount": 500}, key)

    response = post(bob, {"amount": 700}, key)

    assert success_data(response, 201) == {"amount": 700, "run": 2}
    assert "Idempotent-Replayed" not in response
    assert IdempotencyRecord.objects.count() == 2


def test_another_user_with_same_key_and_body_does_not_get_the_first_users_response(alice, bob, key, runs):
    post(alice, {"amount": 500}, key)

    response = post(bob, {"amount": 500}, key)

    assert "Idempotent-Replayed" not in response
    assert runs.count == 2


def test_same_key_on_another_endpoint_is_another_key(alice, key, runs):
    post(alice, {"amount": 500}, key)

    response = post(alice, {"amount": 500}, key, path="/api/test-idem/charge-again/")

    assert "Idempotent-Replayed" not in response
    assert runs.count == 2


def test_anonymous_callers_share_the_anonymous_scope(api_client, key, runs):
    path = "/api/test-idem/anonymous/"
    post(api_client, {"amount": 5}, key, path=path)

    retry = post(api_client, {"amount": 5}, key, path=path)

    assert retry["Idempotent-Replayed"] == "true"
    assert IdempotencyRecord.objects.get().user is None


def test_refused_request_does_not_use_up_the_key(api_client, alice, key, runs):
    error_of(post(api_client, {"amount": 500}, key), 401, "AUTHENTICATION_FAILED")

    assert not IdempotencyRecord.objects.exists()
    assert success_data(post(alice, {"amount": 500}, key), 201)["run"] == 1


# --- Failures release the key ----------------------------------------------------------------------


def test_exception_releases_the_key_so_a_retry_runs(alice, key, runs):
    runs.crash_next = True

    error_of(post(alice, {"amount": 500}, key), 500, "SERVER_ERROR")
    assert not IdempotencyRecord.objects.exists()

    retry = post(alice, {"amount": 500}, key)
    assert success_data(retry, 201)["run"] == 2
    assert "Idempotent-Replayed" not in retry


def test_5xx_response_releases_the_key_so_a_retry_runs(alice, key, runs):
    runs.answer_503_next = True

    error_of(post(alice, {"amount": 500}, key), 503, "SERVICE_UNAVAILABLE")
    assert not IdempotencyRecord.objects.exists()

    assert success_data(post(alice, {"amount": 500}, key), 201)["run"] == 2


# --- Expiry --------------------------------------------------------------------------------------


def test_record_expires_after_the_configured_ttl(alice, key, settings):
    settings.IDEMPOTENCY_KEY_TTL_HOURS = 2
    before = timezone.now()

    post(alice, {"amount": 500}, key)

    record = IdempotencyRecord.objects.get()
    assert before + timedelta(hours=2) <= record.expires_at <= timezone.now() + timedelta(hours=2)


def test_expired_key_runs_afresh_even_with_another_body(alice, key, runs):
    post(alice, {"amount": 500}, key)
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = post(alice, {"amount": 600}, key)

    assert success_data(response, 201) == {"amount": 600, "run": 2}
    assert IdempotencyRecord.objects.get().status_code == 201


# --- The header itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_key",
    ["", " ", "has space", "x" * 256, "tab\there", "clé", "new\nline"],
    ids=["empty", "blank", "space", "too-long", "tab", "non-ascii", "newline"],
)
def test_malformed_key_is_400_validation_error(alice, bad_key, runs):
    response = post(alice, {"amount": 500}, bad_key)

    error = error_of(response, 400, "VALIDATION_ERROR")
    assert list(error["details"]) == ["Idempotency-Key"]
    assert "255" in error["details"]["Idempotency-Key"][0]
    assert runs.count == 0
    assert not IdempotencyRecord.objects.exists()


def test_longest_allowed_key_works(alice, runs):
    key = "k" * 255

    post(alice, {"amount": 500}, key)

    assert post(alice, {"amount": 500}, key)["Idempotent-Replayed"] == "true"


def test_without_a_key_every_request_runs(alice, runs):
    first = post(alice, {"amount": 500})
    second = post(alice, {"amount": 500})

    assert success_data(first, 201)["run"] == 1
    assert success_data(second, 201)["run"] == 2
    assert "Idempotent-Replayed" not in second
    assert not IdempotencyRecord.objects.exists()


def test_get_ignores_the_header(alice, key):
    assert success_data(alice.get(CHARGE, HTTP_IDEMPOTENCY_KEY=key)) == {"amount": 0}
    assert not IdempotencyRecord.objects.exists()


def test_view_may_require_the_header(alice, key, runs):
    error = error_of(post(alice, {"amount": 5}, path="/api/test-idem/strict/"), 400, "VALIDATION_ERROR")

    assert list(error["details"]) == ["Idempotency-Key"]
    assert runs.count == 0
    assert success_data(post(alice, {"amount": 5}, key, path="/api/test-idem/strict/"), 201)["run"] == 1


def _fingerprint(body) -> str:
    from types import SimpleNamespace

    from telehealth.idempotency.drf import request_fingerprint

    return request_fingerprint(SimpleNamespace(data=body))
