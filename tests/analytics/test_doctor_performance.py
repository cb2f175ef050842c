"""Doctor performance: every figure checked against a plain-Python computation over the seeded rows
(``money_data``) and against ``performance_of``, in Asia/Kolkata and UTC; who sees whom."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from clinical.doctors.selectors import performance_of
from clinical.models import Consultation, Review
from telehealth.accounts.models import User
from tests.analytics.money_data import CONSULTATIONS, FROM, PAYMENTS, PEOPLE, TO, data_of, error_of, utc

pytest_plugins = ["tests.analytics.money_fixtures"]
pytestmark = pytest.mark.django_db

URL = "/api/analytics/doctors/performance/"
PAID = {"succeeded", "partially_refunded", "refunded", "disputed"}
DOCTORS = [key for key, person in PEOPLE.items() if person.role == "doctor"]


def query(tz: str, **extra: Any) -> dict[str, Any]:
    return {"from": FROM.isoformat(), "to": TO.isoformat(), "tz": tz, **extra}


def bounds(tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    return (
        datetime.combine(FROM, time.min, tzinfo=zone),
        datetime.combine(TO + timedelta(days=1), time.min, tzinfo=zone),
    )


def expected_for(key: str, tz: str, users: dict[str, Any]) -> dict[str, Any]:
    start, end = bounds(tz)
    mine = [c for c in CONSULTATIONS if c.doctor == key and start <= utc(c.start) < end]
    states = [c.state for c in mine]
    completed, cancelled, no_show = (states.count(s) for s in ("completed", "cancelled", "no_show"))
    finished = completed + cancelled + no_show
    ratings = [c.rating for c in mine if c.rating is not None]
    waits = [
        (utc(c.started) - utc(c.waited)).total_seconds() / 60
        for c in mine
        if c.waited and c.started and utc(c.started) >= utc(c.waited)
    ]
    payments = [p for p in PAYMENTS if p.doctor == key and p.status in PAID and start <= utc(p.at) < end]
    revenue = []
    for currency in sorted({p.currency for p in payments}):
        rows = [p for p in payments if p.currency == currency]
        gross, refunds = sum(p.amount for p in rows), sum(p.refunded for p in rows)
        kept = sum(p.earning + sum(p.reversals) for p in rows)
        revenue.append(
            {
                "currency": currency,
                "gross": gross,
                "refunds": refunds,
                "net": gross - refunds,
                "platform_fee": gross - refunds - kept,
                "doctor_share": kept,
                "payments": len(rows),
            }
        )
    person = PEOPLE[key]
    return {
        "doctor_id": str(users[key].pk),
        "name": f"{person.first} {person.last}",
        "consultations": len(mine),
        "completed": completed,
        "cancelled": cancelled,
        "no_show": no_show,
        "completion_rate": round(completed / finished, 4) if finished else 0.0,
        "average_rating": round(sum(ratings) / len(ratings), 2) if ratings else None,
        "rating_count": len(ratings),
        "revenue": revenue,
        "average_response_minutes": round(sum(waits) / len(waits), 2) if waits else None,
    }


def expected(tz: str, users: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [expected_for(key, tz, users) for key in DOCTORS]
    return sorted(rows, key=lambda r: (-r["consultations"], r["name"]))


@pytest.mark.parametrize("tz", ["Asia/Kolkata", "UTC"])
def test_every_figure_matches_an_independent_computation(as_user, money_world, tz):
    response = as_user("ada").get(URL, query(tz))

    assert response.status_code == 200
    data = data_of(response)
    assert data["window"]["time_zone"] == tz
    assert data["total"] == len(DOCTORS)
    assert data["doctors"] == expected(tz, money_world["users"])


@pytest.mark.parametrize("tz", ["Asia/Kolkata", "UTC"])
def test_figures_agree_with_performance_of(as_user, money_world, tz):
    start, end = bounds(tz)
    rows = data_of(as_user("ada").get(URL, query(tz)))["doctors"]

    for row in rows:
        theirs = performance_of(row["doctor_id"], since=start, until=end)
        assert row["consultations"] == theirs.total
        assert row["completion_rate"] == float(theirs.completion_rate or 0)
        assert row["average_rating"] == (
            None if theirs.average_rating is None else float(theirs.average_rating)
        )
        assert row["rating_count"] == theirs.rating_count


def test_the_window_edges_follow_the_time_zone(as_user, money_world):
    def dana(tz: str) -> dict[str, Any]:
        rows = data_of(as_user("ada").get(URL, query(tz)))["doctors"]
        return next(r for r in rows if r["name"] == "Dana Das")

    kolkata, in_utc = dana("Asia/Kolkata"), dana("UTC")
    # The in-clinic visit at Kolkata midnight (28 Feb in UTC) waited 10 minutes, the video one 5.
    assert (kolkata["completed"], kolkata["completion_rate"], kolkata["average_response_minutes"]) == (
        2,
        0.5,
        7.5,
    )
    assert (in_utc["completed"], in_utc["completion_rate"], in_utc["average_response_minutes"]) == (
        1,
        0.3333,
        5.0,
    )
    assert [r["currency"] for r in kolkata["revenue"]] == ["INR", "USD"]


def test_a_doctor_without_consultations_has_empty_figures(as_user, money_world):
    rows = data_of(as_user("ada").get(URL, query("Asia/Kolkata")))["doctors"]
    nina = next(r for r in rows if r["name"] == "Nina New")

    assert nina | {"doctor_id": None} == {
        "doctor_id": None,
        "name": "Nina New",
        "consultations": 0,
        "completed": 0,
        "cancelled": 0,
        "no_show": 0,
        "completion_rate": 0.0,
        "average_rating": None,
        "rating_count": 0,
        "revenue": [],
        "average_response_minutes": None,
    }


@pytest.mark.parametrize(
    ("ordering", "names"),
    [
        ("consultations", ["Lena Lone", "Nina New", "Derek Dsouza", "Dana Das"]),
        ("-average_rating", ["Dana Das", "Derek Dsouza", "Lena Lone", "Nina New"]),
        ("average_rating", ["Derek Dsouza", "Dana Das", "Lena Lone", "Nina New"]),
        ("average_response_minutes", ["Dana Das", "Derek Dsouza", "Lena Lone", "Nina New"]),
        ("-completion_rate", ["Derek Dsouza", "Dana Das", "Lena Lone", "Nina New"]),
        ("-name", ["Nina New", "Lena Lone", "Derek Dsouza", "Dana Das"]),
    ],
)
def test_ordering(as_user, money_world, ordering, names):
    rows = data_of(as_user("ada").get(URL, query("Asia/Kolkata", ordering=ordering)))["doctors"]

    assert [r["name"] for r in rows] == names


def test_limit_and_offset_page_through_the_doctors(as_user, money_world):
    data = data_of(as_user("ada").get(URL, query("UTC", limit=2, offset=1)))

    assert data["total"] == len(DOCTORS)
    assert data["doctors"] == expected("UTC", money_world["users"])[1:3]


def test_staff_may_ask_for_one_doctor(as_user, money_world):
    derek = money_world["users"]["derek"]

    data = data_of(as_user("sam").get(URL, query("UTC", doctor=str(derek.pk))))

    assert data["total"] == 1
    assert data["doctors"] == [expected_for("derek", "UTC", money_world["users"])]


@pytest.mark.parametrize("who", ["uuid", "alice"])
def test_staff_asking_for_no_doctor_get_404(as_user, money_world, who):
    wanted = uuid.uuid4() if who == "uuid" else money_world["users"][who].pk

    response = as_user("ada").get(URL, query("UTC", doctor=str(wanted)))

    assert response.status_code == 404
    assert error_of(response)["code"] == "NOT_FOUND"


# --- A doctor sees only themselves ---------------------------------------------------------------


@pytest.mark.parametrize("name_self", [False, True])
def test_a_doctor_sees_only_themselves(as_user, money_world, name_self):
    dana = money_world["users"]["dana"]
    params = query("Asia/Kolkata", **({"doctor": str(dana.pk)} if name_self else {}))

    data = data_of(as_user("dana").get(URL, params))

    assert data["total"] == 1
    assert data["doctors"] == [expected_for("dana", "Asia/Kolkata", money_world["users"])]


def test_a_doctor_naming_another_doctor_is_refused(as_user, money_world):
    derek = money_world["users"]["derek"]

    response = as_user("dana").get(URL, query("UTC", doctor=str(derek.pk)))

    assert response.status_code == 403
    assert error_of(response)["code"] == "PERMISSION_DENIED"


def test_a_doctors_own_answer_is_not_served_to_another_doctor_from_the_cache(as_user, money_world, settings):
    settings.ANALYTICS_CACHE_SECONDS = 300
    dana = data_of(as_user("dana").get(URL, query("UTC")))["doctors"]
    derek = data_of(as_user("derek").get(URL, query("UTC")))["doctors"]

    assert [r["name"] for r in dana] == ["Dana Das"]
    assert [r["name"] for r in derek] == ["Derek Dsouza"]


def test_patients_are_refused(as_user, money_world):
    response = as_user("alice").get(URL, query("UTC"))

    assert response.status_code == 403
    assert error_of(response)["code"] == "PERMISSION_DENIED"


def test_anonymous_is_401(api_client):
    response = api_client.get(URL)

    assert response.status_code == 401
    assert error_of(response)["code"] == "AUTHENTICATION_FAILED"


def test_no_patient_is_named(as_user, money_world):
    body = json.dumps(data_of(as_user("ada").get(URL, query("UTC"))))

    for key, person in PEOPLE.items():
        if person.role == "patient":
            assert person.first not in body
            assert person.last not in body
            assert str(money_world["users"][key].pk) not in body
    for consultation in money_world["consultations"]:
        assert str(consultation.pk) not in body


@pytest.mark.parametrize(
    ("params", "field"),
    [({"ordering": "patient"}, "ordering"), ({"doctor": "nope"}, "doctor"), ({"offset": "-1"}, "offset")],
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

    data = data_of(client.get(URL, {"from": "2030-01-01", "to": "2030-03-15", "limit": 500}))

    ratings = dict(Review.objects.values_list("consultation_id", "rating"))
    rows = defaultdict(list)
    fields = ("pk", "doctor_id", "state", "scheduled_start", "waiting_since", "started_at")
    for c in Consultation.objects.values(*fields):
        if start <= c["scheduled_start"] < end:
            rows[c["doctor_id"]].append(c)
    doctors = User.objects.filter(role="doctor").values_list("pk", flat=True)
    assert data["total"] == len(doctors)
    got = {row["doctor_id"]: row for row in data["doctors"]}
    for doctor_id in doctors:
        mine, row = rows[doctor_id], got[str(doctor_id)]
        states = [c["state"] for c in mine]
        completed, cancelled, no_show = (states.count(s) for s in ("completed", "cancelled", "no_show"))
        stars = [ratings[c["pk"]] for c in mine if c["pk"] in ratings]
        waits = [
            (c["started_at"] - c["waiting_since"]).total_seconds() / 60
            for c in mine
            if c["waiting_since"] and c["started_at"] and c["started_at"] >= c["waiting_since"]
        ]
        finished = completed + cancelled + no_show
        assert row["consultations"] == len(mine)
        assert (row["completed"], row["cancelled"], row["no_show"]) == (completed, cancelled, no_show)
        assert row["completion_rate"] == (round(completed / finished, 4) if finished else 0.0)
        assert row["rating_count"] == len(stars)
        assert row["average_rating"] == (pytest.approx(sum(stars) / len(stars), abs=0.005) if stars else None)
        if waits:
            assert row["average_response_minutes"] == pytest.approx(sum(waits) / len(waits), abs=0.005)
        else:
            assert row["average_response_minutes"] is None
    assert sum(len(v) for v in rows.values()) > 50
    counts = [row["consultations"] for row in data["doctors"]]
    assert counts == sorted(counts, reverse=True)
