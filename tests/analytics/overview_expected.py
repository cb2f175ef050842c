"""The overview figures computed independently: plain Python over every seeded row, with its own
calendar arithmetic. Slow and obvious on purpose; the code under test may not loop like this."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from clinical.models import Consultation, ConsultationState, ConsultationType
from telehealth.accounts.models import Role, User

BASE = "/api/analytics/"
KOLKATA = ZoneInfo("Asia/Kolkata")
UTC_ZONE = ZoneInfo("UTC")


def data_of(response) -> Any:
    body = response.json()
    assert body["success"] is True, body
    return body["data"]


def error_of(response) -> dict[str, Any]:
    body = response.json()
    assert body["success"] is False, body
    return body["error"]


def local(at: datetime, zone: ZoneInfo) -> date:
    return at.astimezone(zone).date()


def first_day(day: date, granularity: str) -> date:
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return date(day.year, day.month, 1)
    return day


def periods(start: date, end: date, granularity: str) -> list[date]:
    out: list[date] = []
    day = start
    while day <= end:
        label = first_day(day, granularity)
        if label not in out:
            out.append(label)
        day += timedelta(days=1)
    return out


def window(start: date, end: date, zone: ZoneInfo, granularity: str = "day") -> dict[str, str]:
    return {"from": str(start), "to": str(end), "time_zone": zone.key, "granularity": granularity}


def share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


# --- Consultations -----------------------------------------------------------------------------------


def consultation_stats(start: date, end: date, zone: ZoneInfo, granularity: str = "day") -> dict[str, Any]:
    rows = [
        c
        for c in Consultation.objects.select_related("doctor").all()
        if start <= local(c.scheduled_start, zone) <= end
    ]
    series = dict.fromkeys(periods(start, end, granularity), 0)
    by_type = dict.fromkeys(ConsultationType.values, 0)
    by_state = dict.fromkeys(ConsultationState.values, 0)
    by_spec: dict[str | None, int] = defaultdict(int)
    cells = {(w, h): 0 for w in range(7) for h in range(24)}
    durations, waits = [], []
    for c in rows:
        at = c.scheduled_start.astimezone(zone)
        series[first_day(at.date(), granularity)] += 1
        by_type[c.type] += 1
        by_state[c.state] += 1
        profile = getattr(c.doctor, "doctor_profile", None)
        names = [s.name for s in profile.specialisations.all()] if profile else []
        for name in names or [None]:
            by_spec[name] += 1
        cells[(at.weekday(), at.hour)] += 1
        if c.state == "completed" and c.started_at and c.ended_at:
            durations.append((c.ended_at - c.started_at).total_seconds() / 60)
        if c.waiting_since and c.started_at:
            waits.append((c.started_at - c.waiting_since).total_seconds() / 60)
    concluded = by_state["completed"] + by_state["cancelled"] + by_state["no_show"]
    return {
        "window": window(start, end, zone, granularity),
        "total": len(rows),
        "series": [{"period": str(p), "count": n} for p, n in series.items()],
        "by_type": sorted(
            ({"type": k, "count": n} for k, n in by_type.items()), key=lambda r: (-r["count"], r["type"])
        ),
        "by_state": sorted(
            ({"state": k, "count": n} for k, n in by_state.items()), key=lambda r: (-r["count"], r["state"])
        ),
        "by_specialisation": sorted(
            ({"specialisation": k, "count": n} for k, n in by_spec.items()),
            key=lambda r: (-r["count"], r["specialisation"] is None, r["specialisation"] or ""),
        ),
        "heatmap": [{"weekday": w, "hour": h, "count": n} for (w, h), n in sorted(cells.items())],
        "concluded": concluded,
        "rates": {
            "completion": share(by_state["completed"], concluded),
            "cancellation": share(by_state["cancelled"], concluded),
            "no_show": share(by_state["no_show"], concluded),
        },
        "average_duration_minutes": round(sum(durations) / len(durations), 2) if durations else None,
        "average_wait_minutes": round(sum(waits) / len(waits), 2) if waits else None,
    }


# --- Users ---------------------------------------------------------------------------------------------


def user_growth(
    start: date, end: date, zone: ZoneInfo, now: datetime, granularity: str = "day", role: str | None = None
) -> dict[str, Any]:
    roles = [role] if role else Role.values
    labels = periods(start, end, granularity)
    signups = {p: dict.fromkeys(roles, 0) for p in labels}
    active: dict[date, dict[str, set]] = {p: {r: set() for r in roles} for p in labels}
    total_active: dict[str, set] = {r: set() for r in roles}
    for user in User.objects.all():
        day = local(user.date_joined, zone)
        if user.role in roles and start <= day <= end:
            signups[first_day(day, granularity)][user.role] += 1
    for token in OutstandingToken.objects.select_related("user").exclude(user=None):
        day = local(token.created_at, zone)
        if token.user.role in roles and start <= day <= end:
            active[first_day(day, granularity)][token.user.role].add(token.user_id)
            total_active[token.user.role].add(token.user_id)
    return {
        "window": window(start, end, zone, granularity),
        "series": [
            {
                "period": str(p),
                "signups": signups[p],
                "active": {r: len(users) for r, users in active[p].items()},
            }
            for p in labels
        ],
        "totals": {
            "signups": {r: sum(signups[p][r] for p in labels) for r in roles},
            "active": {r: len(users) for r, users in total_active.items()},
        },
        "retention": retention(start, end, zone, now, granularity),
    }


def retention(start: date, end: date, zone: ZoneInfo, now: datetime, granularity: str) -> dict[str, Any]:
    booked: dict[Any, list[datetime]] = defaultdict(list)
    for c in Consultation.objects.all():
        if c.state != "cancelled" and c.rescheduled_from_id is None:
            booked[c.patient_id].append(c.created_at)
    labels = periods(start, end, granularity)
    keys = ["patients"] + [f"{k}_{n}" for n in (30, 60, 90) for k in ("rebooked", "eligible")]
    cohorts = {p: dict.fromkeys(keys, 0) for p in labels}
    patients = set(User.objects.filter(role="patient").values_list("pk", flat=True))
    for patient, times in booked.items():
        if patient not in patients:
            continue
        times.sort()
        first = times[0]
        if not start <= local(first, zone) <= end:
            continue
        later = [t for t in times if t > first]
        cohort = cohorts[first_day(local(first, zone), granularity)]
        cohort["patients"] += 1
        for n in (30, 60, 90):
            if first <= now - timedelta(days=n):
                cohort[f"eligible_{n}"] += 1
                if later and later[0] - first <= timedelta(days=n):
                    cohort[f"rebooked_{n}"] += 1
    sums = {k: sum(c[k] for c in cohorts.values()) for k in keys}
    return {
        "cohort_size": sums["patients"],
        "rebooked_within": {
            str(n): share(sums[f"rebooked_{n}"], sums[f"eligible_{n}"]) for n in (30, 60, 90)
        },
        "eligible": {str(n): sums[f"eligible_{n}"] for n in (30, 60, 90)},
        "cohorts": [{"period": str(p), **c} for p, c in cohorts.items()],
    }
