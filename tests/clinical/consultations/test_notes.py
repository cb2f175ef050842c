from __future__ import annotations

import pytest

from clinical.models import ConsultationNote
from telehealth.audit.models import AuditEntry
from tests.clinical.consultations.conftest import data_of, detail_url, error_of

pytestmark = pytest.mark.django_db

SECRET = "Suspect anxiety; revisit next time"


@pytest.fixture
def noted(booked, doctor):
    ConsultationNote.objects.create(consultation=booked, author=doctor, text=SECRET)
    return booked


@pytest.mark.parametrize("role", ["doctor", "admin_user", "superadmin"])
def test_care_team_reads_the_notes(as_role, patient, noted, role):
    response = as_role(role).get(detail_url(noted, "notes/"))

    assert response.status_code == 200
    assert [n["text"] for n in data_of(response)["results"]] == [SECRET]
    entry = AuditEntry.objects.get()
    assert (entry.subject, entry.action, entry.resource) == (patient, "read", "consultation_note")


@pytest.mark.parametrize("role", ["doctor", "admin_user"])
def test_care_team_adds_notes(as_role, request, noted, role):
    response = as_role(role).post(
        detail_url(noted, "notes/"), {"text": "Follow up in 2 weeks"}, format="json"
    )

    assert response.status_code == 201
    data = data_of(response)
    assert data["author"]["id"] == str(request.getfixturevalue(role).pk)
    assert ConsultationNote.objects.filter(consultation=noted).count() == 2
    assert AuditEntry.objects.filter(action="create", resource="consultation_note").count() == 1


def test_notes_come_oldest_first(client_for, doctor, noted):
    client_for(doctor).post(detail_url(noted, "notes/"), {"text": "second"}, format="json")

    texts = [n["text"] for n in data_of(client_for(doctor).get(detail_url(noted, "notes/")))["results"]]

    assert texts == [SECRET, "second"]


def test_patient_does_not_see_doctors_notes(client_for, patient, noted):
    response = client_for(patient).get(detail_url(noted, "notes/"))

    assert response.status_code == 403
    assert SECRET not in response.content.decode()


def test_patient_cannot_write_doctors_notes(client_for, patient, noted):
    response = client_for(patient).post(detail_url(noted, "notes/"), {"text": "hi"}, format="json")

    assert response.status_code == 403
    assert ConsultationNote.objects.count() == 1


@pytest.mark.parametrize(
    ("role", "status"), [("other_patient", 404), ("other_doctor", 404), ("anonymous", 401)]
)
def test_other_people_cannot_read_notes(as_role, request, patient, noted, role, status):
    response = as_role(role).get(detail_url(noted, "notes/"))

    assert response.status_code == status
    assert SECRET not in response.content.decode()
    if role != "anonymous":
        entry = AuditEntry.objects.get()
        assert (entry.actor, entry.subject, entry.action) == (
            request.getfixturevalue(role),
            patient,
            "denied",
        )


@pytest.mark.parametrize(("role", "status"), [("other_doctor", 404), ("anonymous", 401)])
def test_other_people_cannot_write_notes(as_role, noted, role, status):
    response = as_role(role).post(detail_url(noted, "notes/"), {"text": "hi"}, format="json")

    assert response.status_code == status
    assert ConsultationNote.objects.count() == 1


@pytest.mark.parametrize("text", ["", "x" * 10_001])
def test_a_note_needs_text(client_for, doctor, noted, text):
    response = client_for(doctor).post(detail_url(noted, "notes/"), {"text": text}, format="json")

    assert response.status_code == 400
    assert "text" in error_of(response)["details"]


def test_notes_of_an_unknown_consultation_are_not_found(client_for, doctor):
    response = client_for(doctor).get("/api/consultations/00000000-0000-0000-0000-000000000000/notes/")

    assert response.status_code == 404
    assert AuditEntry.objects.get().subject is None


def test_listing_notes_takes_the_same_queries_for_any_number(
    client_for, doctor, noted, django_assert_max_num_queries
):
    client = client_for(doctor)
    for _ in range(3):
        ConsultationNote.objects.create(consultation=noted, author=doctor, text="n")
    with django_assert_max_num_queries(8) as few:
        client.get(detail_url(noted, "notes/"))
    for _ in range(30):
        ConsultationNote.objects.create(consultation=noted, author=doctor, text="n")

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(detail_url(noted, "notes/"))

    assert data_of(response)["count"] == 34
