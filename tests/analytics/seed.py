"""A realistic, deterministic data set for the analytics tests, as of ``NOW`` (the tests freeze the
clock there: see ``tests/analytics/conftest.py``).

What ``build()`` makes, from one seeded random generator:

- Specialisations, and clinics in cities of India, the US and the UK.
- Staff: ``ada`` (admin, Asia/Kolkata), ``alan`` (admin, UTC), ``sam`` (superadmin,
  America/New_York) and a deactivated admin.
- Doctors with profiles: several specialisations, one, or none; verified, pending and rejected;
  fees in INR, or USD for the US doctors.
- Patients in several time zones who joined over the last ~120 days (many right at a Kolkata or
  UTC midnight), a deactivated one among them.
- Bookings: each patient books 0-5 times with gaps from days to months (retention), in every state
  and type, at every hour, with waiting/started/ended times that fit the state; cancelled ones,
  rescheduled ones with their replacement (``rescheduled_from``); a batch around ``NOW`` (today in
  both UTC and Kolkata, some waiting or in progress right now) and some in the future.
- Reviews of most completed consultations.
- Sign-ins: ``OutstandingToken`` rows (what simplejwt records for every token issued) per user.
- Money, through ``payments.models`` directly: a payment per paid booking (INR or USD) that
  succeeded, was refunded in part or in full, disputed, or failed; succeeded, pending and failed
  refunds (``updated_at`` is when a refund succeeded) with the doctor's reversal in the ledger.

Nothing here computes a figure: tests compute what they expect from the rows.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from clinical.models import (
    Clinic,
    Consultation,
    ConsultationState,
    ConsultationType,
    DoctorProfile,
    Review,
    Specialisation,
)
from payments.models import LedgerKind, Payment, PayoutLedgerEntry, Refund
from telehealth.accounts.models import User
from tests.factories import DoctorProfileFactory, UserFactory

# 21:30 in Kolkata: "today" is 15 March in both UTC and Kolkata, but a different 24 hours.
NOW = datetime(2030, 3, 15, 16, 0, tzinfo=UTC)
HISTORY_DAYS = 120
FEE_PERCENT = 15
SPECIALISATIONS = ["Cardiology", "Dermatology", "General Medicine", "Paediatrics"]
CLINICS = [
    ("Apollo Andheri", "Mumbai", "IN"),
    ("Koramangala Care", "Bengaluru", "IN"),
    ("Saket Heart Centre", "Delhi", "IN"),
    ("Brooklyn Family Health", "New York", "US"),
    ("Thames Clinic", "London", "GB"),
]
PATIENT_ZONES = ["Asia/Kolkata", "Asia/Kolkata", "UTC", "America/New_York", "Europe/London"]
# (specialisations, verification, currency, fee)
DOCTORS = [
    (["Cardiology", "General Medicine"], "verified", "INR", 80_000),
    (["Dermatology"], "verified", "INR", 50_000),
    (["General Medicine"], "verified", "INR", 30_000),
    (["Paediatrics"], "verified", "USD", 6_000),
    ([], "verified", "INR", 40_000),
    (["Cardiology"], "pending", "INR", 90_000),
    (["Dermatology", "Paediatrics"], "pending", "USD", 4_000),
    (["General Medicine"], "rejected", "INR", 20_000),
]
GAPS_DAYS = [2, 12, 25, 29, 31, 45, 59, 61, 75, 89, 91, 120]


@dataclass
class Seeded:
    now: datetime
    staff: dict[str, User]
    doctors: list[User]
    patients: list[User]
    profiles: list[DoctorProfile]
    clinics: list[Clinic]
    specialisations: dict[str, Specialisation]
    consultations: list[Consultation] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)


class _Builder:
    def __init__(self, now: datetime, seed: int) -> None:
        self.now = now
        self.rng = random.Random(seed)
        self.tick = 0

    def moment(self, days_back: float, days_ahead: float = 0) -> datetime:
        """Between ``days_back`` days before now and ``days_ahead`` after; one in four right at a
        Kolkata (18:30 UTC) or UTC midnight, or a microsecond before it."""
        rng = self.rng
        at = self.now - timedelta(seconds=rng.uniform(-days_ahead, days_back) * 86_400)
        if rng.random() < 0.25:
            hour = at.replace(minute=0, second=0, microsecond=0)
            midnight = hour.replace(hour=0) if rng.random() < 0.5 else hour.replace(hour=18, minute=30)
            at = midnight - timedelta(microseconds=rng.choice([0, 1]))
        return at if days_ahead else min(at, self.now)

    def unique(self, at: datetime) -> datetime:
        """``at`` moved by a few distinct seconds: no two bookings share a doctor's slot."""
        self.tick += 1
        return at.replace(microsecond=0) + timedelta(seconds=self.tick % 50)


def build(now: datetime = NOW, seed: int = 2030) -> Seeded:
    b = _Builder(now, seed)
    rng = b.rng
    specialisations = {
        name: Specialisation.objects.create(name=name, slug=name.lower().replace(" ", "-"))
        for name in SPECIALISATIONS
    }
    joined_long_ago = now - timedelta(days=HISTORY_DAYS + 200)
    staff = {
        "ada": UserFactory(
            role="admin", first_name="Ada", timezone="Asia/Kolkata", date_joined=joined_long_ago
        ),
        "alan": UserFactory(role="admin", first_name="Alan", timezone="UTC", date_joined=joined_long_ago),
        "sam": UserFactory(
            role="superadmin", first_name="Sam", timezone="America/New_York", date_joined=b.moment(60)
        ),
        "gone": UserFactory(role="admin", first_name="Gwen", is_active=False, date_joined=joined_long_ago),
    }
    clinics = [
        Clinic.objects.create(
            name=name, city=city, country=country, created_by=staff["ada"], verification_status="verified"
        )
        for name, city, country in CLINICS
    ]

    doctors, profiles = [], []
    for n, (specs, status, currency, fee) in enumerate(DOCTORS):
        user = UserFactory(
            role="doctor",
            timezone="America/New_York" if currency == "USD" else "Asia/Kolkata",
            date_joined=b.moment(HISTORY_DAYS),
            first_name=f"Doc{n}",
        )
        profile = DoctorProfileFactory(
            user=user, verification_status=status, fee_amount=fee, fee_currency=currency
        )
        profile.specialisations.set([specialisations[name] for name in specs])
        doctors.append(user)
        profiles.append(profile)
    fees = {
        doctor.pk: (profile.fee_currency, profile.fee_amount)
        for doctor, profile in zip(doctors, profiles, strict=True)
    }

    patients = [
        UserFactory(
            role="patient",
            timezone=PATIENT_ZONES[n % len(PATIENT_ZONES)],
            date_joined=b.moment(HISTORY_DAYS),
            is_active=n != 7,
        )
        for n in range(48)
    ]
    seeded = Seeded(now, staff, doctors, patients, profiles, clinics, specialisations)

    # Sign-ins and refreshes.
    for user in [*staff.values(), *doctors, *patients]:
        for _ in range(rng.randrange(0, 6)):
            at = max(user.date_joined, b.moment(HISTORY_DAYS))
            OutstandingToken.objects.create(
                user=user,
                jti=uuid.uuid4().hex,
                token=f"seeded.{uuid.uuid4().hex}",
                created_at=min(at, now),
                expires_at=at + timedelta(days=7),
            )

    # Bookings, patient by patient.
    for patient in patients:
        booked = max(patient.date_joined, b.moment(HISTORY_DAYS)) if rng.random() < 0.85 else None
        count = rng.choice([1, 1, 2, 2, 3, 4, 5])
        while booked is not None and booked < now and count:
            _booking(b, seeded, patient, booked, fees)
            booked += timedelta(days=rng.choice(GAPS_DAYS), hours=rng.uniform(-12, 12))
            count -= 1

    # Around now: today in UTC and in Kolkata, some in a room right now, some later today.
    for _ in range(18):
        start = now + timedelta(hours=rng.uniform(-22, 10))
        _booking(
            b, seeded, rng.choice(patients), start - timedelta(days=rng.uniform(0.1, 6)), fees, start=start
        )
    # In a room right now.
    for state in ("waiting", "in_progress", "in_progress"):
        start = now - timedelta(minutes=rng.uniform(1, 20))
        _booking(b, seeded, rng.choice(patients), start - timedelta(days=2), fees, start=start, state=state)
    return seeded


def _state_for(b: _Builder, start: datetime) -> str:
    rng = b.rng
    if start > b.now:
        return rng.choice(["scheduled", "scheduled", "pending_payment", "cancelled"])
    if b.now - start < timedelta(minutes=50):
        return rng.choice(["waiting", "in_progress", "completed", "no_show"])
    return rng.choice(["completed"] * 5 + ["cancelled", "cancelled", "no_show", "rescheduled"])


def _booking(
    b: _Builder, seeded: Seeded, patient: User, booked: datetime, fees, *, start=None, origin=None, state=None
):
    rng = b.rng
    doctor = rng.choice(seeded.doctors)
    start = b.unique(start or booked + timedelta(hours=rng.uniform(1, 240)))
    booked = min(booked, start - timedelta(minutes=5), b.now)
    state = state or _state_for(b, start)
    kind = rng.choice(ConsultationType.values)
    fields: dict = {}
    waited = state in ("waiting", "in_progress", "completed") or (state == "no_show" and rng.random() < 0.5)
    if waited and rng.random() < 0.85:
        fields["waiting_since"] = start - timedelta(minutes=rng.uniform(-3, 12))
    if state in ("in_progress", "completed"):
        fields["started_at"] = start + timedelta(minutes=rng.uniform(0, 8))
    if state == "completed":
        fields["ended_at"] = fields["started_at"] + timedelta(minutes=rng.uniform(4, 45))
    if state == "no_show":
        fields["no_show_party"] = rng.choice(["patient", "doctor"])
    consultation = Consultation.objects.create(
        patient=patient,
        doctor=doctor,
        type=kind,
        state=state,
        scheduled_start=start,
        duration_minutes=rng.choice([15, 30, 45]),
        clinic=rng.choice(seeded.clinics)
        if kind == ConsultationType.IN_CLINIC or rng.random() < 0.2
        else None,
        fee_amount=fees[doctor.pk][1],
        fee_currency=fees[doctor.pk][0],
        rescheduled_from=origin,
        created_at=booked,
        **fields,
    )
    seeded.consultations.append(consultation)
    if state == ConsultationState.COMPLETED and rng.random() < 0.7:
        Review.objects.create(
            consultation=consultation,
            patient=patient,
            doctor=doctor,
            rating=rng.choice([5, 5, 4, 4, 3, 2, 1]),
            created_at=min(fields["ended_at"] + timedelta(hours=1), b.now),
        )
    if state != ConsultationState.PENDING_PAYMENT and origin is None:
        _payment(b, seeded, consultation, booked)
    if state == ConsultationState.RESCHEDULED:
        moved = booked + timedelta(days=1)
        if moved < b.now:
            _booking(b, seeded, patient, moved, fees, origin=consultation)
    return consultation


def _payment(b: _Builder, seeded: Seeded, consultation: Consultation, booked: datetime) -> None:
    rng = b.rng
    currency, amount = consultation.fee_currency, consultation.fee_amount
    if consultation.state == ConsultationState.CANCELLED:
        status = rng.choice(["refunded", "failed", "cancelled"])
    elif consultation.state == ConsultationState.SCHEDULED and rng.random() < 0.1:
        status = "pending"
    else:
        status = rng.choice(["succeeded"] * 6 + ["partially_refunded", "refunded", "disputed"])
    paid = status not in ("failed", "cancelled", "pending")
    fee = amount * FEE_PERCENT // 100 if paid else 0
    succeeded_at = min(booked + timedelta(minutes=rng.uniform(1, 20)), b.now) if paid else None
    refunds = []
    if status == "refunded":
        refunds = [(amount, "succeeded")]
    elif status == "partially_refunded":
        refunds = [(amount // 4, "succeeded"), (amount // 5, rng.choice(["failed", "pending"]))]
    payment = Payment.objects.create(
        consultation=consultation,
        patient=consultation.patient,
        doctor=consultation.doctor,
        gateway="stripe" if currency == "USD" else rng.choice(["razorpay", "payu", "stripe"]),
        reference=f"seed_{uuid.uuid4().hex[:16]}",
        list_amount=amount,
        amount=amount,
        currency=currency,
        status=status,
        refunded_amount=sum(part for part, state in refunds if state == "succeeded"),
        platform_fee=fee,
        doctor_share=amount - fee if paid else 0,
        created_at=booked,
        succeeded_at=succeeded_at,
    )
    seeded.payments.append(payment)
    for part, state in refunds:
        refund = Refund.objects.create(
            payment=payment,
            amount=part,
            status=state,
            reason="Seeded",
            idempotency_key=uuid.uuid4().hex,
            created_at=succeeded_at,
        )
        when = min(succeeded_at + timedelta(hours=rng.uniform(1, 72)), b.now)
        Refund.objects.filter(pk=refund.pk).update(updated_at=when)
        refund.updated_at = when
        seeded.refunds.append(refund)
        if state == "succeeded":
            PayoutLedgerEntry.objects.create(
                doctor=consultation.doctor,
                currency=currency,
                kind=LedgerKind.REFUND_REVERSAL,
                amount=-((amount - fee) * part // amount),
                payment=payment,
                refund=refund,
                created_at=when,
            )
