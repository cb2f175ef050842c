from __future__ import annotations

import pytest

from clinical.models import ALLOWED_TRANSITIONS, ConsultationEvent, ConsultationState
from clinical.services import InvalidTransition, store_chat_message, transition_consultation
from clinical.vitals import abnormal_fields, validate_reading
from tests.factories import ConsultationFactory

pytestmark = pytest.mark.django_db

S = ConsultationState


@pytest.mark.parametrize(
    ("start", "target", "allowed"),
    [
        (S.SCHEDULED, S.WAITING, True),
        (S.WAITING, S.IN_PROGRESS, True),
        (S.IN_PROGRESS, S.COMPLETED, True),
        (S.SCHEDULED, S.CANCELLED, True),
        (S.WAITING, S.NO_SHOW, True),
        (S.COMPLETED, S.IN_PROGRESS, False),
        (S.CANCELLED, S.SCHEDULED, False),
        (S.IN_PROGRESS, S.WAITING, False),
        (S.NO_SHOW, S.COMPLETED, False),
    ],
)
def test_transitions_follow_the_lifecycle(start, target, allowed):
    consultation = ConsultationFactory(state=start)
    if allowed:
        event = transition_consultation(consultation.pk, target, actor=consultation.doctor)
        consultation.refresh_from_db()
        assert consultation.state == target
        assert event.payload == {"from": start, "to": target}
    else:
        with pytest.raises(InvalidTransition):
            transition_consultation(consultation.pk, target, actor=consultation.doctor)
        consultation.refresh_from_db()
        assert consultation.state == start
        assert not ConsultationEvent.objects.exists()


def test_terminal_states_have_no_way_out():
    assert {s for s, targets in ALLOWED_TRANSITIONS.items() if not targets} == {
        S.COMPLETED,
        S.CANCELLED,
        S.NO_SHOW,
        S.RESCHEDULED,
    }


def test_timestamps_follow_state():
    consultation = ConsultationFactory()
    for target in (S.WAITING, S.IN_PROGRESS, S.COMPLETED):
        transition_consultation(consultation.pk, target, actor=None)
    consultation.refresh_from_db()
    assert consultation.waiting_since <= consultation.started_at <= consultation.ended_at


def test_chat_and_events_share_one_gapless_sequence():
    consultation = ConsultationFactory()
    transition_consultation(consultation.pk, S.WAITING, actor=None)
    first, _ = store_chat_message(
        consultation.pk, consultation.patient, sender_role="patient", client_id="a", text="hi"
    )
    duplicate, created = store_chat_message(
        consultation.pk, consultation.patient, sender_role="patient", client_id="a", text="hi"
    )
    transition_consultation(consultation.pk, S.IN_PROGRESS, actor=None)
    second, _ = store_chat_message(
        consultation.pk, consultation.doctor, sender_role="doctor", client_id="a", text="yo"
    )
    consultation.refresh_from_db()
    assert created is False
    assert duplicate.pk == first.pk
    assert (first.seq, second.seq, consultation.last_seq) == (2, 4, 4)


@pytest.mark.parametrize(
    ("kind", "unit", "value", "value2", "ok"),
    [
        ("heart_rate", "bpm", 72, None, True),
        ("heart_rate", "bpm", 400, None, False),
        ("spo2", "%", 101, None, False),
        ("blood_pressure", "mmHg", 120, 80, True),
        ("blood_pressure", "mmHg", 120, None, False),
        ("blood_pressure", "mmHg", 80, 120, False),
        ("temperature", "F", 98.6, None, True),
        ("temperature", "K", 310, None, False),
        ("glucose", "mmol/L", 5.5, None, True),
        ("respiratory_rate", "breaths/min", 16, 3, False),
    ],
)
def test_reading_plausibility(kind, unit, value, value2, ok):
    assert (validate_reading(kind, unit, value, value2) == []) is ok


def test_normal_ranges_can_be_overridden(settings):
    assert abnormal_fields("heart_rate", "bpm", 125, None) == {"value": (50, 120)}
    settings.VITALS_NORMAL_RANGES = {"heart_rate": {"bpm": {"value": (40, 130)}}}
    assert abnormal_fields("heart_rate", "bpm", 125, None) == {}


def test_demo_consultation_command_creates_a_joinable_room():
    from io import StringIO

    from django.core.management import call_command

    from clinical.models import Consultation
    from clinical.services import check_room_access

    out = StringIO()
    call_command("demo_consultation", "--patient", "+14155552671", "--doctor", "+14155552672", stdout=out)
    consultation = Consultation.objects.get(pk=out.getvalue().strip())
    assert check_room_access(str(consultation.pk), consultation.patient).role == "patient"
    assert consultation.doctor.role == "doctor"


@pytest.mark.parametrize("who", ["patient", "doctor"])
def test_room_access_is_one_query(django_assert_num_queries, who):
    from clinical.services import check_room_access

    consultation = ConsultationFactory(state=ConsultationState.IN_PROGRESS)
    with django_assert_num_queries(1):
        access = check_room_access(str(consultation.pk), getattr(consultation, who))
    assert access.role == who
    assert access.scheduled_end == consultation.scheduled_end
