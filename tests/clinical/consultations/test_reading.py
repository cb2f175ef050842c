from __future__ import annotations

from datetime import timedelta

import pytest

from telehealth.audit.models import AuditEntry
from tests.clinical.consultations.conftest import SLOT, URL, data_of, detail_url, error_of
from tests.factories import ConsultationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def cast_consultations(patient, other_patient, doctor, other_doctor):
    """patient-doctor, other_patient-doctor, patient-other_doctor."""
    return {
        "mine": ConsultationFactory(
            patient=patient, doctor=doctor, scheduled_start=SLOT, chief_complaint="Rash"
        ),
        "doctors_other": ConsultationFactory(
            patient=other_patient, doctor=doctor, scheduled_start=SLOT + timedelta(hours=1), type="audio"
        ),
        "other_doctors": ConsultationFactory(
            patient=patient, doctor=other_doctor, scheduled_start=SLOT + timedelta(days=1), state="cancelled"
        ),
    }


def ids(response) -> set[str]:
    return {c["id"] for c in data_of(response)["results"]}


# --- The list --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        ("patient", {"mine", "other_doctors"}),
        ("other_patient", {"doctors_other"}),
        ("doctor", {"mine", "doctors_other"}),
        ("other_doctor", {"other_doctors"}),
        ("admin_user", {"mine", "doctors_other", "other_doctors"}),
        ("superadmin", {"mine", "doctors_other", "other_doctors"}),
    ],
)
def test_everyone_lists_only_the_consultations_they_take_part_in(as_role, cast_consultations, role, visible):
    response = as_role(role).get(URL)

    assert response.status_code == 200
    assert ids(response) == {str(cast_consultations[name].pk) for name in visible}


def test_anonymous_cannot_list(api_client, cast_consultations):
    response = api_client.get(URL)

    assert response.status_code == 401
    assert "Rash" not in response.content.decode()


def test_a_list_is_audited_per_other_persons_consultation(
    client_for, doctor, patient, other_patient, cast_consultations
):
    client_for(doctor).get(URL)

    entries = AuditEntry.objects.filter(action="read", resource="consultation")
    assert {(e.subject_id, e.object_id) for e in entries} == {
        (patient.pk, str(cast_consultations["mine"].pk)),
        (other_patient.pk, str(cast_consultations["doctors_other"].pk)),
    }


def test_a_patients_own_list_is_not_audited(client_for, patient, cast_consultations):
    client_for(patient).get(URL)

    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"state": "scheduled"}, {"mine", "doctors_other"}),
        ({"state": ["cancelled", "waiting"]}, {"other_doctors"}),
        ({"type": "audio"}, {"doctors_other"}),
        ({"starts_after": "2030-01-07T09:30:00Z"}, {"doctors_other", "other_doctors"}),
        ({"starts_before": "2030-01-07T09:30:00Z"}, {"mine"}),
        ({"search": "rash"}, {"mine"}),
    ],
)
def test_filters(client_for, admin_user, cast_consultations, params, expected):
    response = client_for(admin_user).get(URL, params)

    assert ids(response) == {str(cast_consultations[name].pk) for name in expected}


def test_filter_by_doctor_and_patient(client_for, admin_user, patient, doctor, cast_consultations):
    client = client_for(admin_user)

    by_doctor = ids(client.get(URL, {"doctor": str(doctor.pk)}))
    by_both = ids(client.get(URL, {"doctor": str(doctor.pk), "patient": str(patient.pk)}))

    assert by_doctor == {str(cast_consultations[n].pk) for n in ("mine", "doctors_other")}
    assert by_both == {str(cast_consultations["mine"].pk)}


def test_a_doctor_filtering_for_someone_elses_patient_sees_nothing(
    client_for, other_doctor, other_patient, cast_consultations
):
    assert ids(client_for(other_doctor).get(URL, {"patient": str(other_patient.pk)})) == set()


def test_ordering(client_for, admin_user, cast_consultations):
    client = client_for(admin_user)

    newest_first = [c["id"] for c in data_of(client.get(URL))["results"]]
    oldest_first = [c["id"] for c in data_of(client.get(URL, {"ordering": "scheduled_start"}))["results"]]

    assert oldest_first == list(reversed(newest_first))
    assert oldest_first[0] == str(cast_consultations["mine"].pk)


def test_bad_filter_values_are_field_errors(client_for, admin_user):
    response = client_for(admin_user).get(URL, {"state": "sleeping", "doctor": "x"})

    assert response.status_code == 400
    assert {"state", "doctor"} <= set(error_of(response)["details"])


def test_the_list_takes_the_same_queries_for_any_page_size(client_for, doctor, django_assert_max_num_queries):
    client = client_for(doctor)
    for n in range(2):
        ConsultationFactory(doctor=doctor, scheduled_start=SLOT + timedelta(hours=n))
    with django_assert_max_num_queries(10) as few:
        client.get(URL)
    for n in range(2, 40):
        ConsultationFactory(
            doctor=doctor, patient=UserFactory(role="patient"), scheduled_start=SLOT + timedelta(hours=n)
        )

    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(URL, {"page_size": 50})

    assert len(data_of(response)["results"]) == 40
    assert AuditEntry.objects.count() == 42


# --- One consultation ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["patient", "doctor", "admin_user", "superadmin"])
def test_participants_and_staff_read_a_consultation(as_role, patient, booked, role):
    booked.diagnosis = "Eczema"
    booked.save()

    response = as_role(role).get(detail_url(booked))

    assert response.status_code == 200
    data = data_of(response)
    assert data["diagnosis"] == "Eczema"
    assert data["allowed_transitions"] == ["cancelled", "in_progress", "no_show", "rescheduled", "waiting"]
    audited = AuditEntry.objects.filter(action="read", subject=patient).count()
    assert audited == (0 if role == "patient" else 1)


@pytest.mark.parametrize("role", ["other_patient", "other_doctor"])
def test_other_people_cannot_read_a_consultation(as_role, request, patient, booked, role):
    booked.diagnosis = "Eczema"
    booked.save()

    response = as_role(role).get(detail_url(booked))

    assert response.status_code == 404
    assert error_of(response)["code"] == "NOT_FOUND"
    assert "Eczema" not in response.content.decode()
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.subject, entry.action) == (request.getfixturevalue(role), patient, "denied")


def test_anonymous_cannot_read_a_consultation(api_client, booked):
    assert api_client.get(detail_url(booked)).status_code == 401


def test_an_unknown_consultation_is_not_found(client_for, admin_user):
    response = client_for(admin_user).get(f"{URL}00000000-0000-0000-0000-000000000000/")

    assert response.status_code == 404
    assert AuditEntry.objects.get().action == "denied"


def test_a_malformed_id_is_not_found(client_for, admin_user):
    assert client_for(admin_user).get(f"{URL}not-a-uuid/").status_code == 404
