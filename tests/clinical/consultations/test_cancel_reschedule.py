from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from clinical.models import Consultation, ConsultationEvent
from telehealth.audit.models import AuditEntry
from tests.clinical.consultations.conftest import NEXT_SLOT, SLOT, URL, data_of, detail_url, error_of
from tests.factories import ConsultationFactory

pytestmark = pytest.mark.django_db


def cancel(client, consultation, reason: str = "Feeling better"):
    return client.post(detail_url(consultation, "cancel/"), {"reason": reason}, format="json")


def reschedule(client, consultation, start: datetime = NEXT_SLOT):
    return client.post(
        detail_url(consultation, "reschedule/"), {"scheduled_start": start.isoformat()}, format="json"
    )


# --- Cancel ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["patient", "doctor", "admin_user", "superadmin"])
def test_participants_and_staff_cancel_well_ahead(as_role, request, booked, role):
    response = cancel(as_role(role), booked, "Travelling")

    assert response.status_code == 200, response.json()
    data = data_of(response)
    assert data["state"] == "cancelled"
    assert data["cancellation_reason"] == "Travelling"
    assert data["cancelled_by"] == str(request.getfixturevalue(role).pk)
    event = ConsultationEvent.objects.get(consultation=booked)
    assert event.payload == {"from": "scheduled", "to": "cancelled"}


@pytest.mark.parametrize("role", ["patient", "doctor"])
def test_participants_cannot_cancel_inside_the_cutoff(as_role, soon, role, settings):
    settings.BOOKING_CHANGE_CUTOFF_HOURS = 4

    response = cancel(as_role(role), soon)

    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "POLICY_VIOLATION"
    assert error["details"]["cutoff_hours"] == 4
    assert error["details"]["deadline"] == (soon.scheduled_start - timedelta(hours=4)).isoformat()
    soon.refresh_from_db()
    assert soon.state == "scheduled"
    assert not ConsultationEvent.objects.exists()


def test_the_cutoff_comes_from_settings(client_for, patient, soon, settings):
    settings.BOOKING_CHANGE_CUTOFF_HOURS = 0

    assert cancel(client_for(patient), soon).status_code == 200


def test_cancelling_just_before_the_deadline_is_allowed(client_for, patient, make_consultation, settings):
    settings.BOOKING_CHANGE_CUTOFF_HOURS = 4
    consultation = make_consultation(timezone.now() + timedelta(hours=4, minutes=5))

    assert cancel(client_for(patient), consultation).status_code == 200


@pytest.mark.parametrize("role", ["admin_user", "superadmin"])
def test_staff_cancel_any_time(as_role, soon, role):
    assert cancel(as_role(role), soon).status_code == 200


@pytest.mark.parametrize("state", ["in_progress", "completed", "cancelled", "no_show", "rescheduled"])
def test_only_bookings_that_have_not_started_can_be_cancelled(
    client_for, admin_user, make_consultation, state
):
    consultation = make_consultation(state=state)

    response = cancel(client_for(admin_user), consultation)

    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "INVALID_TRANSITION"
    assert error["details"]["current_state"] == state
    assert error["details"]["requested"] == "cancelled"


def test_a_waiting_patient_can_still_be_cancelled_by_staff(client_for, admin_user, started):
    consultation = started("waiting")

    assert cancel(client_for(admin_user), consultation).status_code == 200


def test_cancelling_frees_the_slot(client_for, patient, other_patient, doctor, doctor_profile):
    booked = ConsultationFactory(patient=patient, doctor=doctor, scheduled_start=SLOT)
    cancel(client_for(patient), booked)

    response = client_for(other_patient).post(
        URL, {"doctor": str(doctor.pk), "scheduled_start": SLOT.isoformat()}, format="json"
    )

    assert response.status_code == 201


@pytest.mark.parametrize("reason", ["", "   ", "x" * 501])
def test_a_cancellation_needs_a_reason(client_for, patient, booked, reason):
    response = cancel(client_for(patient), booked, reason)

    assert response.status_code == 400
    assert "reason" in error_of(response)["details"]


@pytest.mark.parametrize(
    ("role", "status"), [("other_patient", 404), ("other_doctor", 404), ("anonymous", 401)]
)
def test_outsiders_cannot_cancel(as_role, booked, role, status):
    response = cancel(as_role(role), booked)

    assert response.status_code == status
    booked.refresh_from_db()
    assert booked.state == "scheduled"


def test_a_doctor_cancelling_is_audited(client_for, doctor, patient, booked):
    cancel(client_for(doctor), booked)

    entry = AuditEntry.objects.get(action="update")
    assert (entry.actor, entry.subject, entry.object_id) == (doctor, patient, str(booked.pk))


# --- Reschedule ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["patient", "doctor", "admin_user"])
def test_rescheduling_moves_the_booking_to_a_new_slot(as_role, request, doctor_profile, booked, role):
    booked.fee_amount = 40_000
    booked.chief_complaint = "Cough"
    booked.save()

    response = reschedule(as_role(role), booked)

    assert response.status_code == 201, response.json()
    data = data_of(response)
    booked.refresh_from_db()
    assert booked.state == "rescheduled"
    assert data["rescheduled_from"] == str(booked.pk)
    assert data["scheduled_start"] == "2030-01-07T09:30:00Z"
    assert data["state"] == "scheduled"
    assert (data["fee_amount"], data["chief_complaint"]) == (40_000, "Cough")  # the booked price stays
    replacement = Consultation.objects.get(pk=data["id"])
    assert replacement.booked_by == request.getfixturevalue(role)
    assert booked.rescheduled_to == replacement
    assert ConsultationEvent.objects.get(consultation=booked).payload == {
        "from": "scheduled",
        "to": "rescheduled",
    }


def test_the_old_booking_points_to_the_new_one(client_for, patient, doctor_profile, booked):
    new_id = data_of(reschedule(client_for(patient), booked))["id"]

    response = client_for(patient).get(detail_url(booked))

    assert data_of(response)["rescheduled_to"] == new_id


@pytest.mark.parametrize("role", ["patient", "doctor"])
def test_participants_cannot_reschedule_inside_the_cutoff(as_role, doctor_profile, soon, role):
    response = reschedule(as_role(role), soon)

    assert response.status_code == 409
    assert error_of(response)["code"] == "POLICY_VIOLATION"
    soon.refresh_from_db()
    assert soon.state == "scheduled"
    assert Consultation.objects.count() == 1


def test_staff_reschedule_inside_the_cutoff(client_for, admin_user, doctor_profile, soon):
    assert reschedule(client_for(admin_user), soon).status_code == 201


def test_rescheduling_into_a_taken_slot_changes_nothing(
    client_for, patient, other_patient, doctor, doctor_profile, booked
):
    ConsultationFactory(patient=other_patient, doctor=doctor, scheduled_start=NEXT_SLOT)

    response = reschedule(client_for(patient), booked)

    assert response.status_code == 409
    assert error_of(response)["code"] == "SLOT_TAKEN"
    booked.refresh_from_db()
    assert booked.state == "scheduled"
    assert booked.last_seq == 0
    assert not ConsultationEvent.objects.exists()
    assert Consultation.objects.count() == 2


def test_losing_the_race_for_the_new_slot_rolls_the_move_back(
    client_for, patient, other_patient, doctor, doctor_profile, booked, monkeypatch
):
    from clinical.consultations import selectors

    ConsultationFactory(patient=other_patient, doctor=doctor, scheduled_start=NEXT_SLOT)
    monkeypatch.setattr(selectors, "slot_is_taken", lambda *args: False)

    response = reschedule(client_for(patient), booked)

    assert error_of(response)["code"] == "SLOT_TAKEN"
    booked.refresh_from_db()
    assert booked.state == "scheduled"
    assert not ConsultationEvent.objects.exists()


@pytest.mark.parametrize(
    "start",
    [NEXT_SLOT + timedelta(minutes=5), datetime(2020, 1, 6, 9, 30, tzinfo=UTC)],
    ids=["off-grid", "past"],
)
def test_rescheduling_needs_an_open_future_slot(client_for, patient, doctor_profile, booked, start):
    response = reschedule(client_for(patient), booked, start)

    assert response.status_code == 400
    assert error_of(response)["code"] == "SLOT_UNAVAILABLE"
    booked.refresh_from_db()
    assert booked.state == "scheduled"


def test_rescheduling_to_the_same_time_is_refused(client_for, patient, doctor_profile, booked):
    response = reschedule(client_for(patient), booked, SLOT)

    assert response.status_code == 400
    assert "scheduled_start" in error_of(response)["details"]


def test_rescheduling_with_a_doctor_no_longer_bookable(client_for, patient, doctor_profile, booked):
    doctor_profile.verification_status = "rejected"
    doctor_profile.save()

    assert error_of(reschedule(client_for(patient), booked))["code"] == "DOCTOR_NOT_BOOKABLE"


@pytest.mark.parametrize("state", ["in_progress", "completed", "cancelled", "rescheduled"])
def test_only_bookings_that_have_not_started_can_be_rescheduled(
    client_for, patient, doctor_profile, make_consultation, state
):
    consultation = make_consultation(state=state)

    response = reschedule(client_for(patient), consultation)

    assert response.status_code == 409
    assert error_of(response)["details"]["current_state"] == state


@pytest.mark.parametrize(
    ("role", "status"), [("other_patient", 404), ("other_doctor", 404), ("anonymous", 401)]
)
def test_outsiders_cannot_reschedule(as_role, doctor_profile, booked, role, status):
    response = reschedule(as_role(role), booked)

    assert response.status_code == status
    assert Consultation.objects.count() == 1


def test_a_naive_time_is_refused(client_for, patient, doctor_profile, booked):
    response = client_for(patient).post(
        detail_url(booked, "reschedule/"), {"scheduled_start": "2030-01-07T09:30:00"}, format="json"
    )

    assert "scheduled_start" in error_of(response)["details"]
