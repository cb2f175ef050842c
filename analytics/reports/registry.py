"""What a custom report may count, break down and filter on.

A metric is one aggregate (a count, a sum of minor units, an average) over one model, placed in
time by one of its datetime fields. A dimension is a column the figures are grouped by; the same
names filter (``{"state": ["completed"]}``). Each metric lists the dimensions it supports, so a
definition can only ask for what its query can answer.

Money metrics are per currency: ``currency`` is always one of their dimensions (added when a
definition leaves it out), so amounts in different currencies never share a row. They count the
payments that succeeded inside the range (``succeeded_at``), whatever became of them later, like
``GET /api/payments/analytics/``: ``revenue_net`` is ``revenue_gross`` less ``revenue_refunds``
for the same payments. (The nightly roll-ups count money on a cash basis instead.)

Specialisation: a doctor with two specialisations counts under both, so rows grouped by
specialisation may add up to more than the total. Filtering on it never double counts.

Country and city are the patient's (from their profile; blank when they never gave one).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Aggregate, Avg, Count, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from clinical.models import (
    Consultation,
    ConsultationState,
    ConsultationType,
    DoctorProfile,
    Prescription,
    Review,
)
from clinical.models.consultations import NoShowParty
from payments.models import PAID_STATUSES, GatewayName, Payment
from telehealth.accounts.models import Role, User

PERIOD = "period"


def one_of(choices: list[str]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}.")
        return value

    return check


def uuid_value(value: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise ValueError(f"{value!r} is not an id.") from None


def int_id(value: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not an id.") from None
    if number < 1:
        raise ValueError(f"{value!r} is not an id.")
    return number


def _pattern(regex: str, hint: str, *, upper: bool = False) -> Callable[[str], str]:
    def check(value: str) -> str:
        value = str(value).strip()
        value = value.upper() if upper else value
        if not re.fullmatch(regex, value):
            raise ValueError(f"{value!r} is not {hint}.")
        return value

    return check


currency_code = _pattern(r"[A-Z]{3}", "an ISO 4217 currency code", upper=True)
_country = _pattern(r"[A-Z]{2}", "an ISO 3166-1 alpha-2 country code", upper=True)
_city = _pattern(r".{1,100}", "a city name")
_slug = _pattern(r"[-a-zA-Z0-9_]{1,100}", "a specialisation slug")


@dataclass(frozen=True)
class Dimension:
    """``group_by`` are the ORM paths the query groups on (the first is the value; the rest only
    label it, e.g. a doctor's name); ``columns`` name them in the output."""

    key: str
    label: str
    group_by: tuple[str, ...]
    columns: tuple[str, ...]
    clean: Callable[[str], Any]
    # How a filter on this dimension narrows the rows; default ``<group_by[0]>__in``.
    narrow: Callable[[list[Any]], Q] | None = None
    # Output cells from the grouped values (default: as they are).
    shape: Callable[[list[Any]], list[Any]] | None = None

    def q(self, values: list[Any]) -> Q:
        if self.narrow is not None:
            return self.narrow(values)
        return Q(**{f"{self.group_by[0]}__in": values})

    def cells(self, values: list[Any]) -> list[Any]:
        return self.shape(values) if self.shape else values


def _name(values: list[Any]) -> list[Any]:
    ident, first, last = values
    return [str(ident) if ident is not None else "", f"{first or ''} {last or ''}".strip()]


def _blank(values: list[Any]) -> list[Any]:
    return ["" if value is None else value for value in values]


def doctor(path: str) -> Dimension:
    return Dimension(
        "doctor",
        "Doctor",
        (f"{path}_id", f"{path}__first_name", f"{path}__last_name"),
        ("doctor_id", "doctor_name"),
        uuid_value,
        shape=_name,
    )


def specialisation(doctor_path: str) -> Dimension:
    def narrow(values: list[Any]) -> Q:
        # A subquery, not a join: a doctor matching two of the values must still count once.
        doctors = DoctorProfile.objects.filter(specialisations__slug__in=values).values("user_id")
        return Q(**{f"{doctor_path}__in": doctors})

    return Dimension(
        "specialisation",
        "Specialisation (of the doctor)",
        (f"{doctor_path}__doctor_profile__specialisations__slug",),
        ("specialisation",),
        _slug,
        narrow=narrow,
        shape=_blank,
    )


def clinic(path: str) -> Dimension:
    return Dimension(
        "clinic",
        "Clinic",
        (f"{path}_id", f"{path}__name"),
        ("clinic_id", "clinic_name"),
        int_id,
        shape=_blank,
    )


def simple(key: str, label: str, path: str, clean: Callable[[str], Any]) -> Dimension:
    return Dimension(key, label, (path,), (key,), clean, shape=_blank)


def country(profile_path: str) -> Dimension:
    return simple("country", "Country (of the patient)", f"{profile_path}__country", _country)


def city(profile_path: str) -> Dimension:
    return simple("city", "City (of the patient)", f"{profile_path}__city", _city)


def period() -> Dimension:
    # Grouped on an annotation the query adds (``TruncDay`` etc. in the report's zone).
    return Dimension(PERIOD, "Period (day, week or month, by its first day)", (PERIOD,), (PERIOD,), str)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    description: str
    rows: Callable[[], QuerySet]  # the rows counted, before the date range
    date_field: str  # places a row in time
    aggregate: Callable[[], Aggregate]
    dimensions: tuple[Dimension, ...]
    money: bool = False  # integer minor units: grouped by currency, always
    decimals: int | None = None  # averages are rounded; counts and sums are integers

    by_key: dict[str, Dimension] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_key", {dimension.key: dimension for dimension in self.dimensions})


def _consultation_dimensions(*, state: bool = True, no_show: bool = False) -> tuple[Dimension, ...]:
    out = [
        period(),
        simple("type", "Consultation type", "type", one_of(ConsultationType.values)),
    ]
    if state:
        out.append(simple("state", "State (now)", "state", one_of(ConsultationState.values)))
    if no_show:
        out.append(
            simple("no_show_party", "Who did not turn up", "no_show_party", one_of(NoShowParty.values))
        )
    return (
        *out,
        specialisation("doctor"),
        doctor("doctor"),
        clinic("clinic"),
        simple("currency", "Fee currency", "fee_currency", currency_code),
        country("patient__patient_profile"),
        city("patient__patient_profile"),
    )


def _count() -> Aggregate:
    return Count("pk")


def _payments() -> QuerySet:
    return Payment.objects.filter(status__in=PAID_STATUSES)


_PAYMENT_DIMENSIONS = (
    period(),
    simple("currency", "Currency", "currency", currency_code),
    simple("gateway", "Gateway", "gateway", one_of(GatewayName.values)),
    simple("status", "Payment status (now)", "status", one_of(sorted(PAID_STATUSES))),
    simple("type", "Consultation type", "consultation__type", one_of(ConsultationType.values)),
    specialisation("doctor"),
    doctor("doctor"),
    clinic("consultation__clinic"),
    country("patient__patient_profile"),
    city("patient__patient_profile"),
)


def _money(key: str, label: str, description: str, aggregate: Callable[[], Aggregate]) -> Metric:
    return Metric(
        key, label, description, _payments, "succeeded_at", aggregate, _PAYMENT_DIMENSIONS, money=True
    )


METRICS: dict[str, Metric] = {
    metric.key: metric
    for metric in (
        Metric(
            "consultations",
            "Consultations",
            "Consultations scheduled to start in the range, in any state.",
            Consultation.objects.all,
            "scheduled_start",
            _count,
            _consultation_dimensions(),
        ),
        Metric(
            "completed_consultations",
            "Completed consultations",
            "Consultations scheduled to start in the range that were completed.",
            lambda: Consultation.objects.filter(state=ConsultationState.COMPLETED),
            "scheduled_start",
            _count,
            _consultation_dimensions(state=False),
        ),
        Metric(
            "no_shows",
            "No-shows",
            "Consultations scheduled to start in the range that ended as a no-show.",
            lambda: Consultation.objects.filter(state=ConsultationState.NO_SHOW),
            "scheduled_start",
            _count,
            _consultation_dimensions(state=False, no_show=True),
        ),
        _money(
            "revenue_gross",
            "Gross revenue (minor units)",
            "What was charged for the payments that succeeded in the range.",
            lambda: Coalesce(Sum("amount"), Value(0)),
        ),
        _money(
            "revenue_refunds",
            "Refunded (minor units)",
            "What has been refunded of the payments that succeeded in the range, up to now.",
            lambda: Coalesce(Sum("refunded_amount"), Value(0)),
        ),
        _money(
            "revenue_net",
            "Net revenue (minor units)",
            "Gross less refunded, for the payments that succeeded in the range.",
            lambda: Coalesce(Sum(F("amount") - F("refunded_amount")), Value(0)),
        ),
        _money(
            "platform_fee",
            "Platform fee (minor units)",
            "The platform's fee on the payments that succeeded in the range, as charged (before refunds).",
            lambda: Coalesce(Sum("platform_fee"), Value(0)),
        ),
        Metric(
            "signups",
            "Sign-ups",
            "Accounts created in the range.",
            User.objects.all,
            "date_joined",
            _count,
            (
                period(),
                simple("role", "Role", "role", one_of(Role.values)),
                country("patient_profile"),
                city("patient_profile"),
            ),
        ),
        Metric(
            "prescriptions_issued",
            "Prescriptions issued",
            "Prescriptions issued in the range (a correction is issued again and counts again).",
            lambda: Prescription.objects.filter(issued_at__isnull=False),
            "issued_at",
            _count,
            (
                period(),
                simple("type", "Consultation type", "consultation__type", one_of(ConsultationType.values)),
                specialisation("doctor"),
                doctor("doctor"),
                clinic("consultation__clinic"),
            ),
        ),
        Metric(
            "average_rating",
            "Average rating",
            "The mean rating (1-5, two decimals) of the reviews written in the range.",
            Review.objects.all,
            "created_at",
            lambda: Avg("rating"),
            (
                period(),
                simple("type", "Consultation type", "consultation__type", one_of(ConsultationType.values)),
                specialisation("doctor"),
                doctor("doctor"),
            ),
            decimals=2,
        ),
    )
}
