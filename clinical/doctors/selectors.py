"""Reads of the doctors area: who may see which doctor, listings with their next free slot,
availability filters and the performance summary. Every function runs a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    FloatField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast
from django.http import Http404
from django.utils import timezone

from clinical.access import is_staff
from clinical.doctors.availability import (
    Slot,
    available_slots,
    booked_starts,
    next_available_slot,
    next_available_slots,
)
from clinical.models import (
    AvailabilityException,
    AvailabilityRule,
    Consultation,
    ConsultationState,
    DoctorProfile,
    Document,
    DocumentKind,
    ExceptionKind,
    Review,
    VerificationStatus,
)
from telehealth.accounts.models import Role, User

# How far ahead the listings look for a doctor's next free slot (dates, today included).
NEXT_SLOT_DAYS = 14
# The longest look-ahead a client may ask for with ``has_slot_within_days``.
MAX_SLOT_WINDOW_DAYS = 60
# Every zone is within 14 hours of UTC: a local date lies inside [00:00 UTC - 14h, 24:00 UTC + 14h].
_ZONE_SPREAD = timedelta(hours=14)


def rating_average_expression() -> Case:
    """The mean rating as a float, NULL for a doctor nobody rated yet (sorts last)."""
    return Case(
        When(rating_count__gt=0, then=Cast(F("rating_sum"), FloatField()) / F("rating_count")),
        default=Value(None),
        output_field=FloatField(),
    )


def _base() -> QuerySet[DoctorProfile]:
    return DoctorProfile.objects.filter(user__role=Role.DOCTOR)


def public_doctors() -> QuerySet[DoctorProfile]:
    """Doctors anyone may find and book: verified, with an active doctor account."""
    return _base().filter(verification_status=VerificationStatus.VERIFIED, user__is_active=True)


def doctors_visible_to(user: User) -> QuerySet[DoctorProfile]:
    """Staff see every doctor (any verification state, to work the queue); everyone else the
    public ones."""
    return _base() if is_staff(user) else public_doctors()


def with_slot_data(queryset: QuerySet[DoctorProfile]) -> QuerySet[DoctorProfile]:
    """What slot computation reads: the account (time zone), rules and exceptions."""
    # Exceptions dated before yesterday (UTC) are in the past in every time zone: never needed.
    since = timezone.now().date() - timedelta(days=1)
    return queryset.select_related("user").prefetch_related(
        "availability_rules",
        Prefetch("availability_exceptions", queryset=AvailabilityException.objects.filter(date__gte=since)),
    )


def with_listing_data(queryset: QuerySet[DoctorProfile]) -> QuerySet[DoctorProfile]:
    """What a listing row shows, in a fixed number of queries: the slot data, specialisations and
    languages."""
    return with_slot_data(queryset).prefetch_related("specialisations", "languages")


def default_ordering() -> list:
    """Best rated first (unrated last), then by name."""
    return [F("rating_avg").desc(nulls_last=True), "user__first_name", "user__last_name", "pk"]


def annotate_rating(queryset: QuerySet[DoctorProfile]) -> QuerySet[DoctorProfile]:
    return queryset.annotate(rating_avg=rating_average_expression())


def get_doctor_for(user: User, doctor_id) -> DoctorProfile:
    """The profile of the doctor with user id ``doctor_id`` if ``user`` may see it: public doctors
    for anyone, any doctor for staff, and a doctor's own profile. Otherwise 404, so an unverified
    doctor's existence is not revealed."""
    queryset = _base()
    if not (is_staff(user) or (user.is_authenticated and str(user.pk) == str(doctor_id))):
        queryset = public_doctors()
    profile = (
        with_listing_data(queryset)
        .prefetch_related("education", "experience")
        .filter(user_id=doctor_id)
        .first()
    )
    if profile is None:
        raise Http404("No such doctor.")
    return profile


def own_profile(user: User) -> DoctorProfile | None:
    return (
        DoctorProfile.objects.select_related("user", "verified_by")
        .prefetch_related("specialisations", "languages", "education", "experience")
        .filter(user=user)
        .first()
    )


# --- Free slots ----------------------------------------------------------------------------------


def next_slots_for(profiles: list[DoctorProfile], *, now: datetime | None = None) -> dict[Any, Slot | None]:
    """The next free slot of each profile (from ``with_listing_data``), one query in all."""
    return next_available_slots(profiles, days=NEXT_SLOT_DAYS, now=now)


def next_slot_for(profile: DoctorProfile, *, now: datetime | None = None) -> Slot | None:
    return next_available_slot(profile, days=NEXT_SLOT_DAYS, now=now)


def slots_on(profile: DoctorProfile, day: date, *, now: datetime | None = None) -> list[Slot]:
    """Free slots on ``day``, a date in the doctor's own time zone."""
    return available_slots(profile, day, now=now)


def doctor_zone(profile: DoctorProfile) -> str:
    return profile.user.timezone or "UTC"


def _candidates(queryset: QuerySet[DoctorProfile], condition: Q | Exists) -> list[DoctorProfile]:
    return list(with_slot_data(queryset.prefetch_related(None).filter(condition)))


def _has_rule(**lookups) -> Exists:
    return Exists(AvailabilityRule.objects.filter(doctor=OuterRef("pk"), **lookups))


def _has_extra_hours(**lookups) -> Exists:
    return Exists(
        AvailabilityException.objects.filter(doctor=OuterRef("pk"), kind=ExceptionKind.EXTRA, **lookups)
    )


def with_free_slot_on(
    queryset: QuerySet[DoctorProfile], day: date, *, now: datetime | None = None
) -> QuerySet[DoctorProfile]:
    """Doctors with a free slot on ``day`` (each in their own time zone). SQL narrows to doctors
    working that weekday or with extra hours that date; the exact check runs on the slots."""
    now = now or timezone.now()
    works = _has_rule(weekday=day.weekday()) | _has_extra_hours(date=day)
    candidates = _candidates(queryset, works)
    start = datetime.combine(day, time(0), tzinfo=UTC) - _ZONE_SPREAD
    taken = booked_starts(
        [p.user_id for p in candidates], start=start, end=start + timedelta(days=1) + 2 * _ZONE_SPREAD
    )
    ids = [p.pk for p in candidates if available_slots(p, day, now=now, taken=taken.get(p.user_id, set()))]
    return queryset.filter(pk__in=ids)


def with_free_slot_within(
    queryset: QuerySet[DoctorProfile], days: int, *, now: datetime | None = None
) -> QuerySet[DoctorProfile]:
    """Doctors with a free slot in the next ``days`` dates (today included, in their own zone)."""
    now = now or timezone.now()
    works = _has_rule() | _has_extra_hours(date__gte=now.date() - timedelta(days=1))
    candidates = _candidates(queryset, works)
    found = next_available_slots(candidates, days=days, now=now)
    return queryset.filter(pk__in=[p.pk for p in candidates if found.get(p.user_id)])


# --- Reviews and documents -----------------------------------------------------------------------


def reviews_of(profile: DoctorProfile) -> QuerySet[Review]:
    return Review.objects.filter(doctor_id=profile.user_id)


def verification_documents_of(doctor_id) -> QuerySet[Document]:
    return Document.objects.filter(owner_id=doctor_id, kind=DocumentKind.VERIFICATION)


# --- Performance ---------------------------------------------------------------------------------

# Consultations that reached an outcome. Rescheduled ones are replaced by a new booking, so they
# count neither for nor against the doctor.
_OUTCOMES = (ConsultationState.COMPLETED, ConsultationState.CANCELLED, ConsultationState.NO_SHOW)


@dataclass
class Performance:
    doctor_id: Any
    since: datetime | None
    until: datetime | None
    total: int
    by_state: dict[str, int]
    completion_rate: Decimal | None
    average_rating: Decimal | None
    rating_count: int
    revenue: list[dict[str, Any]] = field(default_factory=list)


def performance_of(doctor_id, *, since: datetime | None = None, until: datetime | None = None) -> Performance:
    """Consultations by state, completion rate (completed out of those with an outcome: completed,
    cancelled or no-show), ratings and revenue (fees of completed consultations, one line per
    currency) of consultations scheduled in ``[since, until)``. Three aggregate queries."""
    consultations = Consultation.objects.filter(doctor_id=doctor_id)
    if since is not None:
        consultations = consultations.filter(scheduled_start__gte=since)
    if until is not None:
        consultations = consultations.filter(scheduled_start__lt=until)
    counts = consultations.aggregate(
        total=Count("pk"),
        **{state.value: Count("pk", filter=Q(state=state.value)) for state in ConsultationState},
    )
    total = counts.pop("total")
    finished = sum(counts[state] for state in _OUTCOMES)
    completion_rate = None
    if finished:
        completion_rate = (Decimal(counts[ConsultationState.COMPLETED]) / Decimal(finished)).quantize(
            Decimal("0.0001"), rounding=ROUND_HALF_UP
        )
    ratings = Review.objects.filter(consultation__in=consultations.values("pk")).aggregate(
        total=Sum("rating"), count=Count("pk")
    )
    average = None
    if ratings["count"]:
        average = (Decimal(ratings["total"]) / Decimal(ratings["count"])).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
    revenue = list(
        consultations.filter(state=ConsultationState.COMPLETED)
        .values("fee_currency")
        .annotate(amount=Sum("fee_amount"), consultations=Count("pk"))
        .order_by("fee_currency")
    )
    return Performance(
        doctor_id=doctor_id,
        since=since,
        until=until,
        total=total,
        by_state=counts,
        completion_rate=completion_rate,
        average_rating=average,
        rating_count=ratings["count"],
        revenue=[
            {"currency": row["fee_currency"], "amount": row["amount"], "consultations": row["consultations"]}
            for row in revenue
        ],
    )
