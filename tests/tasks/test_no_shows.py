"""No-show detection: a consultation nobody started ``NO_SHOW_GRACE_MINUTES`` after its start becomes
a no-show, with the party who did not come; a doctor's no-show is refunded by the payments rule."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clinical import schedule_jobs, tasks
from clinical import services as room
from clinical.models import Consultation, ConsultationEvent
from payments.models import Refund
from tests.payments.conftest import FEE, SLOT
from tests.tasks.conftest import received, run_at_once

pytestmark = pytest.mark.django_db

GRACE = timedelta(minutes=15)


def arrives(consultation: Consultation, patient, at) -> None:
    """The patient enters the waiting room (as the room consumer does) at ``at``."""
    room.transition_consultation(str(consultation.pk), "waiting", actor=patient)
    Consultation.objects.filter(pk=consultation.pk).update(waiting_since=at)


def no_show_events(consultation: Consultation) -> list[ConsultationEvent]:
    return list(consultation.events.filter(kind="state", payload__to="no_show"))


def test_nobody_coming_is_the_patients_no_show(booking, patient, doctor):
    consultation = booking(SLOT)

    assert schedule_jobs.detect_no_shows(now=SLOT + GRACE) == 1

    consultation.refresh_from_db()
    assert (consultation.state, consultation.no_show_party) == ("no_show", "patient")
    assert consultation.ended_at is not None
    [event] = no_show_events(consultation)
    assert (event.actor, event.payload) == (None, {"from": "scheduled", "to": "no_show"})
    assert event.seq == consultation.last_seq  # numbered in the room log like every change
    for user in (patient, doctor):
        [notice] = received(user, "consultation_no_show")
        assert notice.data["no_show_party"] == "patient"


def test_a_patient_left_waiting_is_the_doctors_no_show_and_is_refunded(
    paid, awaiting_payment, patient, doctor, fake_gateway, after_commit
):
    arrives(awaiting_payment, patient, at=SLOT - timedelta(minutes=2))

    with after_commit():
        assert schedule_jobs.detect_no_shows(now=SLOT + GRACE + timedelta(minutes=1)) == 1

    awaiting_payment.refresh_from_db()
    assert (awaiting_payment.state, awaiting_payment.no_show_party) == ("no_show", "doctor")
    assert no_show_events(awaiting_payment)[0].payload == {"from": "waiting", "to": "no_show"}
    paid.refresh_from_db()
    assert (paid.status, paid.refunded_amount) == ("refunded", FEE)
    refund = Refund.objects.get()
    assert (refund.reason, refund.requested_by) == ("The doctor did not attend.", None)
    assert len(fake_gateway.calls_to("refund")) == 1
    assert [n.data["no_show_party"] for n in received(patient, "consultation_no_show")] == ["doctor"]
    assert len(received(doctor, "consultation_no_show")) == 1


def test_a_patients_no_show_is_not_refunded(paid, awaiting_payment, fake_gateway, after_commit):
    with after_commit():
        assert schedule_jobs.detect_no_shows(now=SLOT + GRACE) == 1

    awaiting_payment.refresh_from_db()
    assert awaiting_payment.no_show_party == "patient"
    paid.refresh_from_db()
    assert paid.status == "succeeded"
    assert not Refund.objects.exists()
    assert fake_gateway.calls_to("refund") == []


def test_a_patient_who_checks_in_only_after_the_grace_period_is_late(booking, patient):
    consultation = booking(SLOT, duration_minutes=60)
    arrives(consultation, patient, at=SLOT + GRACE + timedelta(minutes=2))

    schedule_jobs.detect_no_shows(now=SLOT + GRACE + timedelta(minutes=3))

    consultation.refresh_from_db()
    assert (consultation.state, consultation.no_show_party) == ("no_show", "patient")


def test_a_consultation_inside_its_grace_period_is_left_alone(booking, patient):
    waiting = booking(SLOT)
    arrives(waiting, patient, at=SLOT)
    nobody = booking(SLOT + timedelta(minutes=1))

    assert schedule_jobs.detect_no_shows(now=SLOT + GRACE - timedelta(seconds=1)) == 0

    assert {c.state for c in Consultation.objects.filter(pk__in=[waiting.pk, nobody.pk])} == {
        "waiting",
        "scheduled",
    }
    assert not ConsultationEvent.objects.filter(payload__to="no_show").exists()


@pytest.mark.parametrize("state", ["pending_payment", "in_progress", "completed", "cancelled", "rescheduled"])
def test_only_consultations_that_never_started_are_marked(booking, state):
    consultation = booking(SLOT, state=state)

    assert schedule_jobs.detect_no_shows(now=SLOT + timedelta(hours=2)) == 0

    consultation.refresh_from_db()
    assert consultation.state == state


def test_running_twice_marks_once(booking, patient, doctor):
    consultation = booking(SLOT)

    runs = [schedule_jobs.detect_no_shows(now=SLOT + GRACE + timedelta(minutes=m)) for m in (0, 0, 1)]

    assert runs == [1, 0, 0]
    assert len(no_show_events(consultation)) == 1
    assert len(received(patient, "consultation_no_show")) == 1
    assert len(received(doctor, "consultation_no_show")) == 1


def test_the_grace_period_is_a_setting(settings, booking):
    settings.NO_SHOW_GRACE_MINUTES = 30
    consultation = booking(SLOT)

    assert schedule_jobs.detect_no_shows(now=SLOT + timedelta(minutes=29)) == 0
    assert schedule_jobs.detect_no_shows(now=SLOT + timedelta(minutes=30)) == 1

    consultation.refresh_from_db()
    assert consultation.state == "no_show"


def test_the_task_runs_the_job_on_the_real_clock(booking):
    overdue = booking(timezone.now() - GRACE - timedelta(minutes=1))
    upcoming = booking(timezone.now() + timedelta(minutes=5))

    assert tasks.detect_no_shows.delay().get() == 1

    assert Consultation.objects.get(pk=overdue.pk).state == "no_show"
    assert Consultation.objects.get(pk=upcoming.pk).state == "scheduled"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_the_same_moment_mark_and_refund_once(paid, awaiting_payment, patient, fake_gateway):
    arrives(awaiting_payment, patient, at=SLOT)

    results = run_at_once(lambda: schedule_jobs.detect_no_shows(now=SLOT + GRACE), copies=3)

    assert sorted(results) == [0, 0, 1]
    assert len(no_show_events(awaiting_payment)) == 1
    paid.refresh_from_db()
    assert (paid.status, paid.refunded_amount) == ("refunded", FEE)
    assert Refund.objects.count() == 1
    assert len(fake_gateway.calls_to("refund")) == 1
    assert len(received(patient, "consultation_no_show")) == 1
