from __future__ import annotations

from decimal import Decimal

import factory

from tests.factories import UserFactory


class ClinicFactory(factory.django.DjangoModelFactory):
    """A verified clinic in Bengaluru, registered by a fresh user."""

    class Meta:
        model = "clinical.Clinic"

    name = factory.Sequence(lambda n: f"Clinic {n:04d}")
    city = "Bengaluru"
    country = "IN"
    latitude = Decimal("12.971600")
    longitude = Decimal("77.594600")
    verification_status = "verified"
    created_by = factory.SubFactory(UserFactory, role="patient")


class ClinicMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "clinical.ClinicMember"

    clinic = factory.SubFactory(ClinicFactory)
    user = factory.SubFactory(UserFactory, role="patient")
    role = "staff"


class ClinicServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "clinical.ClinicService"

    clinic = factory.SubFactory(ClinicFactory)
    name = factory.Sequence(lambda n: f"Service {n:04d}")
    price_amount = 50_000
    price_currency = "INR"


class MedicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "clinical.Medication"

    generic_name = factory.Sequence(lambda n: f"medicine-{n:04d}")
    form = "tablet"
    strength = "500 mg"


class InventoryItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "clinical.InventoryItem"

    clinic = factory.SubFactory(ClinicFactory)
    medication = factory.SubFactory(MedicationFactory)
    stock = 100
    low_stock_threshold = 10
