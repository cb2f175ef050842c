from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clinical.models import ConsultationEvent, VitalSign
from telehealth.audit.models import AuditEntry
from tests.clinical.consultations.conftest import data_of, detail_url, error_of

pytestmark = pytest.mark.django_db


def record(client, consultation, **reading):
    reading.setdefault("kind", "heart_rate")
    reading.setdefault("unit", "bpm")
    reading.setdefault("value", 72)
    return client.post(detail_url(consultation, "vitals/"), reading, format="json")


# --- Who and when ----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["waiting", "in_progress"])
def test_patient_records_during_the_visit(client_for, patient, started, state):
    consultation = started(state)

    response = record(client_for(patient), consultation)

    assert response.status_code == 201, response.json()
    data = data_of(response)
    assert (data["kind"], data["unit"], data["value"], data["is_abnormal"]) == (
        "heart_rate",
        "bpm",
        72.0,
        False,
    )
    assert data["recorded_by"]["id"] == str(patient.pk)
    assert data["normal_range"] == {"value": [50.0, 120.0]}
    vital = VitalSign.objects.get()
    assert (vital.patient, vital.recorded_by, vital.consultation) == (patient, patient, consultation)


@pytest.mark.parametrize("state", ["scheduled", "completed", "cancelled"])
def test_patient_cannot_record_outside_the_visit(client_for, patient, started, state):
    response = record(client_for(patient), started(state))

    assert response.status_code == 409
    assert error_of(response)["code"] == "POLICY_VIOLATION"
    assert not VitalSign.objects.exists()


@pytest.mark.parametrize("state", ["in_progress", "completed"])
def test_doctor_records_during_or_after(client_for, doctor, patient, started, state):
    response = record(client_for(doctor), started(state), kind="spo2", unit="%", value=97)

    assert response.status_code == 201
    vital = VitalSign.objects.get()
    assert (vital.patient, vital.recorded_by) == (patient, doctor)
    assert AuditEntry.objects.get().action == "create"


@pytest.mark.parametrize("state", ["scheduled", "waiting", "no_show"])
def test_doctor_cannot_record_before_the_visit(client_for, doctor, started, state):
    assert record(client_for(doctor), started(state)).status_code == 409


@pytest.mark.parametrize("role", ["admin_user", "superadmin"])
def test_staff_do_not_record_vitals(as_role, started, role):
    response = record(as_role(role), started("in_progress"))

    assert response.status_code == 403
    assert not VitalSign.objects.exists()


@pytest.mark.parametrize(
    ("role", "status"), [("other_patient", 404), ("other_doctor", 404), ("anonymous", 401)]
)
def test_outsiders_cannot_record_vitals(as_role, started, role, status):
    assert record(as_role(role), started("in_progress")).status_code == status
    assert not VitalSign.objects.exists()


# --- Ranges and units ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reading",
    [
        {"kind": "heart_rate", "unit": "bpm", "value": 64},
        {"kind": "blood_pressure", "unit": "mmHg", "value": 120, "value2": 80},
        {"kind": "spo2", "unit": "%", "value": 98},
        {"kind": "temperature", "unit": "C", "value": "36.80"},
        {"kind": "temperature", "unit": "F", "value": 98.6},
        {"kind": "respiratory_rate", "unit": "breaths/min", "value": 16},
        {"kind": "weight", "unit": "kg", "value": 70.5},
        {"kind": "weight", "unit": "lb", "value": 155},
        {"kind": "glucose", "unit": "mg/dL", "value": 95},
        {"kind": "glucose", "unit": "mmol/L", "value": 5.4},
    ],
    ids=lambda r: f"{r['kind']}-{r['unit']}",
)
def test_normal_readings_in_every_kind_and_unit(client_for, patient, started, reading):
    response = record(client_for(patient), started("in_progress"), **reading)

    assert response.status_code == 201, response.json()
    assert data_of(response)["is_abnormal"] is False
    assert not ConsultationEvent.objects.exists()


@pytest.mark.parametrize(
    ("reading", "field"),
    [
        ({"kind": "heart_rate", "unit": "bpm", "value": 400}, "value"),
        ({"kind": "heart_rate", "unit": "bpm", "value": 10}, "value"),
        ({"kind": "spo2", "unit": "%", "value": 101}, "value"),
        ({"kind": "temperature", "unit": "C", "value": 98.6}, "value"),  # Fahrenheit sent as Celsius
        ({"kind": "temperature", "unit": "K", "value": 310}, "unit"),
        ({"kind": "heart_rate", "unit": "mmHg", "value": 70}, "unit"),
        ({"kind": "blood_pressure", "unit": "mmHg", "value": 120}, "value2"),
        ({"kind": "blood_pressure", "unit": "mmHg", "value": 80, "value2": 120}, "value2"),
        ({"kind": "blood_pressure", "unit": "mmHg", "value": 120, "value2": 250}, "value2"),
        ({"kind": "heart_rate", "unit": "bpm", "value": 70, "value2": 60}, "value2"),
        ({"kind": "respiratory_rate", "unit": "breaths/min", "value": 100}, "value"),
        ({"kind": "weight", "unit": "kg", "value": 0.1}, "value"),
        ({"kind": "glucose", "unit": "mmol/L", "value": 90}, "value"),
        ({"kind": "pulse", "unit": "bpm", "value": 70}, "kind"),
        ({"kind": "heart_rate", "unit": "bpm", "value": "fast"}, "value"),
        ({"kind": "heart_rate", "unit": "bpm", "value": 72.123}, "value"),
    ],
)
def test_impossible_readings_are_refused_with_the_field(client_for, patient, started, reading, field):
    response = record(client_for(patient), started("in_progress"), **reading)

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"], error
    assert not VitalSign.objects.exists()


@pytest.mark.parametrize(
    "reading",
    [
        {"kind": "heart_rate", "unit": "bpm", "value": 150},
        {"kind": "spo2", "unit": "%", "value": 85},
        {"kind": "blood_pressure", "unit": "mmHg", "value": 170, "value2": 100},
        {"kind": "temperature", "unit": "C", "value": 39.5},
        {"kind": "glucose", "unit": "mg/dL", "value": 45},
    ],
    ids=lambda r: r["kind"],
)
def test_abnormal_readings_are_flagged_and_alert_the_room(client_for, doctor, started, reading):
    consultation = started("in_progress")

    response = record(client_for(doctor), consultation, **reading)

    assert response.status_code == 201
    assert data_of(response)["is_abnormal"] is True
    alert = ConsultationEvent.objects.get(consultation=consultation)
    assert (alert.kind, alert.actor, alert.seq) == ("alert", doctor, 1)
    assert alert.payload["kind"] == reading["kind"]


def test_a_reading_from_the_future_is_refused(client_for, patient, started):
    later = (timezone.now() + timedelta(hours=1)).isoformat()

    response = record(client_for(patient), started("in_progress"), measured_at=later)

    assert "measured_at" in error_of(response)["details"]


def test_the_measuring_time_is_kept(client_for, patient, started):
    earlier = timezone.now() - timedelta(minutes=3)

    response = record(client_for(patient), started("in_progress"), measured_at=earlier.isoformat())

    assert VitalSign.objects.get().measured_at == earlier
    assert data_of(response)["measured_at"].endswith("Z")


# --- Reading them ----------------------------------------------------------------------------------


@pytest.fixture
def with_vitals(started, patient):
    consultation = started("in_progress")
    now = timezone.now()
    for minutes, kind, unit, value, abnormal in [
        (3, "heart_rate", "bpm", 130, True),
        (2, "spo2", "%", 97, False),
        (1, "heart_rate", "bpm", 80, False),
    ]:
        VitalSign.objects.create(
            consultation=consultation,
            patient=patient,
            kind=kind,
            unit=unit,
            value=value,
            measured_at=now - timedelta(minutes=minutes),
            is_abnormal=abnormal,
        )
    return consultation


@pytest.mark.parametrize("role", ["patient", "doctor", "admin_user", "superadmin"])
def test_participants_and_staff_read_vitals(as_role, with_vitals, role):
    response = as_role(role).get(detail_url(with_vitals, "vitals/"))

    assert response.status_code == 200
    values = [(v["kind"], v["value"]) for v in data_of(response)["results"]]
    assert values == [("heart_rate", 130.0), ("spo2", 97.0), ("heart_rate", 80.0)]
    assert AuditEntry.objects.filter(action="read").count() == (0 if role == "patient" else 1)


def test_vitals_filter_by_kind_and_abnormal(client_for, doctor, with_vitals):
    client = client_for(doctor)

    kinds = data_of(client.get(detail_url(with_vitals, "vitals/"), {"kind": "spo2"}))["results"]
    abnormal = data_of(client.get(detail_url(with_vitals, "vitals/"), {"is_abnormal": "true"}))["results"]

    assert [v["kind"] for v in kinds] == ["spo2"]
    assert [v["value"] for v in abnormal] == [130.0]


@pytest.mark.parametrize(
    ("role", "status"), [("other_patient", 404), ("other_doctor", 404), ("anonymous", 401)]
)
def test_other_people_cannot_read_vitals(as_role, with_vitals, role, status):
    response = as_role(role).get(detail_url(with_vitals, "vitals/"))

    assert response.status_code == status
    assert "heart_rate" not in response.content.decode()


def test_listing_vitals_takes_the_same_queries_for_any_number(
    client_for, doctor, patient, with_vitals, django_assert_max_num_queries
):
    client = client_for(doctor)
    with django_assert_max_num_queries(8) as few:
        client.get(detail_url(with_vitals, "vitals/"))
    VitalSign.objects.bulk_create(
        VitalSign(
            consultation=with_vitals,
            patient=patient,
            recorded_by=doctor,
            kind="spo2",
            unit="%",
            value=98,
            measured_at=timezone.now(),
        )
        for _ in range(40)
    )

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(detail_url(with_vitals, "vitals/"), {"page_size": 50})

    assert len(data_of(response)["results"]) == 43
