from __future__ import annotations

import zoneinfo
from datetime import date, timedelta

import pytest
from django.utils import timezone

from telehealth.audit.models import AuditEntry
from tests.clinical.consultations.conftest import data_of, detail_url, error_of

pytestmark = pytest.mark.django_db

RECORD = {
    "chief_complaint": "Wheezing at night",
    "symptoms": ["wheeze", "cough"],
    "diagnosis": "Asthma, unspecified",
    "icd10_code": "J45.909",
    "treatment_plan": "Inhaled salbutamol as needed",
    "follow_up_date": "2030-02-01",
}


def patch(client, consultation, payload):
    return client.patch(detail_url(consultation), payload, format="json")


@pytest.mark.parametrize("state", ["scheduled", "waiting", "in_progress", "completed"])
def test_doctor_records_the_clinical_side(client_for, doctor, patient, make_consultation, state):
    consultation = make_consultation(state=state)

    response = patch(client_for(doctor), consultation, RECORD)

    assert response.status_code == 200, response.json()
    data = data_of(response)
    assert {k: data[k] for k in RECORD} == RECORD
    consultation.refresh_from_db()
    assert consultation.diagnosis == "Asthma, unspecified"
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.subject, entry.action) == (doctor, patient, "update")


def test_only_the_sent_fields_change(client_for, doctor, booked):
    patch(client_for(doctor), booked, RECORD)

    response = patch(client_for(doctor), booked, {"treatment_plan": "Rest"})

    data = data_of(response)
    assert (data["treatment_plan"], data["diagnosis"]) == ("Rest", "Asthma, unspecified")


@pytest.mark.parametrize("state", ["cancelled", "no_show", "rescheduled"])
def test_a_consultation_that_never_happened_cannot_be_documented(
    client_for, doctor, make_consultation, state
):
    consultation = make_consultation(state=state)

    response = patch(client_for(doctor), consultation, {"diagnosis": "Flu"})

    assert response.status_code == 409
    assert error_of(response)["code"] == "POLICY_VIOLATION"


@pytest.mark.parametrize("code", ["A09", "J45.909", "S72.001A", "U07.1", "C7A.01", "j45.909", " E11.9 "])
def test_valid_icd10_codes_are_stored_in_upper_case(client_for, doctor, booked, code):
    response = patch(client_for(doctor), booked, {"icd10_code": code})

    assert response.status_code == 200, response.json()
    assert data_of(response)["icd10_code"] == code.strip().upper()


@pytest.mark.parametrize("code", ["123", "ABC", "J4", "J45.", "J45.90901", "JJ5.9", "J459", "J45-909"])
def test_malformed_icd10_codes_are_refused(client_for, doctor, booked, code):
    response = patch(client_for(doctor), booked, {"icd10_code": code})

    assert response.status_code == 400
    assert "icd10_code" in error_of(response)["details"]


def test_a_blank_icd10_code_clears_it(client_for, doctor, booked):
    patch(client_for(doctor), booked, {"icd10_code": "A09"})

    assert data_of(patch(client_for(doctor), booked, {"icd10_code": ""}))["icd10_code"] == ""


def test_follow_up_cannot_be_in_the_past(client_for, doctor, booked):
    yesterday = (timezone.now() - timedelta(days=1)).date()

    response = patch(client_for(doctor), booked, {"follow_up_date": yesterday.isoformat()})

    assert response.status_code == 400
    assert "follow_up_date" in error_of(response)["details"]


def test_follow_up_today_in_the_doctors_zone_is_fine(client_for, doctor, booked):
    doctor.timezone = "Pacific/Kiritimati"  # UTC+14: often already tomorrow there
    doctor.save()
    today_there = timezone.now().astimezone(zoneinfo.ZoneInfo("Pacific/Kiritimati")).date()

    response = patch(client_for(doctor), booked, {"follow_up_date": today_there.isoformat()})

    assert response.status_code == 200


def test_follow_up_may_be_cleared(client_for, doctor, booked):
    booked.follow_up_date = date(2030, 3, 1)
    booked.save()

    assert data_of(patch(client_for(doctor), booked, {"follow_up_date": None}))["follow_up_date"] is None


def test_an_empty_change_is_refused(client_for, doctor, booked):
    response = patch(client_for(doctor), booked, {})

    assert response.status_code == 400


def test_put_is_not_offered(client_for, doctor, booked):
    assert client_for(doctor).put(detail_url(booked), RECORD, format="json").status_code == 405


# --- The patient -----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["scheduled", "waiting"])
def test_patient_describes_their_complaint_before_it_starts(client_for, patient, make_consultation, state):
    consultation = make_consultation(state=state)

    response = patch(
        client_for(patient), consultation, {"chief_complaint": "Headache", "symptoms": ["nausea"]}
    )

    assert response.status_code == 200
    assert data_of(response)["symptoms"] == ["nausea"]
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("state", ["in_progress", "completed", "cancelled"])
def test_patient_cannot_change_the_complaint_once_started(client_for, patient, make_consultation, state):
    consultation = make_consultation(state=state)

    response = patch(client_for(patient), consultation, {"chief_complaint": "Headache"})

    assert response.status_code == 409
    assert error_of(response)["code"] == "POLICY_VIOLATION"


@pytest.mark.parametrize("field", ["diagnosis", "icd10_code", "treatment_plan", "follow_up_date"])
def test_patient_cannot_write_the_doctors_fields(client_for, patient, booked, field):
    response = patch(client_for(patient), booked, {field: RECORD[field]})

    assert response.status_code == 403
    assert error_of(response)["details"] == {"fields": [field]}
    booked.refresh_from_db()
    assert getattr(booked, field) in ("", None)


# --- Everyone else ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin_user", "superadmin"])
def test_staff_cannot_write_the_clinical_record(as_role, request, patient, booked, role):
    response = patch(as_role(role), booked, {"diagnosis": "Flu"})

    assert response.status_code == 403
    booked.refresh_from_db()
    assert booked.diagnosis == ""
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.subject) == ("denied", patient)


@pytest.mark.parametrize(
    ("role", "status"), [("other_patient", 404), ("other_doctor", 404), ("anonymous", 401)]
)
def test_outsiders_cannot_write_the_clinical_record(as_role, booked, role, status):
    booked.diagnosis = "Secret diagnosis"
    booked.save()

    response = patch(as_role(role), booked, {"diagnosis": "Flu"})

    assert response.status_code == status
    assert "Secret" not in response.content.decode()
    booked.refresh_from_db()
    assert booked.diagnosis == "Secret diagnosis"
