"""Fixtures of the payments core, building on the shared cast: ``doctor`` charges 500.00 INR,
``awaiting_payment`` is ``patient``'s booking with them, ``pending_payment`` its started payment,
``paid`` the same payment confirmed by the gateway. Every gateway is an in-memory ``FakeGateway``.

Nothing here is autouse: the gateway adapters' tests in this folder bring their own fixtures.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta

import pytest

from clinical.models import AvailabilityRule, Consultation
from payments import services
from payments.gateways import override_gateway
from payments.gateways.base import GatewayEvent
from payments.models import Payment
from tests.factories import ConsultationFactory, DoctorProfileFactory
from tests.payments.fake_gateway import FakeGateway

FEE = 50_000  # 500.00 INR
# A Monday far ahead: outside every cut-off window whenever the suite runs.
SLOT = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
_event_ids = itertools.count(1)


def gateway_event(kind: str, payment: Payment, **fields) -> GatewayEvent:
    """A verified webhook about ``payment``, with a fresh event id unless one is given."""
    fields.setdefault("event_id", f"evt_{next(_event_ids)}")
    fields.setdefault("reference", payment.reference)
    if kind == "payment.succeeded":
        fields.setdefault("amount", payment.amount)
        fields.setdefault("currency", payment.currency)
        fields.setdefault("provider_payment_id", f"ch_{payment.reference}")
    return GatewayEvent(kind=kind, **fields)


def deliver(kind: str, payment: Payment, **fields) -> str:
    """Apply the event as the webhook view would; returns the outcome."""
    outcome = services.apply_gateway_event(payment.gateway, gateway_event(kind, payment, **fields))
    payment.refresh_from_db()
    return outcome


@pytest.fixture
def fake_gateways() -> Iterator[dict[str, FakeGateway]]:
    fakes = {name: FakeGateway(name=name) for name in ("stripe", "razorpay", "payu")}
    with (
        override_gateway("stripe", fakes["stripe"]),
        override_gateway("razorpay", fakes["razorpay"]),
        override_gateway("payu", fakes["payu"]),
    ):
        yield fakes


@pytest.fixture
def fake_gateway(fake_gateways) -> FakeGateway:
    """The default gateway (stripe), faked."""
    return fake_gateways["stripe"]


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks) -> Callable:
    """``with after_commit(): ...`` runs what the block left for after commit: clinical hooks and
    queued tasks (eager Celery), as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def doctor_profile(doctor):
    profile = DoctorProfileFactory(user=doctor, slot_minutes=30, fee_amount=FEE, fee_currency="INR")
    for weekday in range(7):
        AvailabilityRule.objects.create(
            doctor=profile, weekday=weekday, start_time=time(9), end_time=time(17)
        )
    return profile


@pytest.fixture
def make_booking(patient, doctor):
    """``make_booking(state=..., start=..., fee=..., **fields)`` between ``patient`` and ``doctor``."""
    starts = itertools.count()

    def make(state: str = "pending_payment", start: datetime | None = None, fee: int = FEE, **fields):
        fields.setdefault("patient", patient)
        fields.setdefault("doctor", doctor)
        fields.setdefault("fee_currency", "INR")
        start = start or SLOT + timedelta(minutes=30 * next(starts))
        return ConsultationFactory(
            state=state, scheduled_start=start, duration_minutes=30, fee_amount=fee, **fields
        )

    return make


@pytest.fixture
def awaiting_payment(make_booking) -> Consultation:
    return make_booking()


@pytest.fixture
def pending_payment(patient, awaiting_payment, fake_gateway) -> Payment:
    payment, _ = services.start_payment(patient, awaiting_payment)
    return payment


@pytest.fixture
def paid(pending_payment, awaiting_payment) -> Payment:
    """``pending_payment`` confirmed by the gateway (and ``awaiting_payment`` now scheduled)."""
    assert deliver("payment.succeeded", pending_payment) == "applied"
    awaiting_payment.refresh_from_db()
    return pending_payment


# API clients logged in as the cast (patient A, patient B, A's doctor, an admin, a superadmin).
@pytest.fixture
def alice(client_for, patient):
    return client_for(patient)


@pytest.fixture
def bob(client_for, other_patient):
    return client_for(other_patient)


@pytest.fixture
def dana(client_for, doctor):
    return client_for(doctor)


@pytest.fixture
def ada(client_for, admin_user):
    return client_for(admin_user)


@pytest.fixture
def sam(client_for, superadmin):
    return client_for(superadmin)
