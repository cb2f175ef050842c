"""Geography: patients, doctors, clinics and consultations per place, checked against a plain-Python
computation over the seeded rows (``money_data``), in Asia/Kolkata and UTC, at every level."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from clinical.models import Clinic, ClinicMember, Consultation, PatientProfile
from telehealth.accounts.models import User
from tests.analytics.money_data import CLINICS, CONSULTATIONS, FROM, PEOPLE, TO, data_of, error_of, utc

pytest_plugins = ["tests.analytics.money_fixtures"]
pytestmark = pytest.mark.django_db

URL = "/api/analytics/geography/"
DEPTH = {"country": 1, "state": 2, "city": 3}
NOWHERE = ("", "", "")
PLACE = ("country", "state", "city")
FIGURES = ("patients", "doctors", "clinics", "consultations")


def query(tz: str, level: str = "city", **extra: Any) -> dict[str, Any]:
    return {"from": FROM.isoformat(), "to": TO.isoformat(), "tz": tz, "level": level, **extra}


def bounds(tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    return (
        datetime.combine(FROM, time.min, tzinfo=zone),
        datetime.combine(TO + timedelta(days=1), time.min, tzinfo=zone),
    )


def expected(tz: str, level: str) -> list[dict[str, Any]]:
    start, end = bounds(tz)
    depth = DEPTH[level]
    counts: dict[tuple[str, ...], dict[str, int]] = defaultdict(
        lambda: {"patients": 0, "doctors": 0, "clinics": 0, "consultations": 0}
    )

    def at(place: tuple[str, str, str] | None) -> tuple[str, ...]:
        return (place or NOWHERE)[:depth]

    for person in PEOPLE.values():
        if not person.active or utc(person.joined) >= end:
            continue
        if person.role == "patient":
            counts[at(person.place)]["patients"] += 1
        if person.role == "doctor":
            places = {at(CLINICS[c].place) for c in person.clinics} or {at(None)}
            for place in places:
                counts[place]["doctors"] += 1
    for clinic in CLINICS.values():
        if clinic.verified and utc(clinic.created) < end:
            counts[at(clinic.place)]["clinics"] += 1
    for row in CONSULTATIONS:
        if start <= utc(row.start) < end:
            if row.type == "in_clinic" and row.clinic:
                place = CLINICS[row.clinic].place
            else:
                place = PEOPLE[row.patient].place
            counts[at(place)]["consultations"] += 1

    def order(item):
        place, figures = item
        return (-figures["consultations"], -figures["patients"], [(part == "", part) for part in place])

    rows = []
    for place, figures in sorted(counts.items(), key=order):
        padded = [*place, None, None][:3]
        rows.append({"country": padded[0], "state": padded[1], "city": padded[2], **figures})
    return rows


@pytest.mark.parametrize("tz", ["Asia/Kolkata", "UTC"])
@pytest.mark.parametrize("level", ["country", "state", "city"])
def test_every_figure_matches_an_independent_computation(as_user, money_world, tz, level):
    response = as_user("ada").get(URL, query(tz, level))

    assert response.status_code == 200
    data = data_of(response)
    assert data["level"] == level
    assert data["window"]["time_zone"] == tz
    assert data["rows"] == expected(tz, level)
    assert data["total_rows"] == len(expected(tz, level))


def test_registrations_count_up_to_the_end_of_to_in_the_time_zone(as_user, money_world):
    def bengaluru(tz: str) -> dict[str, Any]:
        rows = data_of(as_user("ada").get(URL, query(tz)))["rows"]
        return next(r for r in rows if r["city"] == "Bengaluru")

    # Lata, Nina and New Clinic registered on 4 Mar 00:15 in Kolkata (3 Mar in UTC).
    assert bengaluru("Asia/Kolkata") == {
        "country": "IN",
        "state": "Karnataka",
        "city": "Bengaluru",
        "patients": 1,
        "doctors": 1,
        "clinics": 1,
        "consultations": 4,
    }
    assert (bengaluru("UTC")["patients"], bengaluru("UTC")["doctors"], bengaluru("UTC")["clinics"]) == (
        2,
        2,
        2,
    )


def test_in_clinic_visits_count_at_the_clinic_and_the_rest_at_the_patient(as_user, money_world):
    rows = data_of(as_user("ada").get(URL, query("Asia/Kolkata")))["rows"]
    consultations = {(r["country"], r["state"], r["city"]): r["consultations"] for r in rows}

    # Bob lives in the US: his in-clinic visit counts in Mumbai, his video calls (one booked
    # through the Mumbai clinic) in the US. Carol has no address: unknown.
    assert consultations[("IN", "Maharashtra", "Mumbai")] == 1
    assert consultations[("US", "", "")] == 2
    assert consultations[("", "", "")] == 1
    assert consultations[("IN", "Karnataka", "Bengaluru")] == 4


def test_a_doctor_counts_in_the_city_of_each_clinic_and_unknown_without_one(as_user, money_world):
    rows = data_of(as_user("ada").get(URL, query("Asia/Kolkata")))["rows"]
    doctors = {(r["country"], r["state"], r["city"]): r["doctors"] for r in rows}

    assert doctors == {
        ("IN", "Karnataka", "Bengaluru"): 1,  # Dana
        ("IN", "Maharashtra", "Mumbai"): 2,  # Dana, Derek
        ("IN", "Maharashtra", "Pune"): 1,  # Derek (a clinic awaiting verification: not counted itself)
        ("US", "", ""): 0,
        ("", "", ""): 1,  # Lena
    }


def test_coarser_levels_leave_the_finer_parts_null(as_user, money_world):
    rows = data_of(as_user("ada").get(URL, query("UTC", "country")))["rows"]

    assert {(r["country"], r["state"], r["city"]) for r in rows} == {
        ("IN", None, None),
        ("US", None, None),
        ("", None, None),
    }


def test_limit_keeps_the_busiest_places(as_user, money_world):
    data = data_of(as_user("ada").get(URL, query("Asia/Kolkata", limit=2)))

    assert data["rows"] == expected("Asia/Kolkata", "city")[:2]
    assert data["total_rows"] == len(expected("Asia/Kolkata", "city"))


@pytest.mark.parametrize("who", ["dana", "alice"])
def test_only_staff_read_geography(as_user, who):
    response = as_user(who).get(URL, query("UTC"))

    assert response.status_code == 403
    assert error_of(response)["code"] == "PERMISSION_DENIED"


def test_superadmins_read_geography(as_user, money_world):
    assert data_of(as_user("sam").get(URL, query("UTC")))["rows"] == expected("UTC", "city")


def test_anonymous_is_401(api_client):
    response = api_client.get(URL)

    assert response.status_code == 401
    assert error_of(response)["code"] == "AUTHENTICATION_FAILED"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"level": "planet"}, "level"), ({"tz": "Nowhere/Land"}, "tz"), ({"limit": "5000"}, "limit")],
)
def test_bad_queries_are_400_in_the_envelope(as_user, params, field):
    response = as_user("ada").get(URL, params)

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]


# --- The shared realistic data set (tests/analytics/seed.py) --------------------------------------


@pytest.mark.parametrize("who", ["ada", "alan"])  # Asia/Kolkata and UTC admins, no tz sent
def test_the_realistic_seed_matches_plain_python(seeded, request, who):
    client = request.getfixturevalue(who)
    zone = ZoneInfo(seeded.staff[who].timezone)
    start = datetime.combine(date(2030, 1, 1), time.min, tzinfo=zone)
    end = datetime.combine(date(2030, 3, 16), time.min, tzinfo=zone)

    data = data_of(client.get(URL, {"from": "2030-01-01", "to": "2030-03-15", "level": "city"}))

    counts: dict[tuple[str, ...], dict[str, int]] = defaultdict(
        lambda: {"patients": 0, "doctors": 0, "clinics": 0, "consultations": 0}
    )
    profiles = {p["user_id"]: p for p in PatientProfile.objects.values("user_id", *PLACE)}
    clinics = {c["pk"]: c for c in Clinic.objects.values("pk", "verification_status", "created_at", *PLACE)}
    members = defaultdict(set)
    for m in ClinicMember.objects.values("user_id", "clinic_id"):
        members[m["user_id"]].add(m["clinic_id"])

    def at(row: dict[str, Any] | None) -> tuple[str, ...]:
        return tuple((row or {}).get(part) or "" for part in PLACE)

    for user in User.objects.values("pk", "role", "is_active", "date_joined"):
        if not user["is_active"] or user["date_joined"] >= end:
            continue
        if user["role"] == "patient":
            counts[at(profiles.get(user["pk"]))]["patients"] += 1
        if user["role"] == "doctor":
            for place in {at(clinics[c]) for c in members[user["pk"]]} or {at(None)}:
                counts[place]["doctors"] += 1
    for clinic in clinics.values():
        if clinic["verification_status"] == "verified" and clinic["created_at"] < end:
            counts[at(clinic)]["clinics"] += 1
    for c in Consultation.objects.values("type", "clinic_id", "patient_id", "scheduled_start"):
        if start <= c["scheduled_start"] < end:
            in_clinic = c["type"] == "in_clinic" and c["clinic_id"]
            place = at(clinics[c["clinic_id"]] if in_clinic else profiles.get(c["patient_id"]))
            counts[place]["consultations"] += 1

    got = {(r["country"], r["state"], r["city"]): {k: r[k] for k in FIGURES} for r in data["rows"]}
    assert got == dict(counts)
    assert sum(figures["consultations"] for figures in counts.values()) > 50
