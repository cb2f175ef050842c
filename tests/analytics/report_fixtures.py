"""A small, fixed world for reports and exports: March 2025, seen from Asia/Kolkata (UTC+05:30),
where some rows fall on a different calendar day than in UTC.

Consultations (local time):
    c1  Dana (cardiology) / Alice (IN, Pune)  video      completed  Mar 1 10:00
    c2  Dana              / Bob (GB, London)  audio      no_show    Mar 1 23:30 (patient)
    c3  Derek (dermatology)/ Alice            in_clinic  completed  Mar 2 00:30 (= Mar 1 19:00 UTC)
    c4  Derek             / Bob               video      cancelled  Mar 10 12:00
    c5  Dana              / Alice             video      completed  Apr 5 (outside March)
Payments (succeeded, local day): c1 INR 50000 fee 10000 razorpay Mar 1; c3 INR 30000 fee 6000
razorpay Mar 2, 10000 refunded; c4 USD 2000 fee 400 stripe Mar 10, all refunded; a failed INR
payment for c2 (never counted). Reviews: c1 5 (Dana, Mar 1), c3 4 (Derek, Mar 2). Prescriptions:
one issued for c1 (Mar 1), a draft for c3.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from clinical.models import (
    Clinic,
    Consultation,
    PatientProfile,
    Prescription,
    Review,
    Specialisation,
)
from payments.models import Payment
from tests.factories import DoctorProfileFactory, UserFactory

KOLKATA = ZoneInfo("Asia/Kolkata")
MARCH = {"date_range": "custom", "date_from": "2025-03-01", "date_to": "2025-03-31"}


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=KOLKATA)


@dataclass
class World:
    dana: object
    derek: object
    alice: object
    bob: object
    clinic: Clinic
    c1: Consultation
    c2: Consultation
    c3: Consultation
    c4: Consultation
    c5: Consultation


@pytest.fixture
def kolkata_admin(db):
    return UserFactory(role="admin", first_name="Ada", timezone="Asia/Kolkata")


@pytest.fixture
def other_admin(db):
    return UserFactory(role="admin", first_name="Otto")


def _doctor(name: str, speciality: str, joined: datetime):
    profile = DoctorProfileFactory(user__first_name=name, user__last_name="Doc", user__date_joined=joined)
    specialisation, _ = Specialisation.objects.get_or_create(
        slug=speciality, defaults={"name": speciality.title()}
    )
    profile.specialisations.add(specialisation)
    return profile.user


def _patient(name: str, country: str, city: str, joined: datetime):
    user = UserFactory(role="patient", first_name=name, last_name="Pat", date_joined=joined)
    PatientProfile.objects.create(user=user, country=country, city=city)
    return user


def _consultation(
    doctor, patient, start: datetime, state: str, type_: str = "video", **extra
) -> Consultation:
    return Consultation.objects.create(
        doctor=doctor,
        patient=patient,
        scheduled_start=start,
        state=state,
        type=type_,
        fee_amount=extra.pop("fee_amount", 50_000),
        fee_currency=extra.pop("fee_currency", "INR"),
        diagnosis="SECRET-DIAGNOSIS",
        chief_complaint="SECRET-COMPLAINT",
        **extra,
    )


def _payment(consultation, *, amount, currency, fee, gateway, status, succeeded_at, refunded=0) -> Payment:
    return Payment.objects.create(
        consultation=consultation,
        patient=consultation.patient,
        doctor=consultation.doctor,
        gateway=gateway,
        list_amount=amount,
        amount=amount,
        currency=currency,
        status=status,
        refunded_amount=refunded,
        platform_fee=fee,
        doctor_share=amount - fee,
        created_at=succeeded_at or local(2025, 3, 3, 9),
        succeeded_at=succeeded_at,
        checkout_data={"card": "SECRET-CHECKOUT"},
    )


@pytest.fixture
def world(db) -> World:
    dana = _doctor("Dana", "cardiology", local(2025, 1, 5, 9))
    derek = _doctor("Derek", "dermatology", local(2025, 3, 2, 1))  # Mar 1 19:30 UTC
    alice = _patient("Alice", "IN", "Pune", local(2025, 3, 1, 12))
    bob = _patient("Bob", "GB", "London", local(2025, 3, 20, 12))
    clinic = Clinic.objects.create(name="=HYPERLINK(evil)", created_by=dana, city="Pune", country="IN")

    c1 = _consultation(dana, alice, local(2025, 3, 1, 10), "completed")
    c2 = _consultation(dana, bob, local(2025, 3, 1, 23, 30), "no_show", "audio", no_show_party="patient")
    c3 = _consultation(derek, alice, local(2025, 3, 2, 0, 30), "completed", "in_clinic", clinic=clinic)
    c4 = _consultation(derek, bob, local(2025, 3, 10, 12), "cancelled", fee_amount=2000, fee_currency="USD")
    c5 = _consultation(dana, alice, local(2025, 4, 5, 10), "completed")

    _payment(
        c1,
        amount=50_000,
        currency="INR",
        fee=10_000,
        gateway="razorpay",
        status="succeeded",
        succeeded_at=local(2025, 3, 1, 9, 30),
    )
    _payment(
        c3,
        amount=30_000,
        currency="INR",
        fee=6_000,
        gateway="razorpay",
        status="partially_refunded",
        succeeded_at=local(2025, 3, 2, 0, 35),
        refunded=10_000,
    )
    _payment(
        c4,
        amount=2_000,
        currency="USD",
        fee=400,
        gateway="stripe",
        status="refunded",
        succeeded_at=local(2025, 3, 10, 11),
        refunded=2_000,
    )
    _payment(c2, amount=99_999, currency="INR", fee=0, gateway="payu", status="failed", succeeded_at=None)

    Review.objects.create(
        consultation=c1, patient=alice, doctor=dana, rating=5, created_at=local(2025, 3, 1, 12)
    )
    Review.objects.create(
        consultation=c3, patient=alice, doctor=derek, rating=4, created_at=local(2025, 3, 2, 9)
    )
    Prescription.objects.create(
        consultation=c1, doctor=dana, patient=alice, status="issued", issued_at=local(2025, 3, 1, 10, 30)
    )
    Prescription.objects.create(consultation=c3, doctor=derek, patient=alice, status="draft")
    return World(dana, derek, alice, bob, clinic, c1, c2, c3, c4, c5)


@pytest.fixture
def definition_body():
    """A valid POST body: consultations in March (Kolkata days) by day and state."""
    return {
        "name": "March consultations",
        "metric": "consultations",
        "dimensions": ["period", "state"],
        "filters": {},
        **MARCH,
        "granularity": "day",
    }


@pytest.fixture
def definition(kolkata_admin, definition_body):
    from analytics.models import ReportDefinition

    fields = {**definition_body, "date_from": date(2025, 3, 1), "date_to": date(2025, 3, 31)}
    return ReportDefinition.objects.create(owner=kolkata_admin, time_zone="Asia/Kolkata", **fields)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)
