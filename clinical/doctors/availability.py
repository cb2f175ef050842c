"""Bookable slots: weekly rules minus leave plus extra hours, cut into ``slot_minutes`` with
``buffer_minutes`` between slots, computed in the doctor's time zone and returned in UTC."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

from clinical.models import (
    ACTIVE_STATES,
    AvailabilityException,
    AvailabilityRule,
    Consultation,
    DoctorProfile,
    ExceptionKind,
)


@dataclass(frozen=True)
class Slot:
    start: datetime  # UTC
    end: datetime  # UTC
    clinic_id: int | None

    def as_dict(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "clinic_id": self.clinic_id}


def _windows(profile: DoctorProfile, day: date) -> list[tuple[time, time, int | None]]:
    """Working windows on ``day`` (local times): rules for the weekday, minus leave, plus extras."""
    rules = [r for r in profile.availability_rules.all() if r.weekday == day.weekday()]
    exceptions = [e for e in profile.availability_exceptions.all() if e.date == day]
    windows = [(r.start_time, r.end_time, r.clinic_id) for r in rules]
    for leave in (e for e in exceptions if e.kind == ExceptionKind.LEAVE):
        if leave.start_time is None or leave.end_time is None:
            return [
                (e.start_time, e.end_time, None)
                for e in exceptions
                if e.kind == ExceptionKind.EXTRA and e.start_time and e.end_time
            ]
        cut = []
        for start, end, clinic in windows:
            if leave.end_time <= start or leave.start_time >= end:
                cut.append((start, end, clinic))
                continue
            if start < leave.start_time:
                cut.append((start, leave.start_time, clinic))
            if leave.end_time < end:
                cut.append((leave.end_time, end, clinic))
        windows = cut
    windows += [
        (e.start_time, e.end_time, None)
        for e in exceptions
        if e.kind == ExceptionKind.EXTRA and e.start_time and e.end_time
    ]
    return sorted(windows)


def candidate_slots(profile: DoctorProfile, day: date) -> list[Slot]:
    """Every slot of ``day`` in the doctor's time zone, booked or not."""
    tz = zoneinfo.ZoneInfo(profile.user.timezone or "UTC")
    length = timedelta(minutes=profile.slot_minutes)
    step = length + timedelta(minutes=profile.buffer_minutes)
    slots = []
    for start_time, end_time, clinic_id in _windows(profile, day):
        cursor = datetime.combine(day, start_time, tzinfo=tz)
        window_end = datetime.combine(day, end_time, tzinfo=tz)
        while cursor + length <= window_end:
            slots.append(Slot(cursor.astimezone(UTC), (cursor + length).astimezone(UTC), clinic_id))
            cursor += step
    return slots


def available_slots(profile: DoctorProfile, day: date, *, now: datetime | None = None) -> list[Slot]:
    """Free future slots of ``day`` (a date in the doctor's time zone)."""
    now = now or timezone.now()
    slots = [s for s in candidate_slots(profile, day) if s.start > now]
    if not slots:
        return []
    taken = set(
        Consultation.objects.filter(
            doctor_id=profile.user_id,
            state__in=ACTIVE_STATES,
            scheduled_start__gte=slots[0].start,
            scheduled_start__lte=slots[-1].start,
        ).values_list("scheduled_start", flat=True)
    )
    return [s for s in slots if s.start not in taken]


def find_slot(profile: DoctorProfile, start: datetime) -> Slot | None:
    """The slot that starts exactly at ``start`` (any time zone), if the doctor offers one."""
    local_day = start.astimezone(zoneinfo.ZoneInfo(profile.user.timezone or "UTC")).date()
    for slot in candidate_slots(profile, local_day):
        if slot.start == start.astimezone(UTC):
            return slot
    return None


def next_available_slot(
    profile: DoctorProfile, *, days: int = 14, now: datetime | None = None
) -> Slot | None:
    now = now or timezone.now()
    tz = zoneinfo.ZoneInfo(profile.user.timezone or "UTC")
    today = now.astimezone(tz).date()
    for offset in range(days):
        free = available_slots(profile, today + timedelta(days=offset), now=now)
        if free:
            return free[0]
    return None


def prefetch_for_slots(queryset):
    """What slot computation reads, fetched in a constant number of queries."""
    return queryset.select_related("user").prefetch_related("availability_rules", "availability_exceptions")


__all__ = [
    "AvailabilityException",
    "AvailabilityRule",
    "Slot",
    "available_slots",
    "candidate_slots",
    "find_slot",
    "next_available_slot",
    "prefetch_for_slots",
]
