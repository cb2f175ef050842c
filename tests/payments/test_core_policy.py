"""What happens to the money when a booking is called off: cancellation inside the window, no-shows,
rescheduling, and unpaid bookings that expire."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clinical.consultations import services as consultations
from clinical.hooks import ConsultationVoided
from clinical.models import Consultation
from payments import services, tasks
from payments.gateways.base import Verification
from payments.models import Coupon, Payment, Refund
from tests.payments.conftest import FEE, deliver

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid_soon(patient, make_booking, fake_gateway):
    """A paid booking starting in an hour: inside the default 4-hour cut-off."""

    def make(start=None):
        booking = make_booking(start=start or timezone.now() + timedelta(hours=1))
        payment, _ = services.start_payment(patient, booking)
        deliver("payment.succeeded", payment)
        booking.refresh_from_db()
        return booking, payment

    return make


@pytest.fixture
def paid_and_started(paid_soon):
    """A paid booking whose start was a minute ago."""
    return paid_soon(timezone.now() - timedelta(minutes=1))


@pytest.mark.parametrize("who", ["patient", "doctor", "admin_user"])
def test_cancelling_in_time_refunds_in_full(request, paid, awaiting_payment, fake_gateway, after_commit, who):
    with after_commit():
        consultations.cancel_consultation(request.getfixturevalue(who), awaiting_payment, reason="Travelling")

    paid.refresh_from_db()
    assert (paid.status, paid.refunded_amount) == ("refunded", FEE)
    refund = Refund.objects.get()
    assert refund.idempotency_key == f"void:{awaiting_payment.pk}"
    assert refund.requested_by is None  # the system, by policy
    assert services.doctor_balance(awaiting_payment.doctor, "INR") == 0


def test_staff_cancelling_after_the_cut_off_does_not_refund_by_itself(admin_user, paid_soon, after_commit):
    booking, payment = paid_soon()

    with after_commit():
        consultations.cancel_consultation(admin_user, booking, reason="Patient phoned late")

    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert not Refund.objects.exists()


def test_the_window_is_the_clinical_cut_off(settings, patient, paid_soon, after_commit):
    settings.BOOKING_CHANGE_CUTOFF_HOURS = 0  # a booking in an hour is now in time
    booking, payment = paid_soon()

    with after_commit():
        consultations.cancel_consultation(patient, booking, reason="Travelling")

    payment.refresh_from_db()
    assert payment.status == "refunded"


def test_a_doctor_no_show_refunds_in_full(client_for, admin_user, paid_and_started, after_commit):
    booking, payment = paid_and_started

    with after_commit():
        response = client_for(admin_user).post(
            f"/api/consultations/{booking.pk}/transition/",
            {"state": "no_show", "no_show_party": "doctor"},
            format="json",
        )

    assert response.status_code == 200, response.json()
    assert response.json()["data"]["no_show_party"] == "doctor"
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == ("refunded", FEE)
    assert Refund.objects.get().reason == "The doctor did not attend."


@pytest.mark.parametrize("who", ["doctor", "admin_user"])
def test_a_patient_no_show_is_not_refunded(request, client_for, paid_and_started, after_commit, who):
    booking, payment = paid_and_started

    with after_commit():
        response = client_for(request.getfixturevalue(who)).post(
            f"/api/consultations/{booking.pk}/transition/", {"state": "no_show"}, format="json"
        )

    assert response.status_code == 200, response.json()
    booking.refresh_from_db()
    payment.refresh_from_db()
    assert booking.no_show_party == "patient"
    assert payment.status == "succeeded"
    assert not Refund.objects.exists()


def test_a_doctor_cannot_record_their_own_no_show(client_for, doctor, paid_and_started):
    booking, _ = paid_and_started

    response = client_for(doctor).post(
        f"/api/consultations/{booking.pk}/transition/",
        {"state": "no_show", "no_show_party": "doctor"},
        format="json",
    )

    assert response.status_code == 403


def test_no_show_party_goes_only_with_a_no_show(client_for, patient, paid_and_started):
    booking, _ = paid_and_started

    response = client_for(patient).post(
        f"/api/consultations/{booking.pk}/transition/",
        {"state": "waiting", "no_show_party": "patient"},
        format="json",
    )

    assert response.status_code == 400


def test_a_rescheduled_booking_keeps_its_payment(
    patient, paid, awaiting_payment, doctor_profile, after_commit
):
    replacement = consultations.reschedule_consultation(
        patient, awaiting_payment, scheduled_start=awaiting_payment.scheduled_start + timedelta(days=1)
    )
    assert replacement.state == "scheduled"  # already paid for

    with after_commit():
        consultations.cancel_consultation(patient, replacement, reason="Travelling after all")

    paid.refresh_from_db()
    assert paid.status == "refunded"


def test_the_hook_is_idempotent(paid, awaiting_payment, fake_gateway, after_commit):
    event = ConsultationVoided(
        consultation_id=str(awaiting_payment.pk),
        state="cancelled",
        previous_state="scheduled",
        actor_id=None,
        at=timezone.now(),
        inside_change_window=True,
    )

    with after_commit():
        services.handle_consultation_voided(event)
        services.handle_consultation_voided(event)

    assert Refund.objects.count() == 1
    assert len(fake_gateway.calls_to("refund")) == 1


def test_free_bookings_have_nothing_to_refund(patient, make_booking, after_commit):
    booking = make_booking(state="scheduled", fee=0)

    with after_commit():
        consultations.cancel_consultation(patient, booking, reason="Travelling")

    assert not Payment.objects.exists()


# --- Expiry ----------------------------------------------------------------------------------------


def later(minutes: int):
    return timezone.now() + timedelta(minutes=minutes)


def test_pending_payments_expire_and_free_the_slot(pending_payment, awaiting_payment, fake_gateway):
    assert services.expire_pending_payments(later(29)) == 0

    assert services.expire_pending_payments(later(31)) == 1

    pending_payment.refresh_from_db()
    awaiting_payment.refresh_from_db()
    assert pending_payment.status == "cancelled"
    assert awaiting_payment.state == "cancelled"
    assert awaiting_payment.cancellation_reason == "Payment cancelled or not completed in time."
    assert not Consultation.objects.filter(
        doctor=awaiting_payment.doctor,
        scheduled_start=awaiting_payment.scheduled_start,
        state="pending_payment",
    ).exists()


def test_expiry_follows_the_setting(settings, pending_payment):
    settings.PAYMENT_PENDING_EXPIRY_MINUTES = 5

    assert services.expire_pending_payments(later(6)) == 1


def test_expiry_gives_the_coupon_back(patient, make_booking, fake_gateway):
    once = Coupon.objects.create(code="ONCE", kind="percent", value=10, max_uses=1)
    services.start_payment(patient, make_booking(), coupon_code="ONCE")

    services.expire_pending_payments(later(31))

    once.refresh_from_db()
    assert once.uses == 0


def test_a_booking_never_paid_for_expires_too(awaiting_payment):
    assert services.expire_pending_payments(later(31)) == 1

    awaiting_payment.refresh_from_db()
    assert awaiting_payment.state == "cancelled"


def test_a_payment_that_went_through_is_confirmed_not_expired(
    pending_payment, awaiting_payment, fake_gateway
):
    # Its webhook was lost; the provider, asked before expiring, says it is paid.
    fake_gateway.verifications[pending_payment.reference] = Verification(
        reference=pending_payment.reference, status="succeeded", amount=FEE, currency="INR"
    )

    assert services.expire_pending_payments(later(31)) == 0

    pending_payment.refresh_from_db()
    awaiting_payment.refresh_from_db()
    assert (pending_payment.status, awaiting_payment.state) == ("succeeded", "scheduled")


def test_the_expiry_task(pending_payment, fake_gateway, settings):
    settings.PAYMENT_PENDING_EXPIRY_MINUTES = 1
    Payment.objects.filter(pk=pending_payment.pk).update(created_at=timezone.now() - timedelta(minutes=2))

    assert tasks.expire_pending_payments.delay().get() == 1
    pending_payment.refresh_from_db()
    assert pending_payment.status == "cancelled"


def test_paid_and_recent_payments_are_left_alone(paid, make_booking, patient, fake_gateway):
    recent, _ = services.start_payment(patient, make_booking())

    assert services.expire_pending_payments(later(10)) == 0

    recent.refresh_from_db()
    paid.refresh_from_db()
    assert (recent.status, paid.status) == ("pending", "succeeded")


def test_a_failing_listener_does_not_undo_the_cancellation(
    patient, paid, awaiting_payment, after_commit, caplog
):
    from clinical import hooks

    def broken(event):
        raise RuntimeError("listener bug")

    hooks.on_consultation_voided(broken)
    try:
        with after_commit():
            consultations.cancel_consultation(patient, awaiting_payment, reason="Travelling")
    finally:
        hooks._voided_callbacks.remove(broken)

    awaiting_payment.refresh_from_db()
    paid.refresh_from_db()
    assert awaiting_payment.state == "cancelled"
    assert paid.status == "refunded"  # the other listener (payments) still ran
    assert "listener bug" in caplog.text
