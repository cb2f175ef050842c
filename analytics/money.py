"""Money and reach figures: revenue, geography and doctor performance. Every figure is a database
aggregate (one grouped query per breakdown); Python only merges and shapes the aggregated rows.

Dates are calendar days in ``window.zone`` (``from`` from local midnight, ``to`` up to the next local
midnight); series periods are local too, labelled with their first day. Money is integer minor
units, one entry per currency, never added across currencies.

Revenue is about the payments that succeeded inside the window (``succeeded_at``, as the payments
report ``payments.analytics`` counts them), whatever became of them afterwards:

- ``gross``: what they charged; ``refunds``: what has been refunded of them so far (succeeded
  refunds, whenever they happened); ``net`` = gross - refunds.
- ``doctor_share``: what the doctors keep of them, from the payout ledger (earnings plus refund
  reversals; provisional dispute holds left out); ``platform_fee`` = net - doctor_share: the fee the
  platform keeps after refunds (a full refund leaves no fee).
- ``by_specialisation``: a payment counts in every specialisation of its doctor (so the rows may add
  up to more than the totals); a doctor without one counts under ``""``.
- ``by_clinic``: the clinic of the consultation; consultations without one under ``clinic_id`` null.

Geography, at the level of country, state or city (blanks grouped under ``""``, unknown):

- ``patients``: active patient accounts registered before the end of ``to``, by their profile
  address.
- ``clinics``: verified clinics registered before the end of ``to``, by their address.
- ``doctors``: active doctor accounts registered before the end of ``to``, by the address of every
  clinic they are a member of (a doctor in clinics in two cities counts in both; one in none under
  ``""``).
- ``consultations``: consultations scheduled inside the window (any state), in-clinic visits at
  their clinic's address, every other kind at the patient's profile address.

Doctor performance, about the consultations scheduled inside the window (as
``clinical.doctors.selectors.performance_of`` counts them):

- ``completion_rate``: completed / (completed + cancelled + no-show); rescheduled ones count
  neither way; 0.0 with none of those.
- ``average_rating``: the mean rating of those consultations' reviews (2 decimals, half up).
- ``average_response_minutes``: the mean time from the patient entering the waiting room
  (``waiting_since``) to the doctor admitting them (``started_at``), over the consultations that
  had both (a doctor who starts a call before the patient waits has no response time there).
- ``revenue``: as above, the doctor's payments that succeeded inside the window.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import (
    Avg,
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    FilteredRelation,
    FloatField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce

from analytics.periods import TRUNCATE, Window, rate
from clinical.models import Clinic, Consultation, ConsultationState, VerificationStatus
from clinical.models.consultations import ConsultationType
from payments.analytics import local_day, paid_in, revenue_sums
from payments.models import Payment
from telehealth.accounts.models import Role, User

LEVELS = {"country": ("country",), "state": ("country", "state"), "city": ("country", "state", "city")}
PLACE = ("country", "state", "city")
FIGURES = ("patients", "doctors", "clinics", "consultations")
# Consultations with an outcome, as performance_of defines the completion rate.
OUTCOMES = (ConsultationState.COMPLETED, ConsultationState.CANCELLED, ConsultationState.NO_SHOW)
# ``ordering`` of the performance list: the name a client sends -> the annotation it sorts on.
PERFORMANCE_ORDERINGS = {
    "consultations": ("consultations",),
    "completion_rate": ("completion",),
    "average_rating": ("rating_average",),
    "average_response_minutes": ("response",),
    "name": ("first_name", "last_name"),
}


# --- Revenue -------------------------------------------------------------------------------------


def _money(row: dict[str, Any] | None) -> dict[str, int]:
    row = row or {"payments": 0, "gross": 0, "refunded": 0, "doctor_share": 0}
    gross, refunds, kept = int(row["gross"]), int(row["refunded"]), int(row["doctor_share"])
    net = gross - refunds
    return {"gross": gross, "refunds": refunds, "net": net, "platform_fee": net - kept, "doctor_share": kept}


def _with_count(row: dict[str, Any]) -> dict[str, int]:
    return {**_money(row), "payments": row["payments"]}


def revenue(window: Window, *, currency: str | None = None, limit: int = 20) -> dict[str, Any]:
    """Revenue per currency: totals, series, and by gateway, doctor (the ``limit`` best earning),
    specialisation and clinic (the ``limit`` best). See the module docstring for the definitions."""
    cohort = paid_in(window, currency)
    sums = revenue_sums()
    totals = {row["currency"]: row for row in cohort.values("currency").annotate(**sums).order_by("currency")}
    trunc = TRUNCATE[window.granularity]("succeeded_at", tzinfo=window.zone)
    series = {
        (row["currency"], local_day(row["period"], window.zone)): row
        for row in cohort.annotate(period=trunc).values("currency", "period").annotate(**sums).order_by()
    }
    gateways = cohort.values("currency", "gateway").annotate(**sums).order_by("currency", "-gross", "gateway")
    specialisations = (
        cohort.values(
            "currency", label=Coalesce(F("doctor__doctor_profile__specialisations__name"), Value(""))
        )
        .annotate(**sums)
        .order_by("currency", "-gross", "label")
    )
    report = []
    for code, total in totals.items():
        mine = cohort.filter(currency=code)
        report.append(
            {
                "currency": code,
                "totals": _with_count(total),
                "series": [
                    {"period": period.isoformat(), **_money(series.get((code, period)))}
                    for period in window.periods()
                ],
                "by_gateway": [
                    {"gateway": row["gateway"], **_with_count(row)}
                    for row in gateways
                    if row["currency"] == code
                ],
                "by_doctor": _by_doctor(mine, limit),
                "by_specialisation": [
                    {"specialisation": row["label"], **_with_count(row)}
                    for row in specialisations
                    if row["currency"] == code
                ],
                "by_clinic": _by_clinic(mine, limit),
            }
        )
    return {"currencies": report}


def _by_doctor(payments: QuerySet[Payment], limit: int) -> list[dict[str, Any]]:
    rows = (
        payments.values("doctor_id")
        .annotate(**revenue_sums(), first_name=F("doctor__first_name"), last_name=F("doctor__last_name"))
        .order_by("-gross", "doctor_id")[:limit]
    )
    return [{"doctor_id": str(row["doctor_id"]), "name": _name(row), **_with_count(row)} for row in rows]


def _by_clinic(payments: QuerySet[Payment], limit: int) -> list[dict[str, Any]]:
    rows = (
        payments.values(clinic=F("consultation__clinic_id"), clinic_name=F("consultation__clinic__name"))
        .annotate(**revenue_sums())
        .order_by("-gross", "clinic")[:limit]
    )
    return [
        {
            "clinic_id": row["clinic"],
            "name": row["clinic_name"] or "",
            **_with_count(row),
        }
        for row in rows
    ]


def _name(row: dict[str, Any]) -> str:
    return f"{row['first_name']} {row['last_name']}".strip()


# --- Geography -----------------------------------------------------------------------------------


def _place(prefix: str, fields: tuple[str, ...]) -> dict[str, Coalesce]:
    return {f"at_{name}": Coalesce(F(f"{prefix}{name}"), Value("")) for name in fields}


def _consultation_place(fields: tuple[str, ...]) -> dict[str, Case]:
    in_clinic = Q(type=ConsultationType.IN_CLINIC, clinic__isnull=False)
    return {
        f"at_{name}": Case(
            When(in_clinic, then=Coalesce(F(f"clinic__{name}"), Value(""))),
            default=Coalesce(F(f"patient__patient_profile__{name}"), Value("")),
        )
        for name in fields
    }


def geography(window: Window, *, level: str = "city", limit: int = 200) -> dict[str, Any]:
    """Patients, doctors, clinics and consultations per place (see the module docstring), the
    places with most consultations (then patients) first, at most ``limit`` of them."""
    fields = LEVELS[level]
    keys = [f"at_{name}" for name in fields]
    active = User.objects.filter(is_active=True, date_joined__lt=window.end_utc)
    queries = {
        "patients": active.filter(role=Role.PATIENT)
        .values(**_place("patient_profile__", fields))
        .annotate(n=Count("pk")),
        "doctors": active.filter(role=Role.DOCTOR)
        .values(**_place("clinic_memberships__clinic__", fields))
        .annotate(n=Count("pk", distinct=True)),
        "clinics": Clinic.objects.filter(
            verification_status=VerificationStatus.VERIFIED, created_at__lt=window.end_utc
        )
        .values(**_place("", fields))
        .annotate(n=Count("pk")),
        "consultations": Consultation.objects.filter(
            scheduled_start__gte=window.start_utc, scheduled_start__lt=window.end_utc
        )
        .values(**_consultation_place(fields))
        .annotate(n=Count("pk")),
    }
    places: dict[tuple[str, ...], dict[str, int]] = {}
    for figure, query in queries.items():
        for row in query.order_by():
            place = tuple(row[key] for key in keys)
            places.setdefault(place, dict.fromkeys(FIGURES, 0))[figure] += row["n"]
    ranked = sorted(
        places.items(),
        key=lambda item: (-item[1]["consultations"], -item[1]["patients"], [(p == "", p) for p in item[0]]),
    )
    rows = [
        {name: (place[i] if i < len(place) else None) for i, name in enumerate(PLACE)} | figures
        for place, figures in ranked[:limit]
    ]
    return {"level": level, "total_rows": len(places), "rows": rows}


# --- Doctor performance --------------------------------------------------------------------------


def _performance_rows(window: Window, doctor_id: Any = None) -> QuerySet[User]:
    in_window = Q(
        consultations_as_doctor__scheduled_start__gte=window.start_utc,
        consultations_as_doctor__scheduled_start__lt=window.end_utc,
    )
    doctors = User.objects.filter(role=Role.DOCTOR)
    if doctor_id is not None:
        doctors = doctors.filter(pk=doctor_id)
    waited = Q(
        c__waiting_since__isnull=False, c__started_at__isnull=False, c__started_at__gte=F("c__waiting_since")
    )
    by_state = {
        state.value: Count("c", filter=Q(c__state=state.value))
        for state in (ConsultationState.COMPLETED, ConsultationState.CANCELLED, ConsultationState.NO_SHOW)
    }
    return (
        doctors.annotate(c=FilteredRelation("consultations_as_doctor", condition=in_window))
        .values("pk", "first_name", "last_name")
        .annotate(
            consultations=Count("c"),
            **by_state,
            rating_count=Count("c__review"),
            rating_sum=Sum("c__review__rating"),
            response=Avg(
                ExpressionWrapper(F("c__started_at") - F("c__waiting_since"), output_field=DurationField()),
                filter=waited,
            ),
        )
        .annotate(
            finished=F("completed") + F("cancelled") + F("no_show"),
            completion=Case(
                When(finished__gt=0, then=Cast("completed", FloatField()) / F("finished")),
                default=Value(0.0),
                output_field=FloatField(),
            ),
            rating_average=Case(
                When(rating_count__gt=0, then=Cast("rating_sum", FloatField()) / F("rating_count")),
                default=Value(None),
                output_field=FloatField(),
            ),
        )
    )


def doctor_performance(
    window: Window,
    *,
    doctor_id: Any = None,
    ordering: str = "-consultations",
    limit: int = 50,
    offset: int = 0,
) -> dict[str, Any]:
    """Per doctor (every doctor account, or the one ``doctor_id``): consultations by outcome,
    completion rate, rating, response time and revenue per currency, sorted by ``ordering`` (a key
    of ``PERFORMANCE_ORDERINGS``, ``-`` for descending; empty figures last), ``limit`` rows from
    ``offset``. See the module docstring for the definitions. No patient is named."""
    rows = _performance_rows(window, doctor_id)
    descending = ordering.startswith("-")
    fields = PERFORMANCE_ORDERINGS[ordering.lstrip("-")]
    order = [F(f).desc(nulls_last=True) if descending else F(f).asc(nulls_last=True) for f in fields]
    order += ["first_name", "last_name", "pk"]
    total = rows.count()
    page = list(rows.order_by(*order)[offset : offset + limit])
    money = _doctor_revenue(window, [row["pk"] for row in page])
    return {
        "total": total,
        "doctors": [
            {
                "doctor_id": str(row["pk"]),
                "name": _name(row),
                "consultations": row["consultations"],
                "completed": row["completed"],
                "cancelled": row["cancelled"],
                "no_show": row["no_show"],
                "completion_rate": rate(row["completed"], row["finished"]),
                "average_rating": _average(row["rating_sum"], row["rating_count"]),
                "rating_count": row["rating_count"],
                "revenue": money.get(row["pk"], []),
                "average_response_minutes": _minutes(row["response"]),
            }
            for row in page
        ],
    }


def _doctor_revenue(window: Window, doctor_ids: list[Any]) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = {}
    rows = (
        paid_in(window)
        .filter(doctor_id__in=doctor_ids)
        .values("doctor_id", "currency")
        .annotate(**revenue_sums())
        .order_by("doctor_id", "currency")
    )
    for row in rows:
        out.setdefault(row["doctor_id"], []).append({"currency": row["currency"], **_with_count(row)})
    return out


def _average(total: int | None, count: int) -> float | None:
    if not count:
        return None
    return float((Decimal(total or 0) / Decimal(count)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _minutes(value: timedelta | float | None) -> float | None:
    if value is None:
        return None
    if not isinstance(value, timedelta):  # a backend that averages durations as microseconds
        value = timedelta(microseconds=float(value))
    return round(value.total_seconds() / 60, 2)
