"""Payment analytics: every figure checked against a plain-Python computation over the seeded rows,
in the admin's time zone, per currency."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from payments.models import Coupon, CouponRedemption, Dispute, Payment, Refund
from tests.factories import ConsultationFactory
from tests.payments.api_helpers import BASE, data_of, error_of

pytestmark = pytest.mark.django_db

ANALYTICS = f"{BASE}analytics/"
PAID = {"succeeded", "partially_refunded", "refunded", "disputed"}
KOLKATA = ZoneInfo("Asia/Kolkata")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def seed(key, currency, gateway, doctor, list_amount, status, at=None, **extra) -> dict[str, Any]:
    row = {"key": key, "currency": currency, "gateway": gateway, "doctor": doctor, "list": list_amount}
    row |= {"status": status, "at": utc(at) if at else None, "discount": 0, "refunded": 0}
    return row | extra


# What is seeded, as plain data; ``expected`` computes from this alone.
SEED: list[dict[str, Any]] = [
    # Kolkata 1 Mar 10:30.
    seed("p1", "INR", "stripe", "doctor", 50_000, "succeeded", "2026-03-01T05:00:00"),
    # Kolkata 1 Mar 23:30; 10% coupon; 100.00 refunded (and a failed 50.00 refund that does not count).
    seed(
        "p2",
        "INR",
        "razorpay",
        "doctor",
        50_000,
        "partially_refunded",
        "2026-03-01T18:00:00",
        discount=5_000,
        coupon="TENOFF",
        refunded=10_000,
        refunds=[(10_000, "succeeded"), (5_000, "failed")],
    ),
    # Kolkata 2 Mar 00:30 (still 1 Mar in UTC); disputed, open.
    seed(
        "p3",
        "INR",
        "razorpay",
        "other_doctor",
        30_000,
        "disputed",
        "2026-03-01T19:00:00",
        disputes=[(30_000, "open")],
    ),
    # Kolkata 3 Mar; fixed coupon; refunded in full.
    seed(
        "p4",
        "INR",
        "stripe",
        "other_doctor",
        30_000,
        "refunded",
        "2026-03-03T10:00:00",
        discount=2_000,
        coupon="FLAT20",
        refunded=28_000,
        refunds=[(28_000, "succeeded")],
    ),
    # USD, Kolkata 2 Mar; a dispute lost (the card holder's bank took it back, not a refund of ours).
    seed(
        "p5", "USD", "stripe", "doctor", 4_000, "refunded", "2026-03-02T12:00:00", disputes=[(4_000, "lost")]
    ),
    # USD, Kolkata 3 Mar, another doctor.
    seed("p6", "USD", "stripe", "other_doctor", 6_000, "succeeded", "2026-03-03T03:00:00"),
    # Outside: Kolkata 28 Feb 23:30, and Kolkata 4 Mar 00:15 (3 Mar in UTC).
    seed("early", "INR", "stripe", "doctor", 99_000, "succeeded", "2026-02-28T18:00:00"),
    seed("late", "INR", "stripe", "doctor", 77_000, "succeeded", "2026-03-03T18:45:00"),
    # Never paid: not counted whenever they were made.
    seed("pending", "INR", "stripe", "doctor", 11_000, "pending"),
    seed("failed", "INR", "payu", "doctor", 12_000, "failed"),
]


def split(amount: int) -> tuple[int, int]:
    fee = amount * 15 // 100
    return fee, amount - fee


@pytest.fixture
def seeded(patient, doctor, other_doctor) -> dict[str, Any]:
    doctors = {"doctor": doctor, "other_doctor": other_doctor}
    coupons = {
        "TENOFF": Coupon.objects.create(code="TENOFF", kind="percent", value=10),
        "FLAT20": Coupon.objects.create(code="FLAT20", kind="fixed", value=2_000, currency="INR"),
    }
    for n, row in enumerate(SEED):
        amount = row["list"] - row["discount"]
        fee, share = split(amount) if row["at"] else (0, 0)
        payment = Payment.objects.create(
            consultation=ConsultationFactory(
                patient=patient, doctor=doctors[row["doctor"]], fee_amount=row["list"]
            ),
            patient=patient,
            doctor=doctors[row["doctor"]],
            gateway=row["gateway"],
            reference=f"ref_{n}",
            list_amount=row["list"],
            discount_amount=row["discount"],
            amount=amount,
            currency=row["currency"],
            status=row["status"],
            refunded_amount=row["refunded"],
            coupon=coupons.get(row.get("coupon", "")),
            platform_fee=fee,
            doctor_share=share,
            succeeded_at=row["at"],
        )
        if row.get("coupon"):
            CouponRedemption.objects.create(
                coupon=coupons[row["coupon"]], user=patient, payment=payment, amount=row["discount"]
            )
        for i, (refund_amount, status) in enumerate(row.get("refunds", [])):
            Refund.objects.create(
                payment=payment, amount=refund_amount, status=status, reason="x", idempotency_key=f"{n}:{i}"
            )
        for i, (disputed, status) in enumerate(row.get("disputes", [])):
            Dispute.objects.create(
                payment=payment, provider_dispute_id=f"dp_{n}_{i}", amount=disputed, status=status
            )
    # A coupon use given back (its payment failed) is not usage.
    failed = Payment.objects.get(reference=f"ref_{[r['key'] for r in SEED].index('failed')}")
    CouponRedemption.objects.create(
        coupon=coupons["TENOFF"], user=patient, payment=failed, amount=1, released=True
    )
    return {"doctors": doctors}


# --- The independent computation -----------------------------------------------------------------


def period_of(day: date, granularity: str) -> date:
    if granularity == "week":
        return day - timedelta(days=day.weekday())
    if granularity == "month":
        return day.replace(day=1)
    return day


def periods(start: date, end: date, granularity: str) -> list[date]:
    out, day = [], start
    while day <= end:
        if period_of(day, granularity) not in out:
            out.append(period_of(day, granularity))
        day += timedelta(days=1)
    return out


def m(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def expected(start: date, end: date, zone: ZoneInfo, granularity: str, doctors: dict) -> list[dict]:
    rows = [r for r in SEED if r["status"] in PAID and start <= r["at"].astimezone(zone).date() <= end]
    out = []
    for currency in sorted({r["currency"] for r in rows}):
        mine = [r for r in rows if r["currency"] == currency]

        def figures(group: list[dict], cur: str = currency) -> dict[str, Any]:
            gross = sum(r["list"] - r["discount"] for r in group)
            refunded = sum(r["refunded"] for r in group)
            return {
                "payments": len(group),
                "gross": m(gross, cur),
                "refunded": m(refunded, cur),
                "net": m(gross - refunded, cur),
            }

        gross = sum(r["list"] - r["discount"] for r in mine)
        refunded = sum(r["refunded"] for r in mine)
        fees = [split(r["list"] - r["discount"]) for r in mine]
        refunds = [a for r in mine for a, status in r.get("refunds", []) if status == "succeeded"]
        disputes = [d for r in mine for d in r.get("disputes", [])]
        refunded_payments = sum(1 for r in mine if r["refunded"] > 0)
        disputed_payments = sum(1 for r in mine if r.get("disputes"))
        with_coupon = [r for r in mine if r.get("coupon")]
        by_period = defaultdict(list)
        for r in mine:
            by_period[period_of(r["at"].astimezone(zone).date(), granularity)].append(r)
        by_gateway = defaultdict(list)
        for r in mine:
            by_gateway[r["gateway"]].append(r)
        by_doctor = defaultdict(list)
        for r in mine:
            by_doctor[r["doctor"]].append(r)
        by_coupon = defaultdict(list)
        for r in with_coupon:
            by_coupon[r["coupon"]].append(r)
        out.append(
            {
                "currency": currency,
                "totals": {
                    "payments": len(mine),
                    "gross": m(gross, currency),
                    "discounts": m(sum(r["discount"] for r in mine), currency),
                    "refunded": m(refunded, currency),
                    "net": m(gross - refunded, currency),
                    "platform_fees": m(sum(f for f, _ in fees), currency),
                    "doctor_shares": m(sum(s for _, s in fees), currency),
                },
                "refunds": {
                    "count": len(refunds),
                    "amount": m(sum(refunds), currency),
                    "refunded_payments": refunded_payments,
                    "refund_rate": round(refunded_payments / len(mine), 4),
                    "refunded_share": round(refunded / gross, 4),
                },
                "disputes": {
                    "count": len(disputes),
                    "amount": m(sum(a for a, _ in disputes), currency),
                    "open": sum(1 for _, s in disputes if s == "open"),
                    "lost": sum(1 for _, s in disputes if s == "lost"),
                    "lost_amount": m(sum(a for a, s in disputes if s == "lost"), currency),
                    "disputed_payments": disputed_payments,
                    "dispute_rate": round(disputed_payments / len(mine), 4),
                },
                "series": [
                    {"period": p.isoformat(), **figures(by_period.get(p, []))}
                    for p in periods(start, end, granularity)
                ],
                "by_gateway": sorted(
                    ({"gateway": g, **figures(group)} for g, group in by_gateway.items()),
                    key=lambda row: (-row["gross"]["amount"], row["gateway"]),
                ),
                "by_doctor": sorted(
                    (
                        {
                            "doctor": {"id": str(doctors[d].pk), "name": doctors[d].full_name},
                            **figures(group),
                            "doctor_shares": m(
                                sum(split(r["list"] - r["discount"])[1] for r in group), currency
                            ),
                        }
                        for d, group in by_doctor.items()
                    ),
                    key=lambda row: (-row["gross"]["amount"], row["doctor"]["id"]),
                ),
                "coupons": {
                    "payments_with_coupon": len(with_coupon),
                    "usage_rate": round(len(with_coupon) / len(mine), 4),
                    "top": sorted(
                        (
                            {
                                "code": code,
                                "redemptions": len(group),
                                "discount": m(sum(r["discount"] for r in group), currency),
                            }
                            for code, group in by_coupon.items()
                        ),
                        key=lambda row: (-row["redemptions"], -row["discount"]["amount"], row["code"]),
                    ),
                },
            }
        )
    return out


# --- The endpoint --------------------------------------------------------------------------------


def test_daily_figures_in_kolkata_time_match_an_independent_computation(ada, seeded):
    response = ada.get(f"{ANALYTICS}?from=2026-03-01&to=2026-03-03&tz=Asia/Kolkata")

    assert response.status_code == 200
    data = data_of(response)
    assert data["time_zone"] == "Asia/Kolkata"
    assert (data["from"], data["to"], data["granularity"]) == ("2026-03-01", "2026-03-03", "day")
    want = expected(date(2026, 3, 1), date(2026, 3, 3), KOLKATA, "day", seeded["doctors"])
    assert data["currencies"] == want
    # Spot checks of what the computation must have caught: the Kolkata day boundary.
    inr = data["currencies"][0]
    assert [row["payments"] for row in inr["series"]] == [2, 1, 1]  # p1, p2 | p3 | p4
    assert inr["totals"]["gross"] == {"amount": 50_000 + 45_000 + 30_000 + 28_000, "currency": "INR"}


def test_the_same_days_in_utc_count_differently(ada, seeded):
    data = data_of(ada.get(f"{ANALYTICS}?from=2026-03-01&to=2026-03-03&tz=UTC"))

    assert data["currencies"] == expected(
        date(2026, 3, 1), date(2026, 3, 3), ZoneInfo("UTC"), "day", seeded["doctors"]
    )
    inr = data["currencies"][0]
    assert [row["payments"] for row in inr["series"]] == [3, 0, 2]  # p1-p3 | - | p4, late


@pytest.mark.parametrize(
    ("granularity", "start", "end"),
    [("week", date(2026, 3, 1), date(2026, 3, 10)), ("month", date(2026, 2, 1), date(2026, 3, 31))],
)
def test_weeks_and_months(ada, seeded, granularity, start, end):
    data = data_of(ada.get(f"{ANALYTICS}?granularity={granularity}&from={start}&to={end}&tz=Asia/Kolkata"))

    assert data["currencies"] == expected(start, end, KOLKATA, granularity, seeded["doctors"])
    if granularity == "week":
        assert [row["period"] for row in data["currencies"][0]["series"]] == [
            "2026-02-23",
            "2026-03-02",
            "2026-03-09",
        ]


def test_one_currency_only(ada, seeded):
    data = data_of(ada.get(f"{ANALYTICS}?from=2026-03-01&to=2026-03-03&tz=Asia/Kolkata&currency=usd"))

    assert [c["currency"] for c in data["currencies"]] == ["USD"]


def test_the_profile_time_zone_is_the_default(client_for, admin_user, seeded):
    admin_user.timezone = "Asia/Kolkata"
    admin_user.save()

    data = data_of(client_for(admin_user).get(f"{ANALYTICS}?from=2026-03-01&to=2026-03-03"))

    assert data["time_zone"] == "Asia/Kolkata"
    assert data["currencies"] == expected(
        date(2026, 3, 1), date(2026, 3, 3), KOLKATA, "day", seeded["doctors"]
    )


def test_an_empty_window_has_no_currencies(ada, seeded):
    data = data_of(ada.get(f"{ANALYTICS}?from=2025-01-01&to=2025-01-31"))

    assert data["currencies"] == []


def test_the_default_window_is_the_last_30_days(ada):
    data = data_of(ada.get(ANALYTICS))

    start, end = date.fromisoformat(data["from"]), date.fromisoformat(data["to"])
    assert (end - start).days == 29
    assert data["time_zone"] == "UTC"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("tz=Mars/Olympus_Mons", "tz"),
        ("granularity=hour", "granularity"),
        ("from=2026-03-05&to=2026-03-01", "from"),
        ("from=2020-01-01&to=2026-03-01", "from"),  # more than 366 days
        ("from=yesterday", "from"),
        ("currency=RUPEES", "currency"),
        ("limit=0", "limit"),
    ],
)
def test_invalid_queries_are_validation_errors(ada, query, field):
    response = ada.get(f"{ANALYTICS}?{query}")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]


def test_superadmins_read_analytics(client_for, superadmin):
    assert client_for(superadmin).get(ANALYTICS).status_code == 200


@pytest.mark.parametrize("role", ["patient", "doctor"])
def test_analytics_are_for_staff(request, client_for, role):
    assert client_for(request.getfixturevalue(role)).get(ANALYTICS).status_code == 403


def test_anonymous_read_no_analytics(api_client):
    assert api_client.get(ANALYTICS).status_code == 401


def test_the_figures_take_a_bounded_number_of_queries(ada, seeded, django_assert_max_num_queries):
    with django_assert_max_num_queries(20):
        data_of(ada.get(f"{ANALYTICS}?from=2026-03-01&to=2026-03-03&tz=Asia/Kolkata"))
