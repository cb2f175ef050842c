from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from clinical.doctors.availability import available_slots, candidate_slots, find_slot
from clinical.models import AvailabilityException, AvailabilityRule
from tests.factories import ConsultationFactory, DoctorProfileFactory

pytestmark = pytest.mark.django_db

MONDAY = date(2030, 1, 7)
BEFORE = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture
def doctor_in_kolkata():
    profile = DoctorProfileFactory(slot_minutes=30, buffer_minutes=0)
    profile.user.timezone = "Asia/Kolkata"
    profile.user.save()
    AvailabilityRule.objects.create(doctor=profile, weekday=0, start_time=time(9), end_time=time(11))
    return profile


def starts(slots) -> list[str]:
    return [s.start.strftime("%H:%M") for s in slots]


def test_slots_are_computed_in_the_doctors_zone_and_returned_in_utc(doctor_in_kolkata):
    slots = available_slots(doctor_in_kolkata, MONDAY, now=BEFORE)
    # 09:00-11:00 IST is 03:30-05:30 UTC.
    assert starts(slots) == ["03:30", "04:00", "04:30", "05:00"]
    assert all(s.start.tzinfo == UTC for s in slots)


def test_buffer_spaces_slots(doctor_in_kolkata):
    doctor_in_kolkata.buffer_minutes = 10
    assert starts(candidate_slots(doctor_in_kolkata, MONDAY)) == ["03:30", "04:10", "04:50"]


def test_partial_leave_removes_slots_and_extra_hours_add_some(doctor_in_kolkata):
    AvailabilityException.objects.create(
        doctor=doctor_in_kolkata, date=MONDAY, kind="leave", start_time=time(9, 30), end_time=time(10, 30)
    )
    AvailabilityException.objects.create(
        doctor=doctor_in_kolkata, date=MONDAY, kind="extra", start_time=time(18), end_time=time(19)
    )
    remaining = starts(available_slots(doctor_in_kolkata, MONDAY, now=BEFORE))
    assert remaining == ["03:30", "05:00", "12:30", "13:00"]


def test_whole_day_leave_leaves_nothing(doctor_in_kolkata):
    AvailabilityException.objects.create(doctor=doctor_in_kolkata, date=MONDAY, kind="leave")
    assert available_slots(doctor_in_kolkata, MONDAY, now=BEFORE) == []


def test_booked_and_past_slots_are_not_available(doctor_in_kolkata):
    first = candidate_slots(doctor_in_kolkata, MONDAY)[0]
    ConsultationFactory(doctor=doctor_in_kolkata.user, scheduled_start=first.start)
    assert "03:30" not in starts(available_slots(doctor_in_kolkata, MONDAY, now=BEFORE))
    later = datetime(2030, 1, 7, 4, 15, tzinfo=UTC)
    assert starts(available_slots(doctor_in_kolkata, MONDAY, now=later)) == ["04:30", "05:00"]


def test_cancelled_booking_frees_the_slot(doctor_in_kolkata):
    first = candidate_slots(doctor_in_kolkata, MONDAY)[0]
    ConsultationFactory(doctor=doctor_in_kolkata.user, scheduled_start=first.start, state="cancelled")
    assert "03:30" in starts(available_slots(doctor_in_kolkata, MONDAY, now=BEFORE))


def test_find_slot_matches_exact_starts_only(doctor_in_kolkata):
    assert find_slot(doctor_in_kolkata, datetime(2030, 1, 7, 4, 0, tzinfo=UTC)) is not None
    assert find_slot(doctor_in_kolkata, datetime(2030, 1, 7, 4, 10, tzinfo=UTC)) is None


def test_slots_follow_daylight_saving(db):
    profile = DoctorProfileFactory(slot_minutes=60)
    profile.user.timezone = "America/New_York"
    profile.user.save()
    AvailabilityRule.objects.create(doctor=profile, weekday=6, start_time=time(9), end_time=time(10))
    winter = candidate_slots(profile, date(2030, 1, 6))  # a Sunday in EST
    summer = candidate_slots(profile, date(2030, 7, 7))  # a Sunday in EDT
    assert starts(winter) == ["14:00"]
    assert starts(summer) == ["13:00"]
