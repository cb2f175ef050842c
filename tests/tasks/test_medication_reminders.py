"""Medication reminders: at the dose times of running prescriptions, in the patient's own time zone,
once per dose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clinical import schedule_jobs, tasks
from clinical.models import Medication
from clinical.prescriptions import services as prescriptions
from clinical.prescriptions.catalogue import ensure_catalogue
from telehealth.notifications import events as notifications
from telehealth.notifications.models import Notification
from tests.factories import ConsultationFactory, UserFactory
from tests.tasks.conftest import received

pytestmark = pytest.mark.django_db

# 2030-03-02 09:00 in Kolkata (UTC+5:30), and 21:00 there.
KOLKATA_MORNING = datetime(2030, 3, 2, 3, 30, tzinfo=UTC)
KOLKATA_EVENING = datetime(2030, 3, 2, 15, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def catalogue(db):
    ensure_catalogue()


@pytest.fixture
def prescribe(doctor):
    """``prescribe(patient, [("metformin", "BD", 30)], at=...)``: an issued prescription."""

    def make(patient, lines, *, at: datetime):
        consultation = ConsultationFactory(patient=patient, doctor=doctor, state="completed")
        items = [
            {
                "medication": Medication.objects.filter(generic_name=name).order_by("id").first(),
                "dose": "1 tablet",
                "route": "oral",
                "frequency": frequency,
                "duration_days": days,
                "quantity": 10,
            }
            for name, frequency, days in lines
        ]
        draft = prescriptions.create_prescription(doctor, consultation, items=items)
        return prescriptions.issue_prescription(doctor, draft, now=at)

    return make


@pytest.fixture
def in_kolkata(patient):
    patient.timezone = "Asia/Kolkata"
    patient.save(update_fields=["timezone"])
    return patient


@pytest.fixture
def on_metformin(prescribe, in_kolkata):
    """Twice a day (09:00 and 21:00 local) for 30 days from 1 March 2030."""
    return prescribe(in_kolkata, [("metformin", "BD", 30)], at=datetime(2030, 3, 1, tzinfo=UTC))


def dose_times(user) -> list[str]:
    return [n.data["dose_at"] for n in received(user, "medication_reminder")]


def test_doses_are_reminded_at_local_wall_clock_times(in_kolkata, on_metformin):
    assert schedule_jobs.send_medication_reminders(now=KOLKATA_MORNING - timedelta(minutes=1)) == 0
    assert schedule_jobs.send_medication_reminders(now=KOLKATA_MORNING) == 1
    assert schedule_jobs.send_medication_reminders(now=KOLKATA_EVENING) == 1

    assert dose_times(in_kolkata) == ["2030-03-02T03:30:00Z", "2030-03-02T15:30:00Z"]
    reminder = received(in_kolkata, "medication_reminder")[0]
    item = on_metformin.items.get()
    assert reminder.data == {
        "prescription_id": str(on_metformin.pk),
        "item_id": item.pk,
        "dose_at": "2030-03-02T03:30:00Z",
    }
    assert reminder.body == ""  # never the medicine's name: the payload also goes through push


def test_each_dose_is_reminded_once_however_often_the_job_runs(in_kolkata, on_metformin):
    for minutes in (0, 0, 1, 10, 29):
        schedule_jobs.send_medication_reminders(now=KOLKATA_MORNING + timedelta(minutes=minutes))

    assert dose_times(in_kolkata) == ["2030-03-02T03:30:00Z"]


def test_a_late_tick_still_reminds_but_not_long_after_the_dose(in_kolkata, on_metformin):
    assert schedule_jobs.send_medication_reminders(now=KOLKATA_MORNING + timedelta(minutes=31)) == 0
    assert schedule_jobs.send_medication_reminders(now=KOLKATA_EVENING + timedelta(minutes=25)) == 1

    assert dose_times(in_kolkata) == ["2030-03-02T15:30:00Z"]


def test_each_medicine_of_a_dose_time_has_its_own_reminder(prescribe, in_kolkata):
    prescribe(
        in_kolkata, [("metformin", "BD", 5), ("amlodipine", "OD", 5)], at=datetime(2030, 3, 1, tzinfo=UTC)
    )

    assert schedule_jobs.send_medication_reminders(now=KOLKATA_MORNING) == 2
    assert schedule_jobs.send_medication_reminders(now=KOLKATA_MORNING) == 0


def test_new_york_doses_follow_the_clock_across_the_dst_change(prescribe, patient):
    patient.timezone = "America/New_York"
    patient.save(update_fields=["timezone"])
    prescribe(patient, [("amlodipine", "OD", 10)], at=datetime(2030, 3, 8, tzinfo=UTC))

    # Clocks go forward on Sunday 10 March 2030: 09:00 is 14:00 UTC before, 13:00 UTC after.
    for moment in (
        datetime(2030, 3, 9, 13, 0, tzinfo=UTC),  # 08:00 EST: nothing
        datetime(2030, 3, 9, 14, 0, tzinfo=UTC),  # 09:00 EST
        datetime(2030, 3, 10, 13, 0, tzinfo=UTC),  # 09:00 EDT
        datetime(2030, 3, 10, 14, 0, tzinfo=UTC),  # 10:00 EDT: nothing new
    ):
        schedule_jobs.send_medication_reminders(now=moment)

    assert dose_times(patient) == ["2030-03-09T14:00:00Z", "2030-03-10T13:00:00Z"]


def test_patients_elsewhere_are_reminded_at_their_own_times(prescribe, in_kolkata, other_patient):
    prescribe(in_kolkata, [("metformin", "OD", 5)], at=datetime(2030, 3, 1, tzinfo=UTC))
    prescribe(other_patient, [("metformin", "OD", 5)], at=datetime(2030, 3, 1, tzinfo=UTC))  # in UTC

    schedule_jobs.send_medication_reminders(now=KOLKATA_MORNING)
    schedule_jobs.send_medication_reminders(now=datetime(2030, 3, 2, 9, 0, tzinfo=UTC))

    assert dose_times(in_kolkata) == ["2030-03-02T03:30:00Z"]
    assert dose_times(other_patient) == ["2030-03-02T09:00:00Z"]


def test_only_issued_running_scheduled_medicines_are_reminded(prescribe, in_kolkata, doctor):
    prescribe(in_kolkata, [("paracetamol", "PRN", 5)], at=datetime(2030, 3, 1, tzinfo=UTC))  # as needed
    prescribe(in_kolkata, [("metformin", "BD", 1)], at=datetime(2030, 2, 27, tzinfo=UTC))  # course over
    consultation = ConsultationFactory(patient=in_kolkata, doctor=doctor, state="completed")
    medication = Medication.objects.filter(generic_name="metformin").first()
    prescriptions.create_prescription(  # a draft, never issued
        doctor,
        consultation,
        items=[
            {
                "medication": medication,
                "dose": "1 tablet",
                "frequency": "BD",
                "route": "oral",
                "duration_days": 5,
                "quantity": 10,
            }
        ],
    )

    assert schedule_jobs.send_medication_reminders(now=KOLKATA_MORNING) == 0
    assert not Notification.objects.filter(kind="medication_reminder").exists()


def test_a_dose_before_the_prescription_was_issued_is_not_reminded(prescribe, in_kolkata):
    prescribe(in_kolkata, [("metformin", "BD", 5)], at=KOLKATA_MORNING + timedelta(minutes=5))

    assert schedule_jobs.send_medication_reminders(now=KOLKATA_MORNING + timedelta(minutes=10)) == 0


def test_deactivated_patients_are_not_reminded(in_kolkata, on_metformin):
    in_kolkata.is_active = False
    in_kolkata.save(update_fields=["is_active"])

    assert schedule_jobs.send_medication_reminders(now=KOLKATA_MORNING) == 0


def test_minutes_without_a_dose_time_anywhere_cost_one_query(
    in_kolkata, on_metformin, django_assert_num_queries
):
    with django_assert_num_queries(1):
        assert schedule_jobs.send_medication_reminders(now=datetime(2030, 3, 2, 5, 0, tzinfo=UTC)) == 0


def test_the_next_run_starts_where_the_last_one_stopped(in_kolkata, on_metformin, django_assert_num_queries):
    schedule_jobs.send_medication_reminders(now=KOLKATA_MORNING)

    # The dose time is still inside the look-back, but the last run covered it.
    with django_assert_num_queries(1):
        assert schedule_jobs.send_medication_reminders(now=KOLKATA_MORNING + timedelta(minutes=1)) == 0


def test_a_run_that_failed_for_someone_is_looked_at_again(monkeypatch, in_kolkata, on_metformin):
    real = notifications.medication_reminder
    calls = iter([RuntimeError("push backend down")])

    def flaky(*args, **kwargs):
        if error := next(calls, None):
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(notifications, "medication_reminder", flaky)

    assert schedule_jobs.send_medication_reminders(now=KOLKATA_MORNING) == 0
    assert schedule_jobs.send_medication_reminders(now=KOLKATA_MORNING + timedelta(minutes=5)) == 1
    assert dose_times(in_kolkata) == ["2030-03-02T03:30:00Z"]


def test_many_patients_at_one_dose_time_are_all_reminded(prescribe, doctor):
    patients = [UserFactory(role="patient", timezone="Asia/Kolkata") for _ in range(12)]
    for patient in patients:
        prescribe(patient, [("metformin", "OD", 5)], at=datetime(2030, 3, 1, tzinfo=UTC))

    assert schedule_jobs.send_medication_reminders(now=KOLKATA_MORNING) == 12
    assert schedule_jobs.send_medication_reminders(now=KOLKATA_MORNING + timedelta(minutes=1)) == 0


def test_the_task_runs_the_job_at_the_current_time(monkeypatch, in_kolkata, on_metformin):
    monkeypatch.setattr("django.utils.timezone.now", lambda: KOLKATA_MORNING + timedelta(minutes=1))

    assert tasks.send_medication_reminders.delay().get() == 1
    assert dose_times(in_kolkata) == ["2030-03-02T03:30:00Z"]
