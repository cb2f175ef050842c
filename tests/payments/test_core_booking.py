"""A booking with a fee waits for its payment: it holds the slot, its room stays shut, and only the
gateway's confirmation (never the client's word) schedules it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from clinical.consultations import services as consultations
from clinical.models import ACTIVE_STATES, ALLOWED_TRANSITIONS, Consultation, ConsultationEvent
from clinical.services import CLOSE_NOT_JOINABLE, RoomAccessError, check_room_access
from payments import services
from payments.gateways.base import Verification
from payments.models import Payment
from telehealth.api.errors import ServiceError
from tests.payments.conftest import FEE, SLOT, deliver

pytestmark = pytest.mark.django_db


def book(patient, doctor, start=SLOT):
    return consultations.book_consultation(
        patient, doctor_id=doctor.pk, scheduled_start=start, consultation_type="video"
    )


def test_booking_a_doctor_with_a_fee_awaits_payment(patient, doctor, doctor_profile):
    consultation = book(patient, doctor)

    assert consultation.state == "pending_payment"
    assert (consultation.fee_amount, consultation.fee_currency) == (FEE, "INR")
    assert not Payment.objects.exists()  # paying is a separate step


def test_a_free_booking_is_scheduled_at_once(patient, doctor, doctor_profile):
    doctor_profile.fee_amount = 0
    doctor_profile.save()

    assert book(patient, doctor).state == "scheduled"


def test_an_unpaid_booking_holds_the_slot(patient, other_patient, doctor, doctor_profile):
    book(patient, doctor)

    assert "pending_payment" in ACTIVE_STATES
    with pytest.raises(ServiceError) as refused:
        book(other_patient, doctor)
    assert refused.value.code == "SLOT_TAKEN"


def test_unpaid_lifecycle_allows_only_payment_or_cancellation():
    assert ALLOWED_TRANSITIONS["pending_payment"] == {"scheduled", "cancelled"}


@pytest.mark.parametrize("who", ["patient", "doctor"])
def test_room_is_shut_until_paid(request, make_booking, who):
    consultation = make_booking(start=timezone.now())

    with pytest.raises(RoomAccessError) as refused:
        check_room_access(str(consultation.pk), request.getfixturevalue(who))

    assert refused.value.close_code == CLOSE_NOT_JOINABLE


@pytest.mark.parametrize("who", ["patient", "doctor", "admin_user"])
def test_nobody_schedules_an_unpaid_booking_by_hand(request, client_for, awaiting_payment, who):
    response = client_for(request.getfixturevalue(who)).post(
        f"/api/consultations/{awaiting_payment.pk}/transition/", {"state": "scheduled"}, format="json"
    )

    assert response.status_code == 403
    awaiting_payment.refresh_from_db()
    assert awaiting_payment.state == "pending_payment"


def test_unpaid_booking_cannot_be_rescheduled(patient, awaiting_payment):
    with pytest.raises(ServiceError) as refused:
        consultations.reschedule_consultation(
            patient, awaiting_payment, scheduled_start=SLOT + timedelta(days=1)
        )

    assert refused.value.code == "INVALID_TRANSITION"


def test_start_payment_opens_a_checkout_at_the_gateway(patient, awaiting_payment, fake_gateway):
    payment, checkout = services.start_payment(patient, awaiting_payment)

    assert (payment.status, payment.gateway, payment.amount, payment.currency) == (
        "pending",
        "stripe",
        FEE,
        "INR",
    )
    assert (payment.patient, payment.doctor) == (awaiting_payment.patient, awaiting_payment.doctor)
    assert checkout.reference == payment.reference != ""
    assert checkout.client_data == {"client_secret": f"{payment.reference}_secret"}
    [call] = fake_gateway.calls_to("create_payment")
    assert call.kwargs["amount"] == FEE
    assert call.kwargs["payment_id"] == str(payment.pk)
    awaiting_payment.refresh_from_db()
    assert awaiting_payment.state == "pending_payment"  # starting to pay confirms nothing


def test_asking_again_returns_the_same_payment(patient, awaiting_payment, fake_gateway):
    first, checkout = services.start_payment(patient, awaiting_payment)
    again, same = services.start_payment(patient, awaiting_payment)

    assert again.pk == first.pk
    assert same == checkout
    assert len(fake_gateway.calls_to("create_payment")) == 1
    assert Payment.objects.count() == 1


def test_another_gateway_while_one_is_under_way_is_refused(patient, awaiting_payment, fake_gateways):
    services.start_payment(patient, awaiting_payment, gateway="stripe")

    with pytest.raises(ServiceError) as refused:
        services.start_payment(patient, awaiting_payment, gateway="razorpay")

    assert (refused.value.code, refused.value.status) == ("PAYMENT_IN_PROGRESS", 409)


def test_gateway_can_be_chosen(patient, awaiting_payment, fake_gateways):
    payment, checkout = services.start_payment(patient, awaiting_payment, gateway="payu")

    assert payment.gateway == checkout.gateway == "payu"
    assert fake_gateways["payu"].calls_to("create_payment")
    assert not fake_gateways["stripe"].calls


def test_unknown_gateway_is_refused(patient, awaiting_payment, fake_gateways):
    with pytest.raises(ServiceError) as refused:
        services.start_payment(patient, awaiting_payment, gateway="bitcoin")

    assert "gateway" in refused.value.details


def test_gateway_outage_keeps_the_payment_for_a_retry(patient, awaiting_payment, fake_gateway):
    from tests.payments.fake_gateway import retryable

    fake_gateway.fail_next("create_payment", retryable())

    with pytest.raises(ServiceError) as refused:
        services.start_payment(patient, awaiting_payment)
    payment, checkout = services.start_payment(patient, awaiting_payment)

    assert (refused.value.code, refused.value.status) == ("GATEWAY_UNAVAILABLE", 502)
    assert refused.value.details["retryable"] is True
    assert Payment.objects.get() == payment
    assert payment.reference == checkout.reference != ""


@pytest.mark.parametrize("who", ["other_patient", "doctor", "other_doctor"])
def test_only_the_patient_or_staff_start_the_payment(request, awaiting_payment, fake_gateway, who):
    with pytest.raises(ServiceError) as refused:
        services.start_payment(request.getfixturevalue(who), awaiting_payment)

    assert refused.value.status == 403
    assert not fake_gateway.calls


def test_staff_may_start_it_for_the_patient(admin_user, awaiting_payment, fake_gateway):
    payment, _ = services.start_payment(admin_user, awaiting_payment)

    assert payment.patient == awaiting_payment.patient


@pytest.mark.parametrize("state", ["scheduled", "cancelled", "completed"])
def test_only_a_booking_awaiting_payment_is_paid_for(patient, make_booking, fake_gateway, state):
    with pytest.raises(ServiceError) as refused:
        services.start_payment(patient, make_booking(state=state))

    assert (refused.value.code, refused.value.status) == ("PAYMENT_NOT_REQUIRED", 409)


def test_the_gateway_confirmation_schedules_the_booking(pending_payment, awaiting_payment):
    assert deliver("payment.succeeded", pending_payment) == "applied"

    awaiting_payment.refresh_from_db()
    assert awaiting_payment.state == "scheduled"
    assert pending_payment.status == "succeeded"
    assert pending_payment.succeeded_at is not None
    event = ConsultationEvent.objects.get(consultation=awaiting_payment)
    assert event.payload == {"from": "pending_payment", "to": "scheduled"}


def test_the_clients_word_alone_confirms_nothing(patient, pending_payment, awaiting_payment, fake_gateway):
    # The app says "paid", but the gateway (asked server side) still says pending.
    payment = services.verify_and_confirm(patient, pending_payment, {"status": "paid"})

    assert payment.status == "pending"
    awaiting_payment.refresh_from_db()
    assert awaiting_payment.state == "pending_payment"
    [call] = fake_gateway.calls_to("verify_payment")
    assert call.kwargs["reference"] == pending_payment.reference


def test_a_verified_callback_confirms_like_a_webhook(
    patient, pending_payment, awaiting_payment, fake_gateway
):
    fake_gateway.verifications[pending_payment.reference] = Verification(
        reference=pending_payment.reference,
        status="succeeded",
        provider_payment_id="ch_1",
        amount=FEE,
        currency="INR",
    )

    payment = services.verify_and_confirm(patient, pending_payment, {"signature": "ok"})
    services.verify_and_confirm(patient, pending_payment, {"signature": "ok"})  # the app retries

    assert (payment.status, payment.provider_payment_id) == ("succeeded", "ch_1")
    awaiting_payment.refresh_from_db()
    assert awaiting_payment.state == "scheduled"
    assert payment.gateway_events.count() == 1  # the retry was a duplicate


def test_a_verification_about_another_payment_is_refused(pending_payment):
    with pytest.raises(ServiceError) as refused:
        services.confirm_from_verification(
            pending_payment, Verification(reference="pay_other", status="succeeded")
        )

    assert refused.value.code == "PAYMENT_MISMATCH"


def test_only_the_payer_confirms(other_patient, pending_payment, fake_gateway):
    with pytest.raises(ServiceError) as refused:
        services.verify_and_confirm(other_patient, pending_payment, {})

    assert refused.value.status == 403


def test_cancelling_an_unpaid_booking_cancels_its_payment(
    patient, pending_payment, awaiting_payment, after_commit
):
    with after_commit():
        consultations.cancel_consultation(patient, awaiting_payment, reason="Changed my mind")

    pending_payment.refresh_from_db()
    assert pending_payment.status == "cancelled"
    assert Consultation.objects.get(pk=awaiting_payment.pk).state == "cancelled"


def test_an_unpaid_booking_may_be_cancelled_inside_the_cut_off(patient, make_booking):
    soon = make_booking(start=timezone.now() + timedelta(hours=1))

    consultations.cancel_consultation(patient, soon, reason="Cannot make it")

    assert soon.state == "cancelled"


def test_outsiders_cannot_cancel_an_unpaid_booking(other_patient, awaiting_payment):
    with pytest.raises(ServiceError) as refused:
        consultations.cancel_consultation(other_patient, awaiting_payment, reason="Mischief")

    assert refused.value.status == 403


def test_cancel_racing_a_confirmation_is_judged_as_paid(patient, make_booking, paid, awaiting_payment):
    # The patient's screen still shows "awaiting payment" when the payment is confirmed: the
    # unpaid-booking exemption from the cut-off no longer applies.
    stale = Consultation.objects.get(pk=awaiting_payment.pk)
    stale.state = "pending_payment"

    with pytest.raises(ServiceError) as refused:
        consultations.cancel_consultation(patient, stale, reason="Too late")

    assert refused.value.code == "INVALID_TRANSITION"
    awaiting_payment.refresh_from_db()
    assert awaiting_payment.state == "scheduled"


def test_the_booking_api_shows_the_new_state(client_for, patient, doctor, doctor_profile):
    response = client_for(patient).post(
        "/api/consultations/",
        {"doctor": str(doctor.pk), "scheduled_start": SLOT.isoformat(), "type": "video"},
        format="json",
    )

    assert response.status_code == 201
    data = response.json()["data"]
    assert data["state"] == "pending_payment"
    assert data["allowed_transitions"] == ["cancelled", "scheduled"]
    listed = client_for(patient).get("/api/consultations/?state=pending_payment")
    assert [row["id"] for row in listed.json()["data"]["results"]] == [data["id"]]


def test_the_patient_cancels_an_attempt_and_pays_another_way(
    patient, pending_payment, awaiting_payment, fake_gateways
):
    cancelled = services.cancel_payment(patient, pending_payment)
    again, checkout = services.start_payment(patient, awaiting_payment, gateway="payu")

    awaiting_payment.refresh_from_db()
    assert cancelled.status == "cancelled"
    assert awaiting_payment.state == "pending_payment"  # still waiting, the slot still held
    assert (again.gateway, checkout.gateway) == ("payu", "payu")
    assert again.pk != pending_payment.pk


def test_an_attempt_the_provider_took_is_confirmed_not_cancelled(patient, pending_payment, fake_gateway):
    fake_gateway.verifications[pending_payment.reference] = Verification(
        reference=pending_payment.reference, status="succeeded", amount=FEE, currency="INR"
    )

    with pytest.raises(ServiceError) as refused:
        services.cancel_payment(patient, pending_payment)

    pending_payment.refresh_from_db()
    assert (refused.value.code, refused.value.status) == ("PAYMENT_NOT_CANCELLABLE", 409)
    assert pending_payment.status == "succeeded"


@pytest.mark.parametrize("who", ["other_patient", "doctor"])
def test_only_the_payer_or_staff_cancel_an_attempt(request, pending_payment, who):
    with pytest.raises(ServiceError) as refused:
        services.cancel_payment(request.getfixturevalue(who), pending_payment)

    assert refused.value.status == 403
