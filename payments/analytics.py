"""Payment figures for staff: revenue over time, by gateway and by doctor, refund and dispute rates,
coupon usage. Every sum is computed by the database (one aggregate query per breakdown, and per
currency for the ranked lists); Python only shapes the few aggregated rows.

What is counted: the payments that succeeded inside the window (``succeeded_at``), whatever they
became afterwards (refunded, disputed). Their refunds, disputes and coupon discounts are those
payments' own, so every rate compares like with like. Figures are per currency: amounts in
different currencies are never added together.

Dates are calendar days in ``window.zone``: ``from`` starts at local midnight and ``to`` is included
up to the next local midnight; periods (days, weeks from Monday, months) are local too, and each is
labelled with its first day.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from analytics.periods import (  # noqa: F401  (re-exported for the payments views)
    MAX_PERIODS,
    TRUNCATE,
    Window,
    count_periods,
    next_period,
    period_start,
    rate,
)
from payments.models import (
    PAID_STATUSES,
    CouponRedemption,
    Dispute,
    DisputeStatus,
    LedgerKind,
    Payment,
    PayoutLedgerEntry,
    Refund,
    RefundStatus,
)


def paid_in(window: Window, currency: str | None = None) -> QuerySet[Payment]:
    """The payments the figures are about: paid (at some point), succeeded inside the window."""
    payments = Payment.objects.filter(
        status__in=PAID_STATUSES, succeeded_at__gte=window.start_utc, succeeded_at__lt=window.end_utc
    )
    return payments.filter(currency=currency.upper()) if currency else payments


def _money_sums() -> dict[str, Any]:
    return {
        "payments": Count("pk"),
        "gross": Coalesce(Sum("amount"), Value(0)),
        "refunded": Coalesce(Sum("refunded_amount"), Value(0)),
    }


def _local_day(value: datetime | date, zone: ZoneInfo) -> date:
    if isinstance(value, datetime):
        return (value.astimezone(zone) if value.tzinfo else value).date()
    return value


def revenue_report(window: Window, *, currency: str | None = None, limit: int = 20) -> dict[str, Any]:
    """Everything the analytics endpoint answers, per currency (see the module docstring)."""
    cohort = paid_in(window, currency)
    zone = window.zone

    totals = (
        cohort.values("currency")
        .annotate(
            **_money_sums(),
            discounts=Coalesce(Sum("discount_amount"), Value(0)),
            platform_fees=Coalesce(Sum("platform_fee"), Value(0)),
            doctor_shares=Coalesce(Sum("doctor_share"), Value(0)),
            refunded_payments=Count("pk", filter=Q(refunded_amount__gt=0)),
            disputed_payments=Count("pk", filter=Q(Exists(Dispute.objects.filter(payment=OuterRef("pk"))))),
            coupon_payments=Count("pk", filter=Q(coupon__isnull=False)),
        )
        .order_by("currency")
    )
    currencies = {row["currency"]: row for row in totals}

    trunc = TRUNCATE[window.granularity]("succeeded_at", tzinfo=zone)
    series: dict[tuple[str, date], dict[str, Any]] = {
        (row["currency"], _local_day(row["period"], zone)): row
        for row in cohort.annotate(period=trunc)
        .values("currency", "period")
        .annotate(**_money_sums())
        .order_by("currency", "period")
    }

    by_gateway = (
        cohort.values("currency", "gateway")
        .annotate(**_money_sums())
        .order_by("currency", "-gross", "gateway")
    )

    refunds = {
        row["payment__currency"]: row
        for row in Refund.objects.filter(payment__in=cohort, status=RefundStatus.SUCCEEDED)
        .values("payment__currency")
        .annotate(count=Count("pk"), total=Sum("amount"))
        .order_by()
    }
    lost = Q(status=DisputeStatus.LOST)
    disputes = {
        row["payment__currency"]: row
        for row in Dispute.objects.filter(payment__in=cohort)
        .values("payment__currency")
        .annotate(
            count=Count("pk"),
            total=Sum("amount"),
            open=Count("pk", filter=Q(status=DisputeStatus.OPEN)),
            lost=Count("pk", filter=lost),
            lost_total=Coalesce(Sum("amount", filter=lost), Value(0)),
        )
        .order_by()
    }

    report = []
    for code, total in currencies.items():
        money = _money(code)
        payments, gross = total["payments"], total["gross"]
        refund_row = refunds.get(code, {"count": 0, "total": 0})
        dispute_row = disputes.get(code, {"count": 0, "total": 0, "open": 0, "lost": 0, "lost_total": 0})
        report.append(
            {
                "currency": code,
                "totals": {
                    "payments": payments,
                    "gross": money(gross),
                    "discounts": money(total["discounts"]),
                    "refunded": money(total["refunded"]),
                    "net": money(gross - total["refunded"]),
                    "platform_fees": money(total["platform_fees"]),
                    "doctor_shares": money(total["doctor_shares"]),
                },
                "refunds": {
                    "count": refund_row["count"],
                    "amount": money(refund_row["total"]),
                    "refunded_payments": total["refunded_payments"],
                    "refund_rate": rate(total["refunded_payments"], payments),
                    "refunded_share": rate(total["refunded"], gross),
                },
                "disputes": {
                    "count": dispute_row["count"],
                    "amount": money(dispute_row["total"]),
                    "open": dispute_row["open"],
                    "lost": dispute_row["lost"],
                    "lost_amount": money(dispute_row["lost_total"]),
                    "disputed_payments": total["disputed_payments"],
                    "dispute_rate": rate(total["disputed_payments"], payments),
                },
                "series": [
                    _figures(period.isoformat(), series.get((code, period)), money)
                    for period in window.periods()
                ],
                "by_gateway": [
                    {"gateway": row["gateway"], **_figures(None, row, money)}
                    for row in by_gateway
                    if row["currency"] == code
                ],
                "by_doctor": _by_doctor(cohort, code, limit, money),
                "coupons": _coupons(cohort, code, limit, money, total["coupon_payments"], payments),
            }
        )
    return {
        "time_zone": zone.key,
        "granularity": window.granularity,
        "from": window.start.isoformat(),
        "to": window.end.isoformat(),
        "currencies": report,
    }


def _money(currency: str):
    return lambda amount: {"amount": int(amount or 0), "currency": currency}


def _figures(period: str | None, row: dict[str, Any] | None, money) -> dict[str, Any]:
    row = row or {"payments": 0, "gross": 0, "refunded": 0}
    figures = {
        "payments": row["payments"],
        "gross": money(row["gross"]),
        "refunded": money(row["refunded"]),
        "net": money(row["gross"] - row["refunded"]),
    }
    return {"period": period, **figures} if period is not None else figures


def _by_doctor(cohort: QuerySet[Payment], currency: str, limit: int, money) -> list[dict[str, Any]]:
    """The doctors who earned most in ``currency``, best first."""
    rows = (
        cohort.filter(currency=currency)
        .values("doctor_id")
        .annotate(
            **_money_sums(),
            doctor_shares=Coalesce(Sum("doctor_share"), Value(0)),
            first_name=F("doctor__first_name"),
            last_name=F("doctor__last_name"),
        )
        .order_by("-gross", "doctor_id")[:limit]
    )
    return [
        {
            "doctor": {
                "id": str(row["doctor_id"]),
                "name": f"{row['first_name']} {row['last_name']}".strip(),
            },
            **_figures(None, row, money),
            "doctor_shares": money(row["doctor_shares"]),
        }
        for row in rows
    ]


def _coupons(
    cohort: QuerySet[Payment], currency: str, limit: int, money, coupon_payments: int, payments: int
) -> dict[str, Any]:
    """How many payments in ``currency`` used a coupon, and the most used codes."""
    rows = (
        CouponRedemption.objects.filter(payment__in=cohort.filter(currency=currency), released=False)
        .values("coupon_id", "coupon__code")
        .annotate(redemptions=Count("pk"), discount=Coalesce(Sum("amount"), Value(0)))
        .order_by("-redemptions", "-discount", "coupon__code")[:limit]
    )
    return {
        "payments_with_coupon": coupon_payments,
        "usage_rate": rate(coupon_payments, payments),
        "top": [
            {
                "code": row["coupon__code"],
                "redemptions": row["redemptions"],
                "discount": money(row["discount"]),
            }
            for row in rows
        ],
    }


# --- Shared with the analytics endpoints (analytics.money) -----------------------------------------


def doctor_share_kept() -> Coalesce:
    """Per payment (an expression over a Payment queryset): the part of it the doctor keeps, from
    the payout ledger: the payment's earning plus its refund reversals. Dispute holds are left out:
    they are provisional. What the platform keeps of a payment is its net minus this."""
    entries = (
        PayoutLedgerEntry.objects.filter(
            payment=OuterRef("pk"), kind__in=[LedgerKind.EARNING, LedgerKind.REFUND_REVERSAL]
        )
        .order_by()
        .values("payment")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Coalesce(Subquery(entries), Value(0))


def revenue_sums() -> dict[str, Any]:
    """The revenue report's sums (``payments``, ``gross``, ``refunded``) plus ``doctor_share``, the
    sum of ``doctor_share_kept``."""
    return {**_money_sums(), "doctor_share": Coalesce(Sum(doctor_share_kept()), Value(0))}


def local_day(value: datetime | date, zone: ZoneInfo) -> date:
    """A truncated period as the database returns it, as the local date it starts on."""
    return _local_day(value, zone)
