from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from clinical.models import ALLOWED_TRANSITIONS, ConsultationEvent, ConsultationState
from clinical.services import room_log_after
from telehealth.audit.models import AuditEntry
from tests.clinical.consultations.conftest import data_of, detail_url, error_of

pytestmark = pytest.mark.django_db

S = ConsultationState
MANUAL = [S.WAITING, S.IN_PROGRESS, S.COMPLETED, S.NO_SHOW, S.SCHEDULED]
# Who makes each move in the matrix below.
MOVER = {S.WAITING: "patient", S.IN_PROGRESS: "doctor", S.COMPLETED: "doctor", S.NO_SHOW: "doctor"}


def move(client, consultation, state: str):
    return client.post(detail_url(consultation, "transition/"), {"state": state}, format="json")


@pytest.mark.parametrize(
    ("current", "target"), [(c, t) for c in S.values for t in MANUAL], ids=lambda v: str(v)
)
def test_every_move_follows_the_lifecycle(request, client_for, started, current, target):
    consultation = started(current)
    actor = request.getfixturevalue(MOVER.get(target, "doctor"))

    response = move(client_for(actor), consultation, target)

    consultation.refresh_from_db()
    if (current, target) == (S.PENDING_PAYMENT, S.SCHEDULED):  # only a confirmed payment does this
        assert response.status_code == 403
        assert consultation.state == current
    elif target in ALLOWED_TRANSITIONS[current]:
        assert response.status_code == 200, response.json()
        assert data_of(response)["state"] == target == consultation.state
        event = ConsultationEvent.objects.get(consultation=consultation)
        assert event.payload == {"from": current, "to": target}
        assert event.actor == actor
    else:
        assert response.status_code == 409
        error = error_of(response)
        assert error["code"] == "INVALID_TRANSITION"
        assert error["details"] == {
            "current_state": current,
            "requested": target,
            "allowed": sorted(ALLOWED_TRANSITIONS[current]),
        }
        assert consultation.state == current
        assert not ConsultationEvent.objects.exists()


@pytest.mark.parametrize(("target", "endpoint"), [("cancelled", "cancel"), ("rescheduled", "reschedule")])
def test_cancel_and_reschedule_have_their_own_endpoints(client_for, doctor, booked, target, endpoint):
    response = move(client_for(doctor), booked, target)

    assert response.status_code == 400
    assert f"/{endpoint}/" in error_of(response)["details"]["state"][0]


def test_the_full_visit_over_rest(client_for, patient, doctor, started):
    consultation = started()

    for actor, state in [(patient, "waiting"), (doctor, "in_progress"), (doctor, "completed")]:
        assert move(client_for(actor), consultation, state).status_code == 200

    consultation.refresh_from_db()
    assert consultation.waiting_since <= consultation.started_at <= consultation.ended_at
    events = list(ConsultationEvent.objects.filter(consultation=consultation).order_by("seq"))
    assert [(e.seq, e.payload["to"]) for e in events] == [
        (1, "waiting"),
        (2, "in_progress"),
        (3, "completed"),
    ]
    # The room replays the same log.
    assert [row.seq for row in room_log_after(str(consultation.pk), 0)] == [1, 2, 3]


# --- Who may move it -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "state", "target"),
    [
        ("doctor", "scheduled", "waiting"),
        ("admin_user", "scheduled", "waiting"),
        ("patient", "waiting", "in_progress"),
        ("admin_user", "waiting", "in_progress"),
        ("patient", "in_progress", "completed"),
        ("patient", "scheduled", "no_show"),
    ],
)
def test_roles_that_may_not_make_a_move_get_403(as_role, started, role, state, target):
    consultation = started(state)

    response = as_role(role).post(detail_url(consultation, "transition/"), {"state": target}, format="json")

    assert response.status_code == 403
    assert error_of(response)["code"] == "PERMISSION_DENIED"
    consultation.refresh_from_db()
    assert consultation.state == state


@pytest.mark.parametrize(("role", "target"), [("admin_user", "completed"), ("superadmin", "no_show")])
def test_staff_may_close_a_consultation(as_role, started, role, target):
    consultation = started("in_progress" if target == "completed" else "scheduled")

    response = as_role(role).post(detail_url(consultation, "transition/"), {"state": target}, format="json")

    assert response.status_code == 200
    assert AuditEntry.objects.filter(action="update", resource="consultation").count() == 1


@pytest.mark.parametrize(
    ("role", "status"), [("other_patient", 404), ("other_doctor", 404), ("anonymous", 401)]
)
def test_outsiders_cannot_move_a_consultation(as_role, started, role, status):
    consultation = started()

    response = as_role(role).post(
        detail_url(consultation, "transition/"), {"state": "waiting"}, format="json"
    )

    assert response.status_code == status
    assert "state" not in str(response.json().get("error", {}).get("details", {}))
    consultation.refresh_from_db()
    assert consultation.state == "scheduled"


def test_unknown_state_is_a_field_error(client_for, doctor, booked):
    response = move(client_for(doctor), booked, "teleported")

    assert response.status_code == 400
    assert "state" in error_of(response)["details"]


# --- When ------------------------------------------------------------------------------------------


def test_patient_cannot_check_in_before_the_room_opens(client_for, patient, booked):
    response = move(client_for(patient), booked, "waiting")

    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "POLICY_VIOLATION"
    assert {"opens_at", "closes_at"} <= set(error["details"])


def test_patient_cannot_check_in_after_the_room_closes(client_for, patient, make_consultation):
    consultation = make_consultation(timezone.now() - timedelta(hours=3))

    assert error_of(move(client_for(patient), consultation, "waiting"))["code"] == "POLICY_VIOLATION"


def test_patient_may_check_in_shortly_before_the_start(client_for, patient, make_consultation):
    consultation = make_consultation(timezone.now() + timedelta(minutes=10))

    assert move(client_for(patient), consultation, "waiting").status_code == 200


def test_doctor_cannot_start_days_early(client_for, doctor, booked):
    assert error_of(move(client_for(doctor), booked, "in_progress"))["code"] == "POLICY_VIOLATION"


def test_no_show_only_after_the_start(client_for, doctor, soon):
    response = move(client_for(doctor), soon, "no_show")

    assert response.status_code == 409
    assert error_of(response)["details"]["scheduled_start"] == soon.scheduled_start.isoformat()


# --- The room hears about it -----------------------------------------------------------------------


def test_a_rest_move_reaches_the_room_after_commit(
    client_for, patient, started, django_capture_on_commit_callbacks
):
    consultation = started()
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"room.{consultation.pk}", channel)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        move(client_for(patient), consultation, "waiting")

    # One callback tells the room; others (the analytics cache) do not talk to the room.
    assert [c for c in callbacks if c.__qualname__.startswith("_announce_on_commit")] != []
    message = async_to_sync(layer.receive)(channel)
    assert message["type"] == "room.sequenced"
    frame = message["frame"]
    assert (frame["type"], frame["seq"], frame["state"], frame["previous"]) == (
        "state",
        1,
        "waiting",
        "scheduled",
    )
    assert frame["by"] == {"user_id": str(patient.pk), "role": "patient"}
