from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clinical.models import Prescription, VitalSign
from clinical.services import transition_consultation
from telehealth.audit.models import AuditEntry
from tests.clinical.consultations.conftest import data_of, error_of
from tests.factories import ConsultationFactory, UserFactory

pytestmark = pytest.mark.django_db

TIMELINE = "/api/consultations/timeline/"
JAN = datetime(2025, 1, 10, 9, 0, tzinfo=UTC)
MAR = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
MAY = datetime(2025, 5, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def history(patient, doctor, other_doctor):
    """Three past consultations of ``patient``, created out of order: March (doctor, completed with
    vitals and two issued prescriptions), January (other_doctor, completed), May (doctor, no-show)."""
    march = ConsultationFactory(
        patient=patient, doctor=doctor, scheduled_start=MAR, diagnosis="Asthma", icd10_code="J45.909"
    )
    for state in ("waiting", "in_progress", "completed"):
        transition_consultation(march.pk, state, actor=doctor)
    for minute, value in [(20, 88), (5, 96)]:  # the later reading is stored first
        VitalSign.objects.create(
            consultation=march,
            patient=patient,
            kind="spo2",
            unit="%",
            value=value,
            measured_at=MAR + timedelta(minutes=minute),
            is_abnormal=value < 92,
        )
    for status in ("issued", "issued", "draft"):
        Prescription.objects.create(consultation=march, doctor=doctor, patient=patient, status=status)
    january = ConsultationFactory(
        patient=patient, doctor=other_doctor, scheduled_start=JAN, state="completed"
    )
    may = ConsultationFactory(patient=patient, doctor=doctor, scheduled_start=MAY)
    transition_consultation(may.pk, "no_show", actor=doctor)
    return {"jan": january, "mar": march, "may": may}


def test_patient_sees_their_history_oldest_first(client_for, patient, history):
    response = client_for(patient).get(TIMELINE)

    assert response.status_code == 200
    entries = data_of(response)["results"]
    assert [e["id"] for e in entries] == [str(history[k].pk) for k in ("jan", "mar", "may")]
    march = entries[1]
    assert (march["diagnosis"], march["icd10_code"], march["prescriptions_count"]) == ("Asthma", "J45.909", 2)
    assert [(v["value"], v["is_abnormal"]) for v in march["vitals"]] == [(96.0, False), (88.0, True)]
    assert [(e["seq"], e["from_state"], e["to_state"]) for e in march["events"]] == [
        (1, "scheduled", "waiting"),
        (2, "waiting", "in_progress"),
        (3, "in_progress", "completed"),
    ]
    assert entries[2]["events"][0]["to_state"] == "no_show"
    assert not AuditEntry.objects.exists()


def test_patient_may_name_themselves(client_for, patient, history):
    response = client_for(patient).get(TIMELINE, {"patient": str(patient.pk)})

    assert len(data_of(response)["results"]) == 3


def test_doctor_sees_the_consultations_they_had_with_the_patient(client_for, doctor, patient, history):
    response = client_for(doctor).get(TIMELINE, {"patient": str(patient.pk)})

    assert [e["id"] for e in data_of(response)["results"]] == [str(history[k].pk) for k in ("mar", "may")]
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.subject, entry.action, entry.resource) == (
        doctor,
        patient,
        "read",
        "consultation_timeline",
    )


@pytest.mark.parametrize("role", ["admin_user", "superadmin"])
def test_staff_see_the_whole_history(as_role, patient, history, role):
    response = as_role(role).get(TIMELINE, {"patient": str(patient.pk)})

    assert len(data_of(response)["results"]) == 3
    assert AuditEntry.objects.get().action == "read"


@pytest.mark.parametrize("role", ["other_patient", "other_doctor_without_history"])
def test_other_people_cannot_read_a_patients_timeline(request, client_for, patient, history, role):
    if role == "other_patient":
        outsider = request.getfixturevalue("other_patient")
    else:
        outsider = UserFactory(role="doctor")

    response = client_for(outsider).get(TIMELINE, {"patient": str(patient.pk)})

    assert response.status_code == 404
    assert "Asthma" not in response.content.decode()
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.subject, entry.action) == (outsider, patient, "denied")


def test_anonymous_cannot_read_a_timeline(api_client, patient, history):
    response = api_client.get(TIMELINE, {"patient": str(patient.pk)})

    assert response.status_code == 401
    assert "Asthma" not in response.content.decode()


@pytest.mark.parametrize("role", ["doctor", "admin_user"])
def test_doctors_and_staff_must_name_the_patient(as_role, role):
    response = as_role(role).get(TIMELINE)

    assert response.status_code == 400
    assert "patient" in error_of(response)["details"]


def test_a_malformed_patient_id_is_a_field_error(client_for, admin_user):
    response = client_for(admin_user).get(TIMELINE, {"patient": "nope"})

    assert "patient" in error_of(response)["details"]


def test_an_unknown_patient_is_not_found(client_for, admin_user):
    response = client_for(admin_user).get(TIMELINE, {"patient": "00000000-0000-0000-0000-000000000000"})

    assert response.status_code == 404
    assert AuditEntry.objects.get().subject is None


def test_the_timeline_filters_by_state_and_date(client_for, patient, history):
    client = client_for(patient)

    completed = data_of(client.get(TIMELINE, {"state": "completed"}))["results"]
    spring = data_of(client.get(TIMELINE, {"starts_after": "2025-02-01T00:00:00Z"}))["results"]

    assert [e["id"] for e in completed] == [str(history[k].pk) for k in ("jan", "mar")]
    assert [e["id"] for e in spring] == [str(history[k].pk) for k in ("mar", "may")]


def test_the_timeline_takes_the_same_queries_for_any_length(
    client_for, admin_user, patient, doctor, history, django_assert_max_num_queries
):
    client = client_for(admin_user)
    with django_assert_max_num_queries(12) as few:
        client.get(TIMELINE, {"patient": str(patient.pk)})
    for n in range(30):
        consultation = ConsultationFactory(
            patient=patient, doctor=UserFactory(role="doctor"), scheduled_start=MAY + timedelta(days=n + 1)
        )
        transition_consultation(consultation.pk, "cancelled", actor=patient)
        VitalSign.objects.create(
            consultation=consultation, patient=patient, kind="weight", unit="kg", value=70, measured_at=MAY
        )

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(TIMELINE, {"patient": str(patient.pk), "page_size": 50})

    assert len(data_of(response)["results"]) == 33
