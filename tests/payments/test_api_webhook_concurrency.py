"""The same webhook delivered at once from several connections, through the HTTP endpoint, on
PostgreSQL: the payment changes exactly once, every other delivery answers 200 ``duplicate``."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from django.db import connection
from rest_framework.test import APIClient

from clinical.models import Consultation
from payments.gateways import override_gateway
from payments.gateways.stripe_gateway import StripeGateway
from payments.models import GatewayEvent, Payment, PayoutLedgerEntry, ReceiptCounter
from tests.factories import ConsultationFactory, UserFactory
from tests.payments.api_helpers import BASE, STRIPE_WEBHOOK_SECRET, stripe_event, stripe_intent, stripe_signed
from tests.payments.conftest import FEE, SLOT

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

DELIVERIES = 8


@pytest.fixture
def stripe_gateway() -> Iterator[StripeGateway]:
    # parse_webhook makes no HTTP call: only the signing secret matters here.
    gateway = StripeGateway(api_key="sk_test_unused", webhook_secret=STRIPE_WEBHOOK_SECRET)
    with override_gateway("stripe", gateway):
        yield gateway


@pytest.fixture
def pending() -> Payment:
    booking = ConsultationFactory(
        patient=UserFactory(role="patient"),
        doctor=UserFactory(role="doctor"),
        state="pending_payment",
        scheduled_start=SLOT,
        fee_amount=FEE,
        fee_currency="INR",
    )
    return Payment.objects.create(
        consultation=booking,
        patient=booking.patient,
        doctor=booking.doctor,
        gateway="stripe",
        reference="pi_concurrent",
        list_amount=FEE,
        amount=FEE,
        currency="INR",
    )


def deliver_at_once(body: bytes, headers: dict[str, str]) -> list[tuple[int, dict]]:
    barrier = threading.Barrier(DELIVERIES)
    results: list[tuple[int, dict]] = [None] * DELIVERIES  # type: ignore[list-item]

    def run(index: int) -> None:
        try:
            client = APIClient()
            barrier.wait()
            response = client.post(
                f"{BASE}webhooks/stripe/", body, content_type="application/json", **headers
            )
            results[index] = (response.status_code, response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(DELIVERIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_a_webhook_delivered_concurrently_is_applied_exactly_once(stripe_gateway, pending):
    event = stripe_event("payment_intent.succeeded", stripe_intent(pending.reference, FEE))
    body, headers = stripe_signed(event)

    results = deliver_at_once(body, headers)

    assert all(status == 200 for status, _ in results), results
    outcomes = Counter(payload["data"]["outcome"] for _, payload in results)
    assert outcomes == {"applied": 1, "duplicate": DELIVERIES - 1}, outcomes
    pending.refresh_from_db()
    assert pending.status == "succeeded"
    assert GatewayEvent.objects.filter(gateway="stripe", event_id=event["id"]).count() == 1
    assert PayoutLedgerEntry.objects.filter(payment=pending).count() == 1
    assert ReceiptCounter.objects.get().last == 1  # one receipt number handed out
    assert Consultation.objects.get(pk=pending.consultation_id).state == "scheduled"
