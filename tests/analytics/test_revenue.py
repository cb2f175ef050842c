"""Revenue: every figure checked against a plain-Python computation over the seeded rows
(``money_fixtures``), in Asia/Kolkata and UTC, per currency."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction

from clinical.models import DoctorProfile
from payments.models import Payment, PayoutLedgerEntry, Refund
from tests.analytics.money_data import (
    CLINICS,
    FROM,
    PAYMENTS,
    PEOPLE,
    TO,
    PaymentRow,
    data_of,
    error_of,
    utc,
)

pytest_plugins = ["tests.analytics.money_fixtures"]
pytestmark = pytest.mark.django_db

URL = "/api/analytics/revenue/"
PAID = {"succeeded", "partially_refunded", "refunded", "disputed"}


def query(tz: str, granularity: str = "day", **extra: Any) -> dict[str, Any]:
    return {"from": FROM.isoformat(), "to": TO.isoformat(), "tz": tz, "granularity": granularity, **extra}


# --- The independent computation -----------------------------------------------------------------


def local(row: PaymentRow, tz: str) -> date:
    return utc(row.at).astimezone(ZoneInfo(tz)).date()


def first_day(day: date, granularity: str) -> date:
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def figures(rows: list[PaymentRow]) -> dict[str, int]:
    gross = sum(r.amount for r in rows)
    refunds = sum(r.refunded for r in rows)
    kept = sum(r.earning + sum(r.reversals) for r in rows)
    return {
        "gross": gross,
        "refunds": refunds,
        "net": gross - refunds,
        "platform_fee": gross - refunds - kept,
        "doctor_share": kept,
    }


def counted(rows: list[PaymentRow]) -> dict[str, int]:
    return {**figures(rows), "payments": len(rows)}


def ranked(groups: dict[Any, list[PaymentRow]], label, tie: str) -> list[dict[str, Any]]:
    """Largest gross first, ties by ``tie`` (as the endpoint orders them)."""
    rows = [{**label(key), **counted(group)} for key, group in groups.items()]
    return sorted(rows, key=lambda r: (-r["gross"], r[tie]))


def expected(tz: str, granularity: str, world: dict[str, Any], limit: int = 20) -> list[dict[str, Any]]:
    users, clinics = world["users"], world["clinics"]
    rows = [r for r in PAYMENTS if r.status in PAID and FROM <= local(r, tz) <= TO]
    out = []
    for currency in sorted({r.currency for r in rows}):
        mine = [r for r in rows if r.currency == currency]
        periods = sorted(
            {first_day(FROM + timedelta(days=i), granularity) for i in range((TO - FROM).days + 1)}
        )
        by_gateway, by_doctor, by_specialisation, by_clinic = (defaultdict(list) for _ in range(4))
        for r in mine:
            by_gateway[r.gateway].append(r)
            by_doctor[r.doctor].append(r)
            for name in PEOPLE[r.doctor].specialisations or ("",):
                by_specialisation[name].append(r)
            by_clinic[r.clinic].append(r)
        out.append(
            {
                "currency": currency,
                "totals": counted(mine),
                "series": [
                    {
                        "period": p.isoformat(),
                        **figures([r for r in mine if first_day(local(r, tz), granularity) == p]),
                    }
                    for p in periods
                ],
                "by_gateway": ranked(by_gateway, lambda g: {"gateway": g}, "gateway"),
                "by_doctor": ranked(
                    by_doctor,
                    lambda d: {
                        "doctor_id": str(users[d].pk),
                        "name": f"{PEOPLE[d].first} {PEOPLE[d].last}",
                    },
                    "doctor_id",
                )[:limit],
                "by_specialisation": ranked(
                    by_specialisation, lambda s: {"specialisation": s}, "specialisation"
                ),
                "by_clinic": ranked(
                    by_clinic,
                    lambda c: {
                        "clinic_id": clinics[c].pk if c else None,
                        "name": CLINICS[c].name if c else "",
                    },
                    "name",  # no two clinics tie on gross but those that are named
                )[:limit],
            }
        )
    return out


# --- Figures -------------------------------------------------------------------------------------


@pytest.mark.parametrize("tz", ["Asia/Kolkata", "UTC"])
@pytest.mark.parametrize("granularity", ["day", "week", "month"])
def test_every_figure_matches_an_independent_computation(as_user, money_world, tz, granularity):
    response = as_user("ada").get(URL, query(tz, granularity))

    assert response.status_code == 200
    data = data_of(response)
    assert data["window"] == {
        "from": "2026-03-01",
        "to": "2026-03-03",
        "time_zone": tz,
        "granularity": granularity,
    }
    assert data["currencies"] == expected(tz, granularity, money_world)


def test_the_window_edges_follow_the_time_zone(as_user, money_world):
    kolkata = data_of(as_user("ada").get(URL, query("Asia/Kolkata")))["currencies"]
    in_utc = data_of(as_user("ada").get(URL, query("UTC")))["currencies"]

    # p2 (1 Mar 00:10 in Kolkata) counts only there; p6 (4 Mar 00:15 in Kolkata) only in UTC.
    assert [c["totals"]["payments"] for c in kolkata] == [4, 1]
    assert [c["totals"]["payments"] for c in in_utc] == [3, 2]
    assert kolkata[0]["series"][0]["gross"] == 90_000  # p1 + p2 on 1 Mar, Kolkata
    assert in_utc[0]["series"][0]["gross"] == 50_000


def test_without_tz_the_admins_own_time_zone_is_used(as_user, money_world):
    admin = money_world["users"]["ada"]
    admin.timezone = "Asia/Kolkata"
    admin.save()

    data = data_of(as_user("ada").get(URL, {"from": "2026-03-01", "to": "2026-03-03"}))

    assert data["window"]["time_zone"] == "Asia/Kolkata"
    assert data["currencies"] == expected("Asia/Kolkata", "day", money_world)


def test_currencies_are_never_mixed(as_user, money_world):
    data = data_of(as_user("ada").get(URL, query("UTC")))
    usd = next(c for c in data["currencies"] if c["currency"] == "USD")

    assert usd["totals"]["gross"] == 10_000  # p5 + p6, no rupee in it
    assert {row["gateway"] for row in usd["by_gateway"]} == {"stripe", "payu"}
    assert sum(row["gross"] for row in usd["series"]) == usd["totals"]["gross"]


def test_one_currency_only(as_user, money_world):
    data = data_of(as_user("ada").get(URL, query("Asia/Kolkata", currency="usd")))

    assert [c["currency"] for c in data["currencies"]] == ["USD"]
    assert data["currencies"] == expected("Asia/Kolkata", "day", money_world)[1:]


def test_a_full_refund_leaves_no_platform_fee_and_a_dispute_hold_changes_nothing(as_user, money_world):
    inr = data_of(as_user("ada").get(URL, query("Asia/Kolkata")))["currencies"][0]
    derek = next(row for row in inr["by_doctor"] if row["name"] == "Derek Dsouza")

    # p3 (disputed, share held) 30_000: fee 4_500; p4 refunded in full: nothing.
    assert derek == {**derek, "gross": 50_000, "refunds": 20_000, "net": 30_000, "platform_fee": 4_500}


def test_a_doctor_with_several_specialisations_counts_in_each(as_user, money_world):
    inr = data_of(as_user("ada").get(URL, query("Asia/Kolkata")))["currencies"][0]
    by_name = {row["specialisation"]: row["gross"] for row in inr["by_specialisation"]}

    assert by_name == {"Cardiology": 90_000, "General": 90_000, "Dermatology": 50_000}


def test_limit_cuts_the_doctor_and_clinic_lists(as_user, money_world):
    inr = data_of(as_user("ada").get(URL, query("Asia/Kolkata", limit=1)))["currencies"][0]

    assert [row["name"] for row in inr["by_doctor"]] == ["Dana Das"]
    assert len(inr["by_clinic"]) == 1
    assert inr == expected("Asia/Kolkata", "day", money_world, limit=1)[0]


# --- Cache ---------------------------------------------------------------------------------------


def test_a_refund_changes_revenue_at_once(as_user, money_world, settings, django_capture_on_commit_callbacks):
    settings.ANALYTICS_CACHE_SECONDS = 300
    client = as_user("ada")
    before = data_of(client.get(URL, query("UTC")))["currencies"][0]["totals"]
    p1 = money_world["payments"]["p1"]

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        # A refund of p1 as payments.services records it: the refund, the payment, the reversal.
        refund = Refund.objects.create(
            payment=p1, amount=5_000, status="succeeded", reason="Goodwill", idempotency_key="cache-test"
        )
        p1.refunded_amount, p1.status = 5_000, "partially_refunded"
        p1.save()
        PayoutLedgerEntry.objects.create(
            doctor=p1.doctor, currency="INR", kind="refund_reversal", amount=-4_250, payment=p1, refund=refund
        )

    after = data_of(client.get(URL, query("UTC")))["currencies"][0]["totals"]
    assert after["refunds"] == before["refunds"] + 5_000
    assert after["net"] == before["net"] - 5_000
    assert after["platform_fee"] == before["platform_fee"] - 750


def test_answers_are_cached_until_a_write(as_user, money_world, settings):
    settings.ANALYTICS_CACHE_SECONDS = 300
    client = as_user("ada")
    first = data_of(client.get(URL, query("UTC")))
    # Not through the ORM's signals: the cache cannot know, so the cached answer stands.
    Payment.objects.filter(pk=money_world["payments"]["p1"].pk).update(refunded_amount=5_000)

    assert data_of(client.get(URL, query("UTC"))) == first


# --- Access and validation -----------------------------------------------------------------------


@pytest.mark.parametrize("who", ["dana", "alice"])
def test_only_staff_read_revenue(as_user, who):
    response = as_user(who).get(URL, query("UTC"))

    assert response.status_code == 403
    assert error_of(response)["code"] == "PERMISSION_DENIED"


def test_superadmins_read_revenue(as_user, money_world):
    assert data_of(as_user("sam").get(URL, query("UTC")))["currencies"] == expected("UTC", "day", money_world)


def test_anonymous_is_401(api_client):
    response = api_client.get(URL)

    assert response.status_code == 401
    assert error_of(response)["code"] == "AUTHENTICATION_FAILED"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-03-05", "to": "2026-03-01"}, "from"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"currency": "rupees"}, "currency"),
        ({"granularity": "hour"}, "granularity"),
        ({"limit": "0"}, "limit"),
    ],
)
def test_bad_queries_are_400_in_the_envelope(as_user, params, field):
    response = as_user("ada").get(URL, params)

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]


# --- The shared realistic data set (tests/analytics/seed.py) --------------------------------------


def seed_expected(zone: ZoneInfo, start: date, end: date) -> dict[str, dict[str, Any]]:
    """Per currency, from the rows read back as plain values: totals and the breakdowns by key."""
    kept: dict[Any, int] = defaultdict(int)
    for entry in PayoutLedgerEntry.objects.values("payment_id", "kind", "amount"):
        if entry["kind"] in ("earning", "refund_reversal"):
            kept[entry["payment_id"]] += entry["amount"]
    specialisations = defaultdict(list)
    for row in DoctorProfile.specialisations.through.objects.values(
        "doctorprofile__user_id", "specialisation__name"
    ):
        specialisations[row["doctorprofile__user_id"]].append(row["specialisation__name"])
    rows = [
        r
        for r in Payment.objects.values(
            "pk",
            "currency",
            "gateway",
            "doctor_id",
            "status",
            "amount",
            "refunded_amount",
            "succeeded_at",
            "consultation__clinic_id",
        )
        if r["status"] in PAID and start <= r["succeeded_at"].astimezone(zone).date() <= end
    ]
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        figures = out.setdefault(r["currency"], defaultdict(lambda: defaultdict(lambda: defaultdict(int))))
        keys = [("totals", None), ("by_gateway", r["gateway"]), ("by_doctor", str(r["doctor_id"]))]
        keys += [("by_clinic", r["consultation__clinic_id"])]
        keys += [("by_specialisation", s) for s in specialisations[r["doctor_id"]] or [""]]
        keys += [("series", first_day(r["succeeded_at"].astimezone(zone).date(), "week").isoformat())]
        for group, key in keys:
            into = figures[group][key]
            into["gross"] += r["amount"]
            into["refunds"] += r["refunded_amount"]
            into["net"] += r["amount"] - r["refunded_amount"]
            into["doctor_share"] += kept[r["pk"]]
            into["platform_fee"] += r["amount"] - r["refunded_amount"] - kept[r["pk"]]
            into["payments"] += 1
    return out


@pytest.mark.parametrize("who", ["ada", "alan"])  # Asia/Kolkata and UTC admins, no tz sent
def test_the_realistic_seed_matches_plain_python(seeded, request, who):
    client = request.getfixturevalue(who)
    zone = ZoneInfo(seeded.staff[who].timezone)
    start, end = date(2029, 12, 16), date(2030, 3, 15)

    data = data_of(client.get(URL, {"from": start, "to": end, "granularity": "week"}))

    assert data["window"]["time_zone"] == zone.key
    want = seed_expected(zone, start, end)
    assert sorted(want) == ["INR", "USD"]
    assert [c["currency"] for c in data["currencies"]] == sorted(want)
    keyed = {
        "by_gateway": "gateway",
        "by_doctor": "doctor_id",
        "by_clinic": "clinic_id",
        "by_specialisation": "specialisation",
    }
    for answer in data["currencies"]:
        mine = want[answer["currency"]]
        assert answer["totals"] == mine["totals"][None]
        series = {row.pop("period"): row for row in answer["series"]}
        for period, figures in mine["series"].items():
            assert series[period] == {k: v for k, v in figures.items() if k != "payments"}
        for group, key in keyed.items():
            got = {row[key]: {k: row[k] for k in mine["totals"][None]} for row in answer[group]}
            assert got == {k: dict(v) for k, v in mine[group].items()}, group
            grosses = [row["gross"] for row in answer[group]]
            assert grosses == sorted(grosses, reverse=True)
