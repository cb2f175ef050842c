"""/api/notifications/: each user's own inbox, read state, unread count."""

from __future__ import annotations

import pytest

from telehealth.notifications import services

pytestmark = pytest.mark.django_db

URL = "/api/notifications/"


def _notify(user, title="Hello", kind="appointment_booked", **fields):
    return services.notify(user, kind, title=title, **fields)


def test_lists_only_my_notifications_newest_first(client_for, patient, other_patient):
    first, second = _notify(patient, "one"), _notify(patient, "two")
    _notify(other_patient, "for Bob")
    response = client_for(patient).get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert [n["id"] for n in body["data"]["results"]] == [second.pk, first.pk]
    assert body["data"]["results"][0] == {
        "id": second.pk,
        "kind": "appointment_booked",
        "title": "two",
        "body": "",
        "data": {},
        "created_at": body["data"]["results"][0]["created_at"],
        "read": False,
        "read_at": None,
    }


def test_someone_elses_notification_is_not_found(client_for, patient, other_patient):
    theirs = _notify(other_patient, "for Bob")
    client = client_for(patient)
    for response in (client.get(f"{URL}{theirs.pk}/"), client.post(f"{URL}{theirs.pk}/read/")):
        assert response.status_code == 404
        assert response.json()["success"] is False
        assert "for Bob" not in response.content.decode()
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_anonymous_gets_401(api_client):
    assert api_client.get(URL).status_code == 401
    assert api_client.get(f"{URL}unread-count/").status_code == 401


def test_unread_filter_read_one_mark_some_and_read_all(client_for, patient, other_patient):
    notes = [_notify(patient, f"n{i}") for i in range(4)]
    bobs = _notify(other_patient)
    client = client_for(patient)

    read_one = client.post(f"{URL}{notes[0].pk}/read/")
    assert read_one.json()["data"] == {"marked": 1, "unread": 3}
    again = client.post(f"{URL}{notes[0].pk}/read/")
    assert again.json()["data"] == {"marked": 0, "unread": 3}

    some = client.post(f"{URL}mark-read/", {"ids": [notes[1].pk, bobs.pk]}, format="json")
    assert some.json()["data"] == {"marked": 1, "unread": 2}
    bobs.refresh_from_db()
    assert bobs.read_at is None

    unread = client.get(URL, {"unread": "true"}).json()["data"]["results"]
    assert {n["id"] for n in unread} == {notes[2].pk, notes[3].pk}
    count = client.get(f"{URL}unread-count/").json()["data"]
    assert count == {"unread": 2, "latest_id": notes[3].pk}

    assert client.post(f"{URL}read-all/").json()["data"] == {"marked": 2, "unread": 0}
    assert client_for(other_patient).get(f"{URL}unread-count/").json()["data"]["unread"] == 1


def test_after_id_and_kind_filters(client_for, patient):
    old = _notify(patient, kind="payment_succeeded")
    new = _notify(patient, kind="prescription_issued")
    client = client_for(patient)
    after = client.get(URL, {"after_id": old.pk}).json()["data"]["results"]
    assert [n["id"] for n in after] == [new.pk]
    by_kind = client.get(URL, {"kind": "payment_succeeded"}).json()["data"]["results"]
    assert [n["id"] for n in by_kind] == [old.pk]


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "ids"), ({"ids": []}, "ids"), ({"ids": ["x"]}, "ids"), ({"ids": [0]}, "ids")],
)
def test_mark_read_validates_its_body(client_for, patient, body, field):
    response = client_for(patient).post(f"{URL}mark-read/", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]


def test_bad_filter_values_are_a_validation_error(client_for, patient):
    response = client_for(patient).get(URL, {"after_id": "abc"})
    assert response.status_code == 400
    assert response.json()["success"] is False


def test_same_dedupe_key_is_stored_once(patient):
    assert _notify(patient, dedupe_key="reminder-24h:1") is not None
    assert _notify(patient, dedupe_key="reminder-24h:1") is None
    assert services.inbox_of(patient).count() == 1
