"""Bookable slots: weekly rules minus leave plus extra hours, cut into ``slot_minutes`` with
``buffer_minutes`` between slots, computed in the doctor's time zone and returned in UTC."""

from __future__ import annotations

import zoneinfo
from collections.abc import Collection, Iterable
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


def available_slots(
    profile: DoctorProfile,
    day: date,
    *,
    now: datetime | None = None,
    taken: Collection[datetime] | None = None,
) -> list[Slot]:
    """Free future slots of ``day`` (a date in the doctor's time zone).

    ``taken``: the doctor's booked starts, when the caller fetched them already (see
    ``booked_starts``); otherwise they are read here, one query."""
    now = now or timezone.now()
    slots = [s for s in candidate_slots(profile, day) if s.start > now]
    if not slots:
        return []
    if taken is None:
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
    profile: DoctorProfile,
    *,
    days: int = 14,
    now: datetime | None = None,
    taken: Collection[datetime] | None = None,
) -> Slot | None:
    """The first free slot from now on, looking ``days`` dates ahead (today counts) in the doctor's
    time zone. Pass ``taken`` (from ``booked_starts``) to run without queries."""
    now = now or timezone.now()
    tz = zoneinfo.ZoneInfo(profile.user.timezone or "UTC")
    today = now.astimezone(tz).date()
    if taken is None:
        taken = booked_starts([profile.user_id], start=now, end=now + timedelta(days=days + 1)).get(
            profile.user_id, set()
        )
    for offset in range(days):
        free = available_slots(profile, today + timedelta(days=offset), now=now, taken=taken)
        if free:
            return free[0]
    return None


def booked_starts(doctor_ids: Iterable, *, start: datetime, end: datetime) -> dict:
    """``{doctor user id: {start, ...}}`` of the slots held by active consultations with
    ``start <= scheduled_start < end``: one query for any number of doctors."""
    taken: dict = {}
    rows = Consultation.objects.filter(
        doctor_id__in=list(doctor_ids),
        state__in=ACTIVE_STATES,
        scheduled_start__gte=start,
        scheduled_start__lt=end,
    ).values_list("doctor_id", "scheduled_start")
    for doctor_id, scheduled_start in rows:
        taken.setdefault(doctor_id, set()).add(scheduled_start)
    return taken


def next_available_slots(
    profiles: Iterable[DoctorProfile], *, days: int = 14, now: datetime | None = None
) -> dict:
    """``{doctor user id: Slot or None}`` for many doctors at once. With the profiles' rules,
    exceptions and user prefetched (``prefetch_for_slots`` or the doctors selectors), this runs
    one query whatever their number."""
    now = now or timezone.now()
    profiles = list(profiles)
    if not profiles:
        return {}
    taken = booked_starts([p.user_id for p in profiles], start=now, end=now + timedelta(days=days + 1))
    return {
        p.user_id: next_available_slot(p, days=days, now=now, taken=taken.get(p.user_id, set()))
        for p in profiles
    }


def prefetch_for_slots(queryset):
    """What slot computation reads, fetched in a constant number of queries."""
    return queryset.select_related("user").prefetch_related("availability_rules", "availability_exceptions")


__all__ = [
    "AvailabilityException",
    "AvailabilityRule",
    "Slot",
    "available_slots",
    "booked_starts",
    "candidate_slots",
    "find_slot",
    "next_available_slot",
    "next_available_slots",
    "prefetch_for_slots",
]
