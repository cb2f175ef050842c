"""Appointment reminders: 24 hours and 15 minutes before a confirmed booking, to both sides, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clinical import schedule_jobs, tasks
from telehealth.notifications.models import Notification
from tests.factories import UserFactory
from tests.tasks.conftest import NOW, received, run_at_once

pytestmark = pytest.mark.django_db

DAY = "appointment_reminder"
SOON = "consultation_starting_soon"


def test_the_24_hour_reminder_goes_to_patient_and_doctor(booking, patient, doctor):
    consultation = booking(NOW + timedelta(hours=24))

    assert schedule_jobs.send_appointment_reminders(now=NOW) == 2

    for user in (patient, doctor):
        [reminder] = received(user)
        assert reminder.kind == DAY
        assert reminder.data["consultation_id"] == str(consultation.pk)
        assert reminder.data["window"] == "24h"


def test_the_15_minute_reminder_goes_to_patient_and_doctor(booking, patient, doctor):
    consultation = booking(NOW + timedelta(minutes=15))

    assert schedule_jobs.send_appointment_reminders(now=NOW) == 2

    for user in (patient, doctor):
        [reminder] = received(user)
        assert reminder.kind == SOON
        assert (reminder.data["consultation_id"], reminder.data["window"]) == (str(consultation.pk), "15m")


def test_running_the_job_twice_sends_each_reminder_once(booking, patient, doctor):
    booking(NOW + timedelta(hours=24))
    booking(NOW + timedelta(minutes=10))

    first = schedule_jobs.send_appointment_reminders(now=NOW)
    second = schedule_jobs.send_appointment_reminders(now=NOW)

    assert (first, second) == (4, 0)
    assert [n.kind for n in received(patient)] == [DAY, SOON]
    assert [n.kind for n in received(doctor)] == [DAY, SOON]


def test_a_second_run_does_not_even_try_to_store_again(booking):
    booking(NOW + timedelta(hours=23))
    schedule_jobs.send_appointment_reminders(now=NOW)

    with CaptureQueriesContext(connection) as queries:
        schedule_jobs.send_appointment_reminders(now=NOW)

    assert not [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("INSERT")]


def test_a_tick_every_ten_minutes_for_a_day_sends_exactly_two_reminders_each(booking, patient, doctor):
    start = NOW + timedelta(hours=25)
    booking(start)

    tick = NOW
    while tick <= start + timedelta(hours=1):
        schedule_jobs.send_appointment_reminders(now=tick)
        tick += timedelta(minutes=10)

    for user in (patient, doctor):
        assert [n.kind for n in received(user)] == [DAY, SOON]


@pytest.mark.parametrize(
    ("until_start", "kind"),
    [
        (timedelta(hours=23), DAY),  # the tick that should have sent it came an hour late
        (timedelta(hours=22, minutes=1), DAY),
        (timedelta(minutes=3), SOON),  # twelve minutes late: still before the start
    ],
)
def test_a_late_tick_still_sends(booking, patient, until_start, kind):
    booking(NOW + until_start)

    schedule_jobs.send_appointment_reminders(now=NOW)

    assert [n.kind for n in received(patient)] == [kind]


@pytest.mark.parametrize(
    "until_start",
    [
        timedelta(hours=24, minutes=1),  # not due yet
        timedelta(minutes=16),  # 24-hour reminder over, 15-minute one not due yet
        timedelta(hours=22),  # too late for "tomorrow", too early for "soon"
        timedelta(0),  # starting now: too late for "soon"
        -timedelta(minutes=5),
    ],
)
def test_nothing_is_sent_outside_the_windows(booking, until_start):
    booking(NOW + until_start)

    assert schedule_jobs.send_appointment_reminders(now=NOW) == 0
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    "state", ["pending_payment", "cancelled", "rescheduled", "no_show", "waiting", "in_progress"]
)
@pytest.mark.parametrize("until_start", [timedelta(hours=24), timedelta(minutes=15)])
def test_only_confirmed_bookings_are_reminded(booking, state, until_start):
    booking(NOW + until_start, state=state)

    assert schedule_jobs.send_appointment_reminders(now=NOW) == 0
    assert not Notification.objects.exists()


def test_a_booking_made_inside_the_day_gets_no_tomorrow_reminder_but_the_soon_one(booking, patient):
    start = NOW + timedelta(hours=23)
    booking(start, booked=NOW - timedelta(minutes=5))

    schedule_jobs.send_appointment_reminders(now=NOW)
    schedule_jobs.send_appointment_reminders(now=start - timedelta(minutes=15))

    assert [n.kind for n in received(patient)] == [SOON]


def test_a_booking_paid_shortly_after_the_reminder_fell_due_still_gets_it(booking, patient):
    consultation = booking(NOW + timedelta(hours=24), state="pending_payment")
    schedule_jobs.send_appointment_reminders(now=NOW)
    assert received(patient) == []

    consultation.state = "scheduled"  # the payment went through
    consultation.save(update_fields=["state"])
    schedule_jobs.send_appointment_reminders(now=NOW + timedelta(minutes=30))

    assert [n.kind for n in received(patient)] == [DAY]


def test_each_booking_gets_its_own_reminders(booking, patient, other_patient, doctor):
    booking(NOW + timedelta(hours=24))
    booking(NOW + timedelta(hours=23, minutes=30), patient=other_patient)

    assert schedule_jobs.send_appointment_reminders(now=NOW) == 4
    assert len(received(doctor)) == 2
    assert len(received(other_patient)) == 1


def test_more_bookings_than_one_query_checks_are_all_reminded(monkeypatch, booking, doctor):
    monkeypatch.setattr(schedule_jobs, "CHUNK", 3)
    for minutes in range(7):
        booking(NOW + timedelta(minutes=minutes + 1), patient=UserFactory(role="patient"))
    schedule_jobs.send_appointment_reminders(now=NOW)  # the first run stores every reminder ...

    booking(NOW + timedelta(minutes=9), patient=UserFactory(role="patient"))
    # ... and the next one finds the one new booking behind them.
    assert schedule_jobs.send_appointment_reminders(now=NOW) == 2
    assert len(received(doctor, SOON)) == 8


def test_the_task_runs_the_job_on_the_real_clock(booking, patient):
    booking(timezone.now() + timedelta(minutes=10))

    assert tasks.send_appointment_reminders.delay().get() == 2
    assert [n.kind for n in received(patient)] == [SOON]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_the_same_moment_send_each_reminder_once(booking, patient, doctor):
    for minutes in range(5):
        booking(NOW + timedelta(hours=23, minutes=minutes))
        booking(NOW + timedelta(minutes=5 + minutes))

    results = run_at_once(lambda: schedule_jobs.send_appointment_reminders(now=NOW), copies=3)

    assert sum(results) == 20
    for user in (patient, doctor):
        kinds = [n.kind for n in received(user)]
        assert (kinds.count(DAY), kinds.count(SOON)) == (5, 5)
