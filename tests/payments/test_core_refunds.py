"""Refunds: partial, full, never more than what is left, idempotency keys, and the task that pays
them out (retries on retryable gateway failures, harmless when run twice)."""

from __future__ import annotations

import pytest

from payments import services, tasks
from payments.models import Refund
from telehealth.api.errors import ServiceError
from tests.payments.conftest import FEE, deliver
from tests.payments.fake_gateway import fatal, retryable

pytestmark = pytest.mark.django_db


def refund(actor, payment, key: str, amount: int | None = None, reason: str = "Goodwill") -> Refund:
    return services.refund_payment(actor, payment, amount=amount, reason=reason, idempotency_key=key)


def test_a_partial_refund(admin_user, paid, doctor, fake_gateway, after_commit):
    with after_commit():
        made = refund(admin_user, paid, "r-1", amount=10_000)

    made.refresh_from_db()
    paid.refresh_from_db()
    assert (made.status, made.provider_refund_id, made.requested_by) == (
        "succeeded",
        "re_stripe_1",
        admin_user,
    )
    assert (paid.status, paid.refunded_amount) == ("partially_refunded", 10_000)
    [call] = fake_gateway.calls_to("refund")
    assert call.kwargs == {
        "reference": paid.reference,
        "provider_payment_id": paid.provider_payment_id,
        "amount": 10_000,
        "currency": "INR",
        "idempotency_key": "r-1",
    }
    # 42,500 share; 10,000 of 50,000 refunded takes back 8,500.
    assert services.doctor_balance(doctor, "INR") == 34_000


def test_a_full_refund_by_default(admin_user, paid, doctor, fake_gateway, after_commit):
    with after_commit():
        made = refund(admin_user, paid, "r-1")

    paid.refresh_from_db()
    assert made.amount == FEE
    assert (paid.status, paid.refunded_amount) == ("refunded", FEE)
    assert services.doctor_balance(doctor, "INR") == 0


def test_partial_refunds_give_back_exactly_the_share(admin_user, paid, doctor, fake_gateway, after_commit):
    with after_commit():
        for number, amount in enumerate([1, 3, 16_666, 16_667, 16_663]):
            refund(admin_user, paid, f"r-{number}", amount=amount)

    paid.refresh_from_db()
    assert paid.status == "refunded"
    assert services.doctor_balance(doctor, "INR") == 0
    assert services.ledger_mismatches() == []


def test_more_than_what_is_left_is_refused(admin_user, paid, fake_gateway, after_commit):
    with after_commit():
        refund(admin_user, paid, "r-1", amount=40_000)

    with pytest.raises(ServiceError) as refused:
        refund(admin_user, paid, "r-2", amount=10_001)

    assert refused.value.code == "REFUND_EXCEEDS_PAYMENT"
    assert refused.value.details["refundable"] == 10_000


def test_pending_refunds_count_against_what_is_left(admin_user, paid, fake_gateway):
    refund(admin_user, paid, "r-1", amount=40_000)  # not paid out yet (no commit)

    with pytest.raises(ServiceError) as refused:
        refund(admin_user, paid, "r-2", amount=10_001)

    assert refused.value.details["refundable"] == 10_000


def test_the_same_key_returns_the_same_refund(admin_user, paid, fake_gateway, after_commit):
    with after_commit():
        first = refund(admin_user, paid, "r-1", amount=10_000)
        again = refund(admin_user, paid, "r-1", amount=10_000)

    assert again.pk == first.pk
    assert Refund.objects.count() == 1
    assert len(fake_gateway.calls_to("refund")) == 1


def test_a_key_of_another_payment_is_refused(admin_user, paid, patient, make_booking, fake_gateway):
    other, _ = services.start_payment(patient, make_booking())
    deliver("payment.succeeded", other)
    refund(admin_user, paid, "r-1", amount=100)

    with pytest.raises(ServiceError) as refused:
        refund(admin_user, other, "r-1", amount=100)

    assert (refused.value.code, refused.value.status) == ("IDEMPOTENCY_KEY_REUSED", 409)


@pytest.mark.parametrize("who", ["patient", "doctor"])
def test_only_staff_refund(request, paid, who):
    with pytest.raises(ServiceError) as refused:
        refund(request.getfixturevalue(who), paid, "r-1")

    assert refused.value.status == 403


@pytest.mark.parametrize("amount", [0, -5])
def test_a_refund_is_a_positive_amount(admin_user, paid, amount):
    with pytest.raises(ServiceError) as refused:
        refund(admin_user, paid, "r-1", amount=amount)

    assert "amount" in refused.value.details


def test_unpaid_payments_are_not_refundable(admin_user, pending_payment):
    with pytest.raises(ServiceError) as refused:
        refund(admin_user, pending_payment, "r-1")

    assert (refused.value.code, refused.value.status) == ("PAYMENT_NOT_REFUNDABLE", 409)


def test_disputed_payments_are_not_refundable(admin_user, paid):
    deliver("dispute.opened", paid, dispute_id="dp_1", amount=FEE)

    with pytest.raises(ServiceError) as refused:
        refund(admin_user, paid, "r-1")

    assert refused.value.code == "PAYMENT_NOT_REFUNDABLE"


# --- The task ------------------------------------------------------------------------------------


@pytest.fixture
def inline_retries():
    """Eager tasks re-run their retries inline, as a worker would run them later, instead of
    raising ``Retry`` to the caller (which ``task_eager_propagates`` makes them do)."""
    from telehealth.celery import app

    before = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = before


def run_task(made: Refund):
    return tasks.process_refund.apply(args=(str(made.pk),))


def test_retryable_failures_are_retried_with_the_same_key(
    admin_user, paid, fake_gateway, monkeypatch, inline_retries
):
    fake_gateway.fail_next("refund", retryable(), retryable())
    backoffs: list[int] = []
    real_countdown = tasks.refund_retry_countdown
    monkeypatch.setattr(tasks, "refund_retry_countdown", lambda n: backoffs.append(n) or real_countdown(n))
    made = refund(admin_user, paid, "r-1", amount=10_000)

    result = run_task(made)

    made.refresh_from_db()
    assert result.get() == "succeeded"
    calls = fake_gateway.calls_to("refund")
    assert made.status == "succeeded"
    assert len(calls) == 3
    assert {call.kwargs["idempotency_key"] for call in calls} == {"r-1"}
    assert backoffs == [0, 1]  # one backoff per retry, growing with the retry count


def test_backoff_grows_with_jitter_and_is_capped():
    samples = {retries: {tasks.refund_retry_countdown(retries) for _ in range(200)} for retries in (0, 3, 20)}

    assert max(samples[0]) <= tasks.REFUND_BACKOFF_SECONDS
    assert max(samples[3]) <= tasks.REFUND_BACKOFF_SECONDS * 8
    assert len(samples[3]) > 1  # jitter
    assert max(samples[20]) <= tasks.REFUND_BACKOFF_MAX_SECONDS
    assert tasks.process_refund.acks_late is True
    assert tasks.process_refund.max_retries == tasks.REFUND_MAX_RETRIES


def test_giving_up_after_max_retries_frees_the_amount(admin_user, paid, fake_gateway, inline_retries):
    fake_gateway.fail_next("refund", *[retryable() for _ in range(tasks.REFUND_MAX_RETRIES + 1)])
    made = refund(admin_user, paid, "r-1", amount=10_000)

    assert run_task(made).get() == "failed"

    made.refresh_from_db()
    assert made.status == "failed"
    assert "TIMEOUT" in made.failure_reason
    assert len(fake_gateway.calls_to("refund")) == tasks.REFUND_MAX_RETRIES + 1
    assert services.refundable_now(paid) == FEE


def test_a_refused_refund_is_not_retried(admin_user, paid, fake_gateway):
    fake_gateway.fail_next("refund", fatal())
    made = refund(admin_user, paid, "r-1", amount=10_000)

    run_task(made)

    made.refresh_from_db()
    assert made.status == "failed"
    assert len(fake_gateway.calls_to("refund")) == 1


def test_running_the_task_again_does_nothing(admin_user, paid, fake_gateway, after_commit):
    with after_commit():
        made = refund(admin_user, paid, "r-1", amount=10_000)

    assert run_task(made).get() == "skipped"
    paid.refresh_from_db()
    assert paid.refunded_amount == 10_000
    assert len(fake_gateway.calls_to("refund")) == 1


def test_a_lost_task_is_queued_again_and_pays_once(admin_user, paid, fake_gateway, after_commit):
    from datetime import timedelta

    made = refund(admin_user, paid, "r-1", amount=10_000)  # its task never ran (no commit here)
    Refund.objects.filter(pk=made.pk).update(created_at=made.created_at - timedelta(hours=1))

    assert tasks.requeue_stale_refunds.apply().get() == 1
    assert tasks.requeue_stale_refunds.apply().get() == 0

    made.refresh_from_db()
    assert made.status == "succeeded"
    assert len(fake_gateway.calls_to("refund")) == 1


def test_a_task_that_cannot_be_queued_leaves_the_refund_pending(admin_user, paid, fake_gateway, after_commit):
    fake_gateway.fail_next("refund", retryable())  # eager: the retry surfaces as an exception

    with after_commit():
        made = refund(admin_user, paid, "r-1", amount=10_000)

    made.refresh_from_db()
    assert made.status == "pending"
    assert services.refundable_now(paid) == FEE - 10_000


def test_a_refund_pending_at_the_provider_is_finished_by_its_webhook(
    admin_user, paid, fake_gateway, after_commit
):
    fake_gateway.refund_status = "pending"
    with after_commit():
        made = refund(admin_user, paid, "r-1", amount=10_000)
    made.refresh_from_db()
    assert made.status == "pending"

    assert deliver("refund.succeeded", paid, refund_id=made.provider_refund_id, amount=10_000) == "applied"

    made.refresh_from_db()
    assert (made.status, paid.refunded_amount) == ("succeeded", 10_000)


def test_a_webhook_overtaking_the_task_is_not_counted_twice(admin_user, paid, fake_gateway):
    made = refund(admin_user, paid, "r-1", amount=10_000)  # queued, not run yet
    # The provider's webhook arrives before the task has stored the provider's refund id.
    assert deliver("refund.succeeded", paid, refund_id="re_stripe_1", amount=10_000) == "applied"

    assert run_task(made).get() == "skipped"
    paid.refresh_from_db()
    made.refresh_from_db()
    assert (made.status, made.provider_refund_id) == ("succeeded", "re_stripe_1")
    assert paid.refunded_amount == 10_000
    assert Refund.objects.count() == 1


def test_a_failed_refund_webhook_marks_it_failed(admin_user, paid, fake_gateway, after_commit):
    fake_gateway.refund_status = "pending"
    with after_commit():
        made = refund(admin_user, paid, "r-1", amount=10_000)
    made.refresh_from_db()

    assert deliver("refund.failed", paid, refund_id=made.provider_refund_id) == "applied"

    made.refresh_from_db()
    assert made.status == "failed"
    assert services.refundable_now(paid) == FEE
