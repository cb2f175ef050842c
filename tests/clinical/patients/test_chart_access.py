"""Who may read a patient's chart, collection by collection, and what a refusal reveals and logs."""

from __future__ import annotations

import pytest

from telehealth.audit.models import AuditEntry
from tests.clinical.patients.conftest import ROLES, SECRET, url

pytestmark = pytest.mark.django_db

HISTORY = [
    "conditions",
    "allergies",
    "surgeries",
    "family-history",
    "medications",
    "insurance",
    "emergency-contacts",
    "records",
]
READ = {
    "patient": 200,
    "other_patient": 404,
    "doctor": 200,
    "other_doctor": 404,
    "admin_user": 200,
    "superadmin": 200,
    "anonymous": 401,
}
NOTE_READ = {**READ, "patient": 403}


def _expected(collection: str, role: str) -> int:
    return (NOTE_READ if collection == "notes" else READ)[role]


@pytest.mark.parametrize("collection", [*HISTORY, "notes"])
@pytest.mark.parametrize("role", ROLES)
def test_chart_list_and_detail_follow_the_access_rules(as_role, patient, chart, collection, role):
    client = as_role(role)
    item = chart[collection]
    expected = _expected(collection, role)

    listing = client.get(url(patient, collection))
    detail = client.get(url(patient, collection, item.pk))

    assert listing.status_code == expected, listing.content
    assert detail.status_code == expected, detail.content
    if expected == 200:
        assert [row["id"] for row in listing.json()["data"]["results"]] == [item.pk]
        assert detail.json()["data"]["id"] == item.pk
        assert SECRET in detail.content.decode()
    else:
        assert SECRET not in listing.content.decode()
        assert SECRET not in detail.content.decode()
        assert listing.json()["success"] is False


@pytest.mark.parametrize("collection", [*HISTORY, "notes"])
@pytest.mark.parametrize("role", ["other_patient", "other_doctor"])
def test_outsider_cannot_read_chart_and_is_audited_as_denied(as_role, cast, patient, chart, collection, role):
    response = as_role(role).get(url(patient, collection, chart[collection].pk))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert SECRET not in response.content.decode()
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.subject, entry.action) == (cast[role], patient, "denied")
    assert entry.object_id == str(chart[collection].pk)


def test_anonymous_cannot_read_chart_and_nothing_is_logged(api_client, patient, chart):
    response = api_client.get(url(patient, "conditions"))

    assert response.status_code == 401
    assert SECRET not in response.content.decode()
    assert not AuditEntry.objects.exists()


def test_patient_cannot_read_notes_about_themselves(client_for, patient, chart):
    response = client_for(patient).get(url(patient, "notes"))

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"
    assert SECRET not in response.content.decode()


def test_patient_reading_their_own_chart_is_not_audited(client_for, patient, chart):
    for collection in HISTORY:
        assert client_for(patient).get(url(patient, collection)).status_code == 200
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("role", ["doctor", "admin_user", "superadmin"])
def test_each_read_of_another_persons_chart_writes_one_entry(as_role, cast, patient, chart, role):
    client = as_role(role)

    client.get(url(patient, "allergies"))
    client.get(url(patient, "allergies", chart["allergies"].pk))

    entries = list(AuditEntry.objects.order_by("at", "id"))
    assert [(e.action, e.resource, e.object_id) for e in entries] == [
        ("read", "allergy", ""),
        ("read", "allergy", str(chart["allergies"].pk)),
    ]
    assert {(e.actor, e.subject, e.actor_role) for e in entries} == {(cast[role], patient, cast[role].role)}


def test_item_of_another_patient_is_not_found_under_this_patient(client_for, patient, other_patient):
    from clinical.models import Condition

    theirs = Condition.objects.create(patient=other_patient, name=f"{SECRET} gout")

    response = client_for(patient).get(url(patient, "conditions", theirs.pk))

    assert response.status_code == 404
    assert SECRET not in response.content.decode()


def test_unknown_patient_is_not_found_and_denied_without_subject(client_for, doctor):
    import uuid

    missing = uuid.uuid4()
    response = client_for(doctor).get(f"/api/patients/{missing}/conditions/")

    assert response.status_code == 404
    entry = AuditEntry.objects.get()
    assert (entry.subject, entry.action, entry.object_id) == (None, "denied", str(missing))


def test_non_patients_are_not_found_under_patient_urls(client_for, other_doctor, admin_user):
    assert client_for(admin_user).get(url(other_doctor, "conditions")).status_code == 404
    assert client_for(admin_user).get(url(other_doctor)).status_code == 404


@pytest.mark.parametrize("collection", [*HISTORY, "notes"])
def test_chart_lists_run_a_constant_number_of_queries(
    client_for, django_assert_num_queries, doctor, patient, consultation, chart, collection
):
    item = chart[collection]
    model = type(item)
    client = client_for(doctor)
    # Token user, patient, consultation check, count, page, audit insert.
    with django_assert_num_queries(6):
        client.get(url(patient, collection))
    for _ in range(5):
        item.pk = None
        item.save()

    with django_assert_num_queries(6):
        response = client.get(url(patient, collection), {"page_size": 100})

    assert len(response.json()["data"]["results"]) == model.objects.filter(patient=patient).count() == 6
