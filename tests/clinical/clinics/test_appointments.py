from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telehealth.audit.models import AuditEntry
from tests.api.helpers import error_of, success_data
from tests.factories import ConsultationFactory, UserFactory

pytestmark = pytest.mark.django_db

START = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


def appointments_url(clinic) -> str:
    return f"/api/eclinic/{clinic.pk}/appointments/"


@pytest.fixture
def appointment(clinic, clinic_doctor, patient):
    return ConsultationFactory(
        patient=patient, doctor=clinic_doctor, type="in_clinic", clinic=clinic, scheduled_start=START
    )


@pytest.mark.parametrize("who", ["clinic_admin", "admin_user", "superadmin"])
def test_clinic_admin_and_platform_staff_see_the_appointments(
    as_user, users, clinic, appointment, patient, who
):
    ConsultationFactory(patient=patient, type="in_clinic", clinic=None, scheduled_start=START)  # elsewhere

    data = success_data(as_user(who).get(appointments_url(clinic)))

    [row] = data["results"]
    assert row["id"] == str(appointment.pk)
    assert (row["type"], row["state"]) == ("in_clinic", "scheduled")
    assert row["scheduled_start"] == "2030-03-04T09:00:00Z"
    assert row["scheduled_end"] == "2030-03-04T09:30:00Z"
    assert row["patient"]["id"] == str(patient.pk)
    assert not {"chief_complaint", "diagnosis", "symptoms"} & set(row)
    # Reading patients' appointments is audited.
    entry = AuditEntry.objects.get(subject=patient, action="read")
    assert (entry.actor, entry.resource, entry.object_id) == (
        users[who],
        "clinic_appointment",
        str(appointment.pk),
    )


@pytest.mark.parametrize("who", ["clinic_staff", "doctor", "other_doctor", "patient", "other_patient"])
def test_others_cannot_see_the_appointments(as_user, users, clinic, clinic_staff, appointment, who):
    error = error_of(as_user(who).get(appointments_url(clinic)), 403, "PERMISSION_DENIED")

    assert str(appointment.pk) not in str(error)
    assert "Alice" not in str(error)
    denied = AuditEntry.objects.get(action="denied")
    assert (denied.actor, denied.resource, denied.object_id) == (
        users[who],
        "clinic_appointment",
        str(clinic.pk),
    )
    assert not AuditEntry.objects.filter(action="read").exists()


def test_anonymous_cannot_see_the_appointments(api_client, clinic, appointment):
    error_of(api_client.get(appointments_url(clinic)), 401, "AUTHENTICATION_FAILED")


def test_outsider_gets_404_for_a_pending_clinic(client_for, patient, pending_clinic):
    error_of(client_for(patient).get(appointments_url(pending_clinic)), 404, "NOT_FOUND")


def test_appointments_filter_by_state_doctor_and_time(
    client_for, clinic_admin, clinic, clinic_doctor, appointment
):
    other_doctor = UserFactory(role="doctor")
    later = ConsultationFactory(
        doctor=other_doctor,
        type="in_clinic",
        clinic=clinic,
        scheduled_start=START + timedelta(days=1),
        state="completed",
    )
    client = client_for(clinic_admin)

    def ids(**params):
        return [r["id"] for r in success_data(client.get(appointments_url(clinic), params))["results"]]

    assert ids() == [str(appointment.pk), str(later.pk)]
    assert ids(state="completed") == [str(later.pk)]
    assert ids(doctor=str(clinic_doctor.pk)) == [str(appointment.pk)]
    assert ids(start_after="2030-03-05T00:00:00Z") == [str(later.pk)]
    assert ids(start_before="2030-03-05T00:00:00Z") == [str(appointment.pk)]
    assert ids(ordering="-scheduled_start") == [str(later.pk), str(appointment.pk)]


def test_appointment_filters_are_validated(client_for, clinic_admin, clinic):
    error = error_of(
        client_for(clinic_admin).get(appointments_url(clinic), {"state": "lost", "start_after": "soon"}),
        400,
        "VALIDATION_ERROR",
    )
    assert {"state", "start_after"} <= set(error["details"])


def test_appointment_list_runs_a_constant_number_of_queries(
    client_for, clinic_admin, clinic, clinic_doctor, django_assert_max_num_queries
):
    for n in range(12):
        ConsultationFactory(
            doctor=clinic_doctor, type="in_clinic", clinic=clinic, scheduled_start=START + timedelta(hours=n)
        )
    client = client_for(clinic_admin)
    # user, clinic, role, count, page (patients and doctors joined), one audit insert
    with django_assert_max_num_queries(6):
        assert success_data(client.get(appointments_url(clinic)))["count"] == 12
    assert AuditEntry.objects.filter(action="read").count() == 12
