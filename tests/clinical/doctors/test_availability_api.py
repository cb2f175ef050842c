"""Weekly availability rules, exceptions, and free slots on a date: computed in the doctor's zone,
answered in UTC."""

from __future__ import annotations

import pytest

from clinical.models import AvailabilityException, AvailabilityRule, Clinic, ClinicMember
from tests.api.helpers import error_of, success_data
from tests.clinical.doctors.conftest import ROLES, url
from tests.factories import ConsultationFactory

pytestmark = pytest.mark.django_db

RULES = url("me", "availability-rules")
EXCEPTIONS = url("me", "availability-exceptions")
MONDAY = "2030-01-07"


def rule(weekday=0, start="09:00", end="11:00", **extra) -> dict:
    return {"weekday": weekday, "start_time": start, "end_time": end, **extra}


# --- Rules ---------------------------------------------------------------------------------------


def test_doctor_manages_weekly_rules(client_for, doctor_profile):
    client = client_for(doctor_profile.user)
    created = success_data(client.post(RULES, rule()), 201)
    assert created == {
        "id": created["id"],
        "weekday": 0,
        "start_time": "09:00:00",
        "end_time": "11:00:00",
        "clinic": None,
    }
    success_data(client.post(RULES, rule(start="14:00", end="16:00")), 201)

    assert success_data(client.get(RULES, {"weekday": 0}))["count"] == 2
    success_data(client.patch(f"{RULES}{created['id']}/", {"end_time": "12:00"}))
    assert AvailabilityRule.objects.get(pk=created["id"]).end_time.hour == 12
    success_data(client.delete(f"{RULES}{created['id']}/"))
    assert AvailabilityRule.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (rule(start="11:00", end="09:00"), "end_time"),
        (rule(start="09:00", end="09:00"), "end_time"),
        (rule(weekday=7), "weekday"),
        (rule(weekday=-1), "weekday"),
        (rule(start="25:00"), "start_time"),
    ],
)
def test_invalid_rules_are_refused(body, field, client_for, doctor_profile):
    error = error_of(client_for(doctor_profile.user).post(RULES, body), 400, "VALIDATION_ERROR")
    assert field in error["details"]
    assert not AvailabilityRule.objects.exists()


def test_overlapping_rules_on_one_weekday_are_refused(client_for, doctor_profile):
    client = client_for(doctor_profile.user)
    success_data(client.post(RULES, rule(start="09:00", end="11:00")), 201)
    assert (
        "start_time"
        in error_of(client.post(RULES, rule(start="10:30", end="12:00")), 400, "VALIDATION_ERROR")["details"]
    )
    success_data(client.post(RULES, rule(start="11:00", end="12:00")), 201)  # touching is fine
    success_data(client.post(RULES, rule(weekday=1, start="10:30", end="12:00")), 201)  # other day


def test_a_rule_may_be_moved_within_its_own_window(client_for, doctor_profile):
    client = client_for(doctor_profile.user)
    created = success_data(client.post(RULES, rule(start="09:00", end="11:00")), 201)
    success_data(client.patch(f"{RULES}{created['id']}/", {"start_time": "10:00"}))


def test_a_rule_may_not_overlap_planned_extra_hours(client_for, frozen_now, doctor_profile):
    AvailabilityException.objects.create(
        doctor=doctor_profile, date="2030-01-14", kind="extra", start_time="10:00", end_time="12:00"
    )
    error_of(client_for(doctor_profile.user).post(RULES, rule(weekday=0)), 400, "VALIDATION_ERROR")


def test_clinic_hours_need_membership(client_for, doctor_profile, admin_user):
    clinic = Clinic.objects.create(name="City Clinic", created_by=admin_user)
    client = client_for(doctor_profile.user)
    error = error_of(client.post(RULES, rule(clinic=clinic.pk)), 400, "VALIDATION_ERROR")
    assert "clinic" in error["details"]
    ClinicMember.objects.create(clinic=clinic, user=doctor_profile.user, role="doctor")
    assert success_data(client.post(RULES, rule(clinic=clinic.pk)), 201)["clinic"] == clinic.pk


def test_other_doctor_cannot_touch_my_rules(client_for, doctor_profile, other_doctor_profile):
    mine = AvailabilityRule.objects.create(
        doctor=doctor_profile, weekday=0, start_time="09:00", end_time="11:00"
    )
    client = client_for(other_doctor_profile.user)
    assert success_data(client.get(RULES))["count"] == 0
    error_of(client.patch(f"{RULES}{mine.pk}/", {"end_time": "17:00"}), 404, "NOT_FOUND")
    error_of(client.delete(f"{RULES}{mine.pk}/"), 404, "NOT_FOUND")
    assert AvailabilityRule.objects.get(pk=mine.pk).end_time.hour == 11


@pytest.mark.parametrize("role", ["patient", "other_patient", "admin_user", "superadmin", "anonymous"])
def test_only_doctors_have_rules_and_exceptions(role, as_role):
    _, client = as_role(role)
    status, code = (401, "AUTHENTICATION_FAILED") if role == "anonymous" else (403, "PERMISSION_DENIED")
    error_of(client.get(RULES), status, code)
    error_of(client.post(EXCEPTIONS, {"date": MONDAY, "kind": "leave"}), status, code)


# --- Exceptions ----------------------------------------------------------------------------------


def test_doctor_plans_leave_and_extra_hours(client_for, frozen_now, doctor_profile):
    client = client_for(doctor_profile.user)
    leave = success_data(
        client.post(EXCEPTIONS, {"date": "2030-01-08", "kind": "leave", "reason": "Conference"}), 201
    )
    assert (leave["start_time"], leave["end_time"]) == (None, None)
    extra = success_data(
        client.post(
            EXCEPTIONS, {"date": "2030-01-12", "kind": "extra", "start_time": "18:00", "end_time": "20:00"}
        ),
        201,
    )
    assert success_data(client.get(EXCEPTIONS, {"kind": "extra"}))["results"] == [extra]
    success_data(client.delete(f"{EXCEPTIONS}{leave['id']}/"))
    assert AvailabilityException.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"date": "2030-01-08", "kind": "leave", "start_time": "10:00"}, "end_time"),
        ({"date": "2030-01-08", "kind": "leave", "end_time": "10:00"}, "start_time"),
        ({"date": "2030-01-08", "kind": "extra"}, "start_time"),
        ({"date": "2030-01-08", "kind": "extra", "start_time": "12:00", "end_time": "10:00"}, "end_time"),
        ({"date": "2030-01-08", "kind": "holiday"}, "kind"),
        ({"date": "2030-01-06", "kind": "leave"}, "date"),  # yesterday
    ],
)
def test_invalid_exceptions_are_refused(body, field, client_for, frozen_now, doctor_profile):
    error = error_of(client_for(doctor_profile.user).post(EXCEPTIONS, body), 400, "VALIDATION_ERROR")
    assert field in error["details"]
    assert not AvailabilityException.objects.exists()


def test_extra_hours_may_not_overlap_working_hours_or_other_extras(client_for, frozen_now, doctor_profile):
    AvailabilityRule.objects.create(doctor=doctor_profile, weekday=1, start_time="09:00", end_time="11:00")
    client = client_for(doctor_profile.user)
    body = {"date": "2030-01-08", "kind": "extra", "start_time": "10:00", "end_time": "12:00"}
    error_of(client.post(EXCEPTIONS, body), 400, "VALIDATION_ERROR")
    success_data(client.post(EXCEPTIONS, {**body, "start_time": "11:00", "end_time": "12:00"}), 201)
    error_of(
        client.post(EXCEPTIONS, {**body, "start_time": "11:30", "end_time": "13:00"}), 400, "VALIDATION_ERROR"
    )


def test_other_doctor_cannot_touch_my_exceptions(
    client_for, frozen_now, doctor_profile, other_doctor_profile
):
    mine = AvailabilityException.objects.create(
        doctor=doctor_profile, date="2030-01-08", kind="leave", reason="Surgery"
    )
    client = client_for(other_doctor_profile.user)
    error = error_of(client.get(f"{EXCEPTIONS}{mine.pk}/"), 404, "NOT_FOUND")
    assert "Surgery" not in str(error)
    error_of(client.delete(f"{EXCEPTIONS}{mine.pk}/"), 404, "NOT_FOUND")
    assert AvailabilityException.objects.filter(pk=mine.pk).exists()


# --- Slots ---------------------------------------------------------------------------------------


@pytest.fixture
def kolkata_monday(doctor_profile, weekday_hours):
    """``doctor`` (Asia/Kolkata, 30-minute slots) works Mondays 09:00-11:00 local."""
    weekday_hours(doctor_profile, 0, "09:00", "11:00")
    return doctor_profile


@pytest.mark.parametrize("role", ROLES)
def test_free_slots_are_computed_in_kolkata_and_answered_in_utc(role, as_role, frozen_now, kolkata_monday):
    ConsultationFactory(doctor=kolkata_monday.user, scheduled_start="2030-01-07T04:00:00Z")
    _, client = as_role(role)

    data = success_data(client.get(url(kolkata_monday.user_id, "available-slots"), {"date": MONDAY}))

    assert data["timezone"] == "Asia/Kolkata"
    assert data["date"] == MONDAY
    assert data["slot_minutes"] == 30
    # 09:00-11:00 IST is 03:30-05:30 UTC; 04:00 is booked.
    assert [(s["start"], s["end"]) for s in data["slots"]] == [
        ("2030-01-07T03:30:00Z", "2030-01-07T04:00:00Z"),
        ("2030-01-07T04:30:00Z", "2030-01-07T05:00:00Z"),
        ("2030-01-07T05:00:00Z", "2030-01-07T05:30:00Z"),
    ]


def test_buffer_and_slot_length_come_from_the_profile(client_for, api_client, frozen_now, kolkata_monday):
    success_data(client_for(kolkata_monday.user).patch(url("me"), {"slot_minutes": 45, "buffer_minutes": 15}))
    data = success_data(api_client.get(url(kolkata_monday.user_id, "available-slots"), {"date": MONDAY}))
    assert [s["start"] for s in data["slots"]] == ["2030-01-07T03:30:00Z", "2030-01-07T04:30:00Z"]


def test_leave_and_extra_hours_change_the_slots(client_for, api_client, frozen_now, kolkata_monday):
    client = client_for(kolkata_monday.user)
    client.post(EXCEPTIONS, {"date": MONDAY, "kind": "leave", "start_time": "09:00", "end_time": "10:00"})
    client.post(EXCEPTIONS, {"date": MONDAY, "kind": "extra", "start_time": "18:00", "end_time": "18:30"})
    data = success_data(api_client.get(url(kolkata_monday.user_id, "available-slots"), {"date": MONDAY}))
    assert [s["start"] for s in data["slots"]] == [
        "2030-01-07T04:30:00Z",
        "2030-01-07T05:00:00Z",
        "2030-01-07T12:30:00Z",
    ]


@pytest.mark.parametrize(
    "query",
    [{}, {"date": "07/01/2030"}, {"date": "2030-02-30"}, {"date": "9999-12-31"}, {"date": "0001-01-01"}],
)
def test_slot_date_is_validated(query, api_client, frozen_now, kolkata_monday):
    error = error_of(
        api_client.get(url(kolkata_monday.user_id, "available-slots"), query), 400, "VALIDATION_ERROR"
    )
    assert "date" in error["details"]


@pytest.mark.parametrize("role", ["anonymous", "patient", "other_doctor"])
def test_outsiders_get_no_slots_of_an_unverified_doctor(
    role, as_role, frozen_now, pending_profile, weekday_hours
):
    weekday_hours(pending_profile, 0, "09:00", "11:00")
    _, client = as_role(role)
    error_of(client.get(url(pending_profile.user_id, "available-slots"), {"date": MONDAY}), 404, "NOT_FOUND")


def test_unverified_doctor_previews_own_slots(client_for, frozen_now, pending_profile, weekday_hours):
    weekday_hours(pending_profile, 0, "09:00", "10:00")
    data = success_data(
        client_for(pending_profile.user).get(
            url(pending_profile.user_id, "available-slots"), {"date": MONDAY}
        )
    )
    assert len(data["slots"]) == 2
