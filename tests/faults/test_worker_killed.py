"""A Celery worker is killed (``kill -9``) in the middle of paying a refund out: the provider has
created the refund but the worker never got the answer, never wrote it down and never acknowledged
the task. Tasks are acknowledged late, so the broker hands the task to the next worker once the
visibility timeout has passed; the task runs again and finds the provider's refund by its
idempotency key instead of refunding a second time. One refund at the provider, one in the
database."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.factories import ConsultationFactory
from tests.fakes import serving
from tests.faults.helpers import kill_hard
from tests.payments.fakes.razorpay_server import KEY_ID, KEY_SECRET, FakeRazorpay, _handler_for

pytestmark = [pytest.mark.celery_worker, pytest.mark.redis]

VISIBILITY_TIMEOUT_SECONDS = 3
FEE = 50_000


@dataclass
class SlowRefunds(FakeRazorpay):
    """Creates a refund, then holds the answer until released: the worker dies waiting."""

    created: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def handle(self, method: str, raw_path: str, headers: dict[str, str], raw: bytes):
        answer = super().handle(method, raw_path, headers, raw)
        if method == "POST" and raw_path.endswith("/refund") and not self.created.is_set():
            self.created.set()
            self.release.wait(30)
        return answer


@pytest.fixture
def slow_razorpay() -> Iterator[SlowRefunds]:
    fake = SlowRefunds()
    with serving(_handler_for(fake), "fake-razorpay-slow") as port:
        fake.port = port
        try:
            yield fake
        finally:
            fake.release.set()


@pytest.fixture
def paid_by_razorpay(slow_razorpay):
    from payments.models import Payment

    _, order = slow_razorpay._create_order({"amount": FEE, "currency": "INR"})
    provider_payment = slow_razorpay.add_payment(order["id"])
    consultation = ConsultationFactory()
    return Payment.objects.create(
        consultation=consultation,
        patient=consultation.patient,
        doctor=consultation.doctor,
        gateway="razorpay",
        reference=order["id"],
        provider_payment_id=provider_payment["id"],
        list_amount=FEE,
        amount=FEE,
        currency="INR",
        status="succeeded",
    )


def _worker_env(fake: SlowRefunds) -> dict[str, str]:
    return {
        "RAZORPAY_KEY_ID": KEY_ID,
        "RAZORPAY_KEY_SECRET": KEY_SECRET,
        "RAZORPAY_API_BASE": fake.url,
        "CELERY_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY_TIMEOUT_SECONDS),
    }


def _wait_for_refund_status(refund, status: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        refund.refresh_from_db()
        if refund.status == status or time.monotonic() > deadline:
            return
        time.sleep(0.2)


def test_refund_runs_again_after_its_worker_dies_and_pays_out_once(
    start_celery_worker, slow_razorpay, paid_by_razorpay
):
    from payments import services
    from payments.models import Refund

    first = start_celery_worker(_worker_env(slow_razorpay))
    refund = services.refund_payment(
        None, paid_by_razorpay, reason="Doctor unavailable", idempotency_key="fault-refund-1"
    )
    assert slow_razorpay.created.wait(20), first.log_tail()
    kill_hard(first.process)  # mid-task: the provider refunded, nobody heard the answer
    slow_razorpay.release.set()
    refund.refresh_from_db()
    assert refund.status == "pending"

    killed_at = time.monotonic()
    # Let the message outlive its visibility timeout first: kombu restores unacked messages when a
    # worker starts polling and then only every tenth check, so a worker that starts too early
    # may wait a long time for its next chance.
    time.sleep(VISIBILITY_TIMEOUT_SECONDS + 1)
    second = start_celery_worker(_worker_env(slow_razorpay))
    _wait_for_refund_status(refund, "succeeded", timeout=VISIBILITY_TIMEOUT_SECONDS + 60)
    assert refund.status == "succeeded", second.log_tail()
    assert time.monotonic() - killed_at >= VISIBILITY_TIMEOUT_SECONDS
    assert "payments.process_refund" in second.log()

    # Once at the provider: the second run found the first one's refund by its key.
    [provider_refund] = slow_razorpay.refunds[paid_by_razorpay.provider_payment_id]
    path = f"/v1/payments/{paid_by_razorpay.provider_payment_id}"
    assert len(slow_razorpay.requests_to("POST", f"{path}/refund")) == 1
    assert len(slow_razorpay.requests_to("GET", f"{path}/refunds")) == 2
    # Once in the database.
    assert list(Refund.objects.filter(payment=paid_by_razorpay).values_list("pk", flat=True)) == [refund.pk]
    assert refund.provider_refund_id == provider_refund["id"]
    paid_by_razorpay.refresh_from_db()
    assert paid_by_razorpay.refunded_amount == FEE
    assert paid_by_razorpay.status == "refunded"
