"""Coupons: each rule, integer discounts, uses given back on failure, and the last use raced."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from clinical.models import Clinic, ClinicMember, Specialisation
from payments import services
from payments.models import Coupon, CouponRedemption, Payment
from telehealth.api.errors import ServiceError
from tests.factories import UserFactory
from tests.payments.conftest import FEE, deliver

pytestmark = pytest.mark.django_db


def coupon(code: str = "WELCOME10", **fields) -> Coupon:
    fields.setdefault("kind", "percent")
    fields.setdefault("value", 10)
    return Coupon.objects.create(code=code, **fields)


def refused(actor, consultation, code: str) -> ServiceError:
    with pytest.raises(ServiceError) as error:
        services.start_payment(actor, consultation, coupon_code=code)
    return error.value


@pytest.mark.parametrize(
    ("kind", "value", "currency", "fee", "discount"),
    [
        ("percent", 10, "", FEE, 5_000),
        ("percent", 33, "", 999, 329),  # 329.67 rounds down to the minor unit
        ("percent", 1, "", 99, 0),
        ("fixed", 15_000, "INR", FEE, 15_000),
        ("fixed", 80_000, "INR", FEE, FEE),  # never below zero
    ],
)
def test_discount_in_integers(patient, make_booking, fake_gateway, kind, value, currency, fee, discount):
    coupon("SAVE", kind=kind, value=value, currency=currency)

    payment, checkout = services.start_payment(patient, make_booking(fee=fee), coupon_code="SAVE")

    assert (payment.list_amount, payment.discount_amount, payment.amount) == (fee, discount, fee - discount)
    if payment.amount:
        assert fake_gateway.calls_to("create_payment")[0].kwargs["amount"] == fee - discount
        assert checkout.amount == fee - discount


def test_codes_are_case_insensitive(patient, awaiting_payment, fake_gateway):
    coupon("Welcome10")

    payment, _ = services.start_payment(patient, awaiting_payment, coupon_code="  wElCoMe10 ")

    assert payment.coupon.code == "Welcome10"
    with pytest.raises(IntegrityError), transaction.atomic():
        coupon("WELCOME10")


def test_a_redemption_is_recorded_and_counted(patient, awaiting_payment, fake_gateway):
    welcome = coupon()

    payment, _ = services.start_payment(patient, awaiting_payment, coupon_code="WELCOME10")

    welcome.refresh_from_db()
    assert welcome.uses == 1
    redemption = CouponRedemption.objects.get()
    assert (redemption.user, redemption.payment, redemption.amount, redemption.released) == (
        patient,
        payment,
        5_000,
        False,
    )


def test_a_full_discount_confirms_without_a_gateway(patient, awaiting_payment, fake_gateway, doctor):
    coupon("FREE", value=100)

    payment, checkout = services.start_payment(patient, awaiting_payment, coupon_code="FREE")

    awaiting_payment.refresh_from_db()
    assert (payment.status, payment.amount, payment.gateway) == ("succeeded", 0, "free")
    assert payment.receipt_number
    assert (checkout.gateway, checkout.amount) == ("free", 0)
    assert awaiting_payment.state == "scheduled"
    assert not fake_gateway.calls
    assert services.doctor_balance(doctor, "INR") == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"active": False}, "no longer active"),
        ({"valid_until": timezone.now() - timedelta(days=1)}, "not valid now"),
        ({"valid_from": timezone.now() + timedelta(days=1)}, "not valid now"),
        ({"kind": "fixed", "value": 1_000, "currency": "USD"}, "in USD"),
        ({"min_amount": FEE + 1, "currency": "INR"}, "minimum"),
    ],
)
def test_coupon_rules(patient, awaiting_payment, fake_gateway, fields, message):
    coupon("RULE", **fields)

    error = refused(patient, awaiting_payment, "RULE")

    assert error.code == "COUPON_INVALID"
    assert message in error.message
    assert not Payment.objects.exists()


def test_an_unknown_code_is_refused(patient, awaiting_payment, fake_gateway):
    assert refused(patient, awaiting_payment, "NOPE").code == "COUPON_INVALID"


def test_the_minimum_is_inclusive(patient, awaiting_payment, fake_gateway):
    coupon("MIN", min_amount=FEE, currency="INR")

    payment, _ = services.start_payment(patient, awaiting_payment, coupon_code="MIN")

    assert payment.discount_amount == 5_000


def test_specialisation_scope(patient, make_booking, doctor_profile, fake_gateway):
    cardiology = Specialisation.objects.create(name="Cardiology", slug="cardiology")
    dermatology = Specialisation.objects.create(name="Dermatology", slug="dermatology")
    doctor_profile.specialisations.add(cardiology)
    coupon("HEART", scope="specialisation", specialisation=cardiology)
    coupon("SKIN", scope="specialisation", specialisation=dermatology)

    assert refused(patient, make_booking(), "SKIN").code == "COUPON_INVALID"
    payment, _ = services.start_payment(patient, make_booking(), coupon_code="HEART")
    assert payment.coupon.code == "HEART"


def test_clinic_scope(patient, doctor, admin_user, make_booking, fake_gateway):
    clinics = [
        Clinic.objects.create(
            name=name, created_by=admin_user, verification_status="verified", city="Pune", country="IN"
        )
        for name in ("Lakeside", "Hilltop")
    ]
    for clinic in clinics:
        ClinicMember.objects.create(clinic=clinic, user=doctor, role="doctor")
    coupon("LAKE", scope="clinic", clinic=clinics[0])

    assert (
        refused(patient, make_booking(type="in_clinic", clinic=clinics[1]), "LAKE").code == "COUPON_INVALID"
    )
    assert refused(patient, make_booking(), "LAKE").code == "COUPON_INVALID"  # video: no clinic
    payment, _ = services.start_payment(
        patient, make_booking(type="in_clinic", clinic=clinics[0]), coupon_code="LAKE"
    )
    assert payment.coupon.code == "LAKE"


def test_max_uses(patient, other_patient, doctor, make_booking, fake_gateway):
    coupon("ONCE", max_uses=1)
    services.start_payment(patient, make_booking(), coupon_code="ONCE")

    error = refused(other_patient, make_booking(patient=other_patient), "ONCE")

    assert (error.code, error.status) == ("COUPON_EXHAUSTED", 409)


def test_max_uses_per_user(patient, other_patient, make_booking, fake_gateway):
    coupon("TWICE", max_uses_per_user=2)
    for _ in range(2):
        services.start_payment(patient, make_booking(), coupon_code="TWICE")

    assert refused(patient, make_booking(), "TWICE").code == "COUPON_EXHAUSTED"
    services.start_payment(other_patient, make_booking(patient=other_patient), coupon_code="TWICE")


@pytest.mark.parametrize("end", ["payment.failed", "payment.cancelled"])
def test_a_use_is_given_back_when_the_payment_does_not_go_through(patient, make_booking, fake_gateway, end):
    once = coupon("ONCE", max_uses=1, max_uses_per_user=1)
    payment, _ = services.start_payment(patient, make_booking(), coupon_code="ONCE")

    deliver(end, payment)

    once.refresh_from_db()
    assert once.uses == 0
    assert CouponRedemption.objects.get().released is True
    again, _ = services.start_payment(patient, make_booking(), coupon_code="ONCE")
    assert again.coupon == once


def test_a_use_stays_taken_when_the_payment_succeeds(patient, make_booking, fake_gateway):
    once = coupon("ONCE", max_uses=1)
    payment, _ = services.start_payment(patient, make_booking(), coupon_code="ONCE")

    deliver("payment.succeeded", payment)

    once.refresh_from_db()
    assert once.uses == 1


def test_a_different_coupon_while_paying_is_refused(patient, awaiting_payment, fake_gateway):
    coupon("A")
    coupon("B")
    services.start_payment(patient, awaiting_payment, coupon_code="A")

    assert refused(patient, awaiting_payment, "B").code == "PAYMENT_IN_PROGRESS"
    payment, _ = services.start_payment(patient, awaiting_payment, coupon_code="a")  # the same one
    assert payment.coupon.code == "A"


def test_the_database_refuses_impossible_coupons():
    bad = [
        {"kind": "percent", "value": 101},
        {"kind": "fixed", "value": 100},  # no currency
        {"kind": "percent", "value": 10, "min_amount": 100},  # minimum in no currency
        {"kind": "percent", "value": 10, "scope": "clinic"},  # no clinic
    ]
    for number, fields in enumerate(bad):
        with pytest.raises(IntegrityError), transaction.atomic():
            Coupon.objects.create(code=f"BAD{number}", **fields)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_last_use_raced_by_two_patients_is_granted_once(make_booking, fake_gateway):
    last = coupon("LAST", max_uses=5, uses=4)
    racers = [UserFactory(role="patient") for _ in range(2)]
    bookings = [make_booking(patient=racer) for racer in racers]
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def pay(index: int) -> None:
        try:
            barrier.wait()
            payment, _ = services.start_payment(racers[index], bookings[index], coupon_code="LAST")
            results[index] = payment.discount_amount
        except ServiceError as error:
            results[index] = error.code
        finally:
            connection.close()

    threads = [threading.Thread(target=pay, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(results, key=str) == [5_000, "COUPON_EXHAUSTED"], results
    last.refresh_from_db()
    assert last.uses == 5
    assert CouponRedemption.objects.count() == 1


def test_staff_manage_coupons(admin_user, patient):
    made = services.create_coupon(admin_user, code="NEW10", kind="percent", value=10)
    Coupon.objects.filter(pk=made.pk).update(uses=3)  # redeemed meanwhile

    changed = services.update_coupon(admin_user, made, value=15)
    stopped = services.deactivate_coupon(admin_user, changed)

    assert (stopped.value, stopped.uses, stopped.active) == (15, 3, False)
    with pytest.raises(ServiceError) as taken:
        services.create_coupon(admin_user, code="new10", kind="percent", value=5)
    assert (taken.value.code, taken.value.status) == ("CONFLICT", 409)
    with pytest.raises(ServiceError) as denied:
        services.create_coupon(patient, code="MINE", kind="percent", value=100)
    assert denied.value.status == 403
