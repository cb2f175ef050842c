"""The world of ``money_data`` in the database, and API clients for its people. Used by the
revenue, geography and doctor performance tests through ``pytest_plugins``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils.text import slugify

from clinical.models import Clinic, ClinicMember, PatientProfile, Review, Specialisation
from payments.models import Dispute, Payment, PayoutLedgerEntry, Refund
from tests.analytics.money_data import CLINICS, CONSULTATIONS, LONG_AGO, PAYMENTS, PEOPLE, utc
from tests.factories import ConsultationFactory, DoctorProfileFactory, UserFactory

# --- Written to the database ---------------------------------------------------------------------


@pytest.fixture
def money_world(db) -> dict[str, Any]:
    """The rows above in the database: ``users``, ``clinics``, ``payments`` and
    ``consultations`` by key (consultations by position)."""
    users = {}
    for n, (key, person) in enumerate(PEOPLE.items()):
        users[key] = UserFactory(
            phone=f"+9197{n:08d}",
            role=person.role,
            first_name=person.first,
            last_name=person.last,
            date_joined=utc(person.joined),
            is_active=person.active,
        )
        if person.place is not None:
            country, state, city = person.place
            PatientProfile.objects.create(user=users[key], country=country, state=state, city=city)
    clinics = {
        key: Clinic.objects.create(
            name=row.name,
            country=row.place[0],
            state=row.place[1],
            city=row.place[2],
            verification_status="verified" if row.verified else "pending",
            created_by=users["ada"],
            created_at=utc(row.created),
        )
        for key, row in CLINICS.items()
    }
    for key, person in PEOPLE.items():
        if person.role != "doctor":
            continue
        if person.profile:
            profile = DoctorProfileFactory(user=users[key])
            for name in person.specialisations:
                specialisation, _ = Specialisation.objects.get_or_create(
                    name=name, defaults={"slug": slugify(name)}
                )
                profile.specialisations.add(specialisation)
        for clinic in person.clinics:
            ClinicMember.objects.create(clinic=clinics[clinic], user=users[key], role="doctor")

    payments = {}
    for n, row in enumerate(PAYMENTS):
        consultation = ConsultationFactory(
            patient=users["alice"],
            doctor=users[row.doctor],
            clinic=clinics[row.clinic] if row.clinic else None,
            state="completed",
            # Long before the window: these bookings only carry the money.
            scheduled_start=utc(LONG_AGO) + timedelta(hours=n),
        )
        payment = Payment.objects.create(
            consultation=consultation,
            patient=users["alice"],
            doctor=users[row.doctor],
            gateway=row.gateway,
            reference=f"ref_{row.key}",
            list_amount=row.amount,
            amount=row.amount,
            currency=row.currency,
            status=row.status,
            refunded_amount=row.refunded,
            platform_fee=row.amount - row.earning if row.at else 0,
            doctor_share=row.earning,
            succeeded_at=utc(row.at) if row.at else None,
        )
        payments[row.key] = payment
        ledger = [("earning", row.earning, None, None)]
        reversals = iter(row.reversals)
        for i, (amount, status) in enumerate(row.refunds):
            refund = Refund.objects.create(
                payment=payment, amount=amount, status=status, reason="x", idempotency_key=f"{row.key}:{i}"
            )
            if status == "succeeded":
                ledger.append(("refund_reversal", next(reversals), refund, None))
        if row.hold:
            dispute = Dispute.objects.create(
                payment=payment, provider_dispute_id=f"dp_{row.key}", amount=row.amount, held_amount=-row.hold
            )
            ledger.append(("dispute_hold", row.hold, None, dispute))
        for kind, amount, refund, dispute in ledger:
            if amount:
                PayoutLedgerEntry.objects.create(
                    doctor=users[row.doctor],
                    currency=row.currency,
                    kind=kind,
                    amount=amount,
                    payment=payment,
                    refund=refund,
                    dispute=dispute,
                )

    consultations = []
    for row in CONSULTATIONS:
        consultation = ConsultationFactory(
            patient=users[row.patient],
            doctor=users[row.doctor],
            type=row.type,
            state=row.state,
            scheduled_start=utc(row.start),
            clinic=clinics[row.clinic] if row.clinic else None,
            waiting_since=utc(row.waited) if row.waited else None,
            started_at=utc(row.started) if row.started else None,
        )
        if row.rating is not None:
            Review.objects.create(
                consultation=consultation,
                patient=users[row.patient],
                doctor=users[row.doctor],
                rating=row.rating,
            )
        consultations.append(consultation)
    return {"users": users, "clinics": clinics, "payments": payments, "consultations": consultations}


# --- Clients -------------------------------------------------------------------------------------


@pytest.fixture
def as_user(client_for, money_world):
    """``as_user("ada")``: an API client logged in as that person of the world."""
    return lambda key: client_for(money_world["users"][key])
