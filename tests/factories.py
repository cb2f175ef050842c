from __future__ import annotations

import factory
from django.utils import timezone

from telehealth.accounts.models import User


def phone_number(n: int) -> str:
    """Distinct, valid Indian mobile numbers: +91 98xxx xxxxx."""
    return f"+9198{n:08d}"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("phone",)

    phone = factory.Sequence(lambda n: phone_number(n + 1))
    role = "patient"
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password(None)


class ConsultationFactory(factory.django.DjangoModelFactory):
    """A video consultation starting now, between a fresh patient and doctor."""

    class Meta:
        model = "clinical.Consultation"

    patient = factory.SubFactory(UserFactory, role="patient")
    doctor = factory.SubFactory(UserFactory, role="doctor")
    type = "video"
    scheduled_start = factory.LazyFunction(timezone.now)
    duration_minutes = 30


class DoctorProfileFactory(factory.django.DjangoModelFactory):
    """A verified doctor with a profile (the user is created too)."""

    class Meta:
        model = "clinical.DoctorProfile"

    user = factory.SubFactory(UserFactory, role="doctor")
    registration_number = factory.Sequence(lambda n: f"REG-{n:06d}")
    council = "National Medical Commission"
    fee_amount = 50_000
    fee_currency = "INR"
    verification_status = "verified"
    slot_minutes = 30
