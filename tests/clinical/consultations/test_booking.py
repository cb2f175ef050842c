from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import IntegrityError, transaction

from clinical.consultations import selectors
from clinical.models import AvailabilityException, Clinic, ClinicMember, Consultation
from telehealth.audit.models import AuditEntry
from tests.clinical.consultations.conftest import NEXT_SLOT, SLOT, URL, data_of, error_of, with_hours
from tests.factories import ConsultationFactory, DoctorProfileFactory, UserFactory

pytestmark = pytest.mark.django_db


def booking(doctor, start: datetime = SLOT, **extra) -> dict:
    return {"doctor": str(doctor.pk), "scheduled_start": start.isoformat(), "type": "video", **extra}


# --- Who may book ----------------------------------------------------------------------------------


def test_patient_books_a_free_slot_for_themselves(client_for, patient, doctor, doctor_profile):
    response = client_for(patient).post(
        URL, booking(doctor, chief_complaint="Fever", symptoms=["fever", "chills"]), format="json"
    )

    assert response.status_code == 201, response.json()
    data = data_of(response)
    consultation = Consultation.objects.get(pk=data["id"])
    assert data["state"] == "pending_payment"  # the doctor charges a fee: confirmed once paid
    assert data["scheduled_start"] == "2030-01-07T09:00:00Z"
    assert data["scheduled_end"] == "2030-01-07T09:30:00Z"
    assert data["patient"]["id"] == str(patient.pk)
    assert data["doctor"] == {"id": str(doctor.pk), "name": doctor.full_name}
    assert (data["fee_amount"], data["fee_currency"]) == (50_000, "INR")
    assert data["duration_minutes"] == 30
    assert data["chief_complaint"] == "Fever"
    assert data["symptoms"] == ["fever", "chills"]
    assert consultation.booked_by == patient
    assert not AuditEntry.objects.exists()  # own data


def test_fee_is_a_snapshot_at_booking(client_for, patient, doctor, doctor_profile):
    response = client_for(patient).post(URL, booking(doctor), format="json")
    doctor_profile.fee_amount = 99_900
    doctor_profile.save()

    consultation = Consultation.objects.get(pk=data_of(response)["id"])
    assert consultation.fee_amount == 50_000


@pytest.mark.parametrize("role", ["admin_user", "superadmin"])
def test_staff_book_on_behalf_of_a_patient(request, client_for, role, patient, doctor, doctor_profile):
    staff = request.getfixturevalue(role)

    response = client_for(staff).post(URL, booking(doctor, patient=str(patient.pk)), format="json")

    assert response.status_code == 201, response.json()
    consultation = Consultation.objects.get(pk=data_of(response)["id"])
    assert (consultation.patient, consultation.booked_by) == (patient, staff)
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.subject, entry.action) == (staff, patient, "create")


def test_staff_must_say_which_patient(client_for, admin_user, doctor, doctor_profile):
    response = client_for(admin_user).post(URL, booking(doctor), format="json")

    assert response.status_code == 400
    assert "patient" in error_of(response)["details"]


def test_staff_cannot_book_for_a_non_patient(client_for, admin_user, doctor, other_doctor, doctor_profile):
    response = client_for(admin_user).post(URL, booking(doctor, patient=str(other_doctor.pk)), format="json")

    assert response.status_code == 400
    assert "patient" in error_of(response)["details"]
    assert not Consultation.objects.exists()


def test_patient_cannot_book_for_another_patient(client_for, patient, other_patient, doctor, doctor_profile):
    response = client_for(patient).post(URL, booking(doctor, patient=str(other_patient.pk)), format="json")

    assert response.status_code == 400
    assert "patient" in error_of(response)["details"]
    assert not Consultation.objects.exists()


@pytest.mark.parametrize(("role", "status"), [("doctor", 403), ("other_doctor", 403), ("anonymous", 401)])
def test_doctors_and_anonymous_cannot_book(as_role, role, status, doctor, doctor_profile):
    response = as_role(role).post(URL, booking(doctor), format="json")

    assert response.status_code == status
    assert not Consultation.objects.exists()


# --- The doctor ------------------------------------------------------------------------------------


def test_doctor_without_profile_is_not_bookable(client_for, patient, other_doctor):
    response = client_for(patient).post(URL, booking(other_doctor), format="json")

    assert response.status_code == 400
    assert error_of(response)["code"] == "DOCTOR_NOT_BOOKABLE"


@pytest.mark.parametrize("status", ["pending", "rejected"])
def test_unverified_doctor_is_not_bookable(client_for, patient, doctor, doctor_profile, status):
    doctor_profile.verification_status = status
    doctor_profile.save()

    response = client_for(patient).post(URL, booking(doctor), format="json")

    assert error_of(response)["code"] == "DOCTOR_NOT_BOOKABLE"


def test_deactivated_doctor_is_not_bookable(client_for, patient, doctor, doctor_profile):
    doctor.is_active = False
    doctor.save()

    response = client_for(patient).post(URL, booking(doctor), format="json")

    assert error_of(response)["code"] == "DOCTOR_NOT_BOOKABLE"


@pytest.mark.parametrize("who", ["patient", "unknown"])
def test_non_doctors_are_not_bookable(client_for, patient, other_patient, who):
    target = other_patient if who == "patient" else UserFactory.build()

    response = client_for(patient).post(URL, booking(target), format="json")

    assert error_of(response)["code"] == "DOCTOR_NOT_BOOKABLE"


# --- The slot --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start",
    [
        SLOT + timedelta(minutes=10),  # not on the grid
        datetime(2030, 1, 7, 8, 30, tzinfo=UTC),  # before hours
        datetime(2030, 1, 7, 17, 0, tzinfo=UTC),  # the end of the day, not a slot
        datetime(2020, 1, 6, 9, 0, tzinfo=UTC),  # a real slot, but in the past
    ],
    ids=["off-grid", "before-hours", "after-hours", "past"],
)
def test_only_future_slots_can_be_booked(client_for, patient, doctor, doctor_profile, start):
    response = client_for(patient).post(URL, booking(doctor, start), format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "SLOT_UNAVAILABLE"
    assert error["details"]["doctor"] == str(doctor.pk)
    assert not Consultation.objects.exists()


def test_a_day_of_leave_has_no_slots(client_for, patient, doctor, doctor_profile):
    AvailabilityException.objects.create(doctor=doctor_profile, date=date(2030, 1, 7), kind="leave")

    response = client_for(patient).post(URL, booking(doctor), format="json")

    assert error_of(response)["code"] == "SLOT_UNAVAILABLE"


def test_any_utc_offset_names_the_same_slot(client_for, patient, doctor, doctor_profile):
    in_india = "2030-01-07T14:30:00+05:30"

    response = client_for(patient).post(URL, booking(doctor, scheduled_start=in_india), format="json")

    assert response.status_code == 201
    assert data_of(response)["scheduled_start"] == "2030-01-07T09:00:00Z"


def test_a_start_without_offset_is_refused(client_for, patient, doctor, doctor_profile):
    response = client_for(patient).post(
        URL, booking(doctor, scheduled_start="2030-01-07T09:00:00"), format="json"
    )

    assert response.status_code == 400
    assert "scheduled_start" in error_of(response)["details"]


def test_a_taken_slot_answers_409(client_for, patient, other_patient, doctor, doctor_profile):
    ConsultationFactory(patient=other_patient, doctor=doctor, scheduled_start=SLOT)

    response = client_for(patient).post(URL, booking(doctor), format="json")

    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "SLOT_TAKEN"
    assert error["details"] == {"doctor": str(doctor.pk), "scheduled_start": "2030-01-07T09:00:00+00:00"}
    assert Consultation.objects.count() == 1


@pytest.mark.parametrize("state", ["cancelled", "rescheduled", "no_show"])
def test_a_slot_freed_by_a_cancellation_can_be_booked_again(
    client_for, patient, doctor, doctor_profile, state
):
    ConsultationFactory(doctor=doctor, scheduled_start=SLOT, state=state)

    response = client_for(patient).post(URL, booking(doctor), format="json")

    assert response.status_code == 201


def test_the_constraint_decides_when_the_pre_check_misses(
    client_for, patient, other_patient, doctor, doctor_profile, monkeypatch
):
    ConsultationFactory(patient=other_patient, doctor=doctor, scheduled_start=SLOT)
    # As when a competing booking commits between the pre-check and the insert.
    monkeypatch.setattr(selectors, "slot_is_taken", lambda *args: False)

    response = client_for(patient).post(URL, booking(doctor), format="json")

    assert response.status_code == 409
    assert error_of(response)["code"] == "SLOT_TAKEN"
    assert Consultation.objects.count() == 1


def test_database_refuses_two_active_bookings_of_one_slot(doctor):
    ConsultationFactory(doctor=doctor, scheduled_start=SLOT)

    with pytest.raises(IntegrityError), transaction.atomic():
        ConsultationFactory(doctor=doctor, scheduled_start=SLOT, state="waiting")


def test_database_allows_inactive_rows_next_to_the_active_one(doctor, other_doctor):
    ConsultationFactory(doctor=doctor, scheduled_start=SLOT)
    ConsultationFactory(doctor=doctor, scheduled_start=SLOT, state="cancelled")
    ConsultationFactory(doctor=doctor, scheduled_start=SLOT, state="rescheduled")
    ConsultationFactory(doctor=other_doctor, scheduled_start=SLOT)

    assert Consultation.objects.filter(scheduled_start=SLOT).count() == 4


def test_different_slots_of_one_doctor_are_independent(
    client_for, patient, other_patient, doctor, doctor_profile
):
    first = client_for(patient).post(URL, booking(doctor, SLOT), format="json")
    second = client_for(other_patient).post(URL, booking(doctor, NEXT_SLOT), format="json")

    assert (first.status_code, second.status_code) == (201, 201)


# --- Input -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "payload"),
    [
        ("type", {"type": "telepathy"}),
        ("symptoms", {"symptoms": ["x"] * 31}),
        ("symptoms", {"symptoms": ["x" * 101]}),
        ("chief_complaint", {"chief_complaint": "x" * 501}),
        ("doctor", {"doctor": "not-a-uuid"}),
        ("scheduled_start", {"scheduled_start": "next tuesday"}),
        ("clinic", {"clinic": 0}),
    ],
)
def test_invalid_input_names_the_field(client_for, patient, doctor, doctor_profile, field, payload):
    response = client_for(patient).post(URL, {**booking(doctor), **payload}, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]


@pytest.mark.parametrize("kind", ["video", "audio", "chat"])
def test_remote_types_need_no_clinic(client_for, patient, doctor, doctor_profile, kind):
    response = client_for(patient).post(URL, booking(doctor, type=kind), format="json")

    assert response.status_code == 201
    assert data_of(response)["type"] == kind


# --- In clinic -------------------------------------------------------------------------------------


def test_in_clinic_booking_at_a_verified_clinic_of_the_doctor(
    client_for, patient, doctor, clinic, clinic_doctor
):
    response = client_for(patient).post(
        URL, booking(doctor, type="in_clinic", clinic=clinic.pk), format="json"
    )

    assert response.status_code == 201, response.json()
    assert data_of(response)["clinic"] == {"id": clinic.pk, "name": "Lakeside Clinic"}


def test_in_clinic_needs_a_clinic(client_for, patient, doctor, clinic_doctor):
    response = client_for(patient).post(URL, booking(doctor, type="in_clinic"), format="json")

    assert response.status_code == 400
    assert "clinic" in error_of(response)["details"]


def test_in_clinic_at_an_unverified_clinic_is_refused(client_for, patient, doctor, clinic, clinic_doctor):
    clinic.verification_status = "pending"
    clinic.save()

    response = client_for(patient).post(
        URL, booking(doctor, type="in_clinic", clinic=clinic.pk), format="json"
    )

    assert error_of(response)["code"] == "CLINIC_NOT_VERIFIED"


@pytest.mark.parametrize("membership", [None, "staff", "admin"])
def test_in_clinic_where_the_doctor_does_not_practise_is_refused(
    client_for, patient, doctor, doctor_profile, clinic, membership
):
    if membership:
        ClinicMember.objects.create(clinic=clinic, user=doctor, role=membership)

    response = client_for(patient).post(
        URL, booking(doctor, type="in_clinic", clinic=clinic.pk), format="json"
    )

    assert response.status_code == 400
    assert "clinic" in error_of(response)["details"]


def test_unknown_clinic_is_refused(client_for, patient, doctor, doctor_profile):
    response = client_for(patient).post(URL, booking(doctor, type="in_clinic", clinic=999_999), format="json")

    assert "clinic" in error_of(response)["details"]


def test_a_slot_held_at_another_clinic_is_unavailable(client_for, patient, admin_user, clinic, clinic_doctor):
    elsewhere = Clinic.objects.create(
        name="Hill Clinic", created_by=admin_user, verification_status="verified"
    )
    ClinicMember.objects.create(clinic=elsewhere, user=clinic_doctor.user, role="doctor")
    clinic_doctor.availability_rules.all().delete()
    with_hours(clinic_doctor, time(9), time(12), clinic=elsewhere)

    response = client_for(patient).post(
        URL, booking(clinic_doctor.user, type="in_clinic", clinic=clinic.pk), format="json"
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == "SLOT_UNAVAILABLE"


def test_a_doctor_with_a_profile_of_another_user_is_unaffected(client_for, patient, doctor_profile):
    other = DoctorProfileFactory()
    with_hours(other)

    response = client_for(patient).post(URL, booking(other.user), format="json")

    assert response.status_code == 201
    assert Consultation.objects.get().doctor == other.user
