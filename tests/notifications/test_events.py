"""The domain events that notify people, driven through the real endpoints and services: who is
told (and who is not), what the payload leaves out, that nothing is stored when the change rolls
back, and that delivery waits for the commit."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from clinical.consultations import selectors as consultation_selectors
from clinical.consultations import services as consultations
from clinical.models import Consultation, InventoryItem, Medication, Prescription
from clinical.prescriptions import services as prescriptions
from clinical.prescriptions.catalogue import ensure_catalogue
from payments import services as payments
from payments.gateways import override_gateway
from payments.gateways.stripe_gateway import StripeGateway
from payments.models import Coupon, Payment
from telehealth.notifications import doctor_status
from telehealth.notifications.models import Notification
from tests.clinical.clinics.factories import (
    ClinicFactory,
    ClinicMemberFactory,
    InventoryItemFactory,
    MedicationFactory,
)
from tests.clinical.consultations.conftest import NEXT_SLOT, SLOT, with_hours
from tests.factories import ConsultationFactory, DoctorProfileFactory, UserFactory
from tests.payments.api_helpers import STRIPE_WEBHOOK_SECRET, stripe_event, stripe_intent, stripe_signed
from tests.payments.conftest import FEE
from tests.payments.conftest import deliver as apply_gateway_event
from tests.payments.fake_gateway import FakeGateway
from tests.payments.fakes.stripe_server import FakeStripe, running_fake_stripe

pytestmark = pytest.mark.django_db

CONSULTATIONS = "/api/consultations/"
COMPLAINT = "Crushing chest pain"
SYMPTOMS = ["palpitations", "dizziness"]
DIAGNOSIS = "Unstable angina"
# Words that must never travel in a notification (they also go out through FCM, APNs, Web Push).
CLINICAL_WORDS = [COMPLAINT, *SYMPTOMS, DIAGNOSIS, "amoxicillin", "paracetamol", "chief_complaint"]


# --- Helpers and fixtures --------------------------------------------------------------------------


def sent() -> set[tuple[str, str]]:
    """Every stored notification as (kind, recipient id)."""
    return {(n.kind, str(n.recipient_id)) for n in Notification.objects.all()}


def to(kind: str, *users) -> set[tuple[str, str]]:
    return {(kind, str(user.pk)) for user in users}


def assert_no_clinical_content() -> None:
    for notification in Notification.objects.all():
        text = json.dumps([notification.title, notification.body, notification.data]).lower()
        for word in CLINICAL_WORDS:
            assert word.lower() not in text, (word, notification.kind, text)


# A plain doctor account (this folder's conftest gives ``doctor`` a profile; these tests make their own).
@pytest.fixture
def doctor(db):
    return UserFactory(role="doctor", first_name="Dana")


@pytest.fixture(autouse=True)
def delivered(monkeypatch) -> list[Notification]:
    """What ``services.deliver`` was handed (it runs only from on-commit callbacks); nobody is
    connected, so the doctor status hook stays quiet too."""
    calls: list[Notification] = []
    monkeypatch.setattr("telehealth.notifications.services.deliver", calls.append)
    monkeypatch.setattr("telehealth.notifications.services.is_connected", lambda user_id: False)
    return calls


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``with committed(): ...`` runs what the block left for after commit, as a commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def doctor_profile(doctor):
    """``doctor`` charges FEE, 09:00-17:00 UTC every day, 30-minute slots."""
    profile = DoctorProfileFactory(user=doctor, slot_minutes=30, fee_amount=FEE, fee_currency="INR")
    with_hours(profile)
    return profile


@pytest.fixture
def booked(patient, doctor, doctor_profile) -> Consultation:
    """A scheduled (paid for, or free) booking far ahead, outside every cut-off."""
    return ConsultationFactory(
        patient=patient,
        doctor=doctor,
        state="scheduled",
        scheduled_start=SLOT,
        duration_minutes=30,
        chief_complaint=COMPLAINT,
        symptoms=SYMPTOMS,
        diagnosis=DIAGNOSIS,
    )


@pytest.fixture
def awaiting_payment(patient, doctor, doctor_profile) -> Consultation:
    return ConsultationFactory(
        patient=patient,
        doctor=doctor,
        state="pending_payment",
        scheduled_start=SLOT,
        duration_minutes=30,
        fee_amount=FEE,
        fee_currency="INR",
        chief_complaint=COMPLAINT,
    )


@pytest.fixture
def fake_gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway(name="stripe")
    with override_gateway("stripe", fake):
        yield fake


@pytest.fixture
def pending_payment(patient, awaiting_payment, fake_gateway) -> Payment:
    payment, _ = payments.start_payment(patient, awaiting_payment, gateway="stripe")
    return payment


@pytest.fixture
def paid(pending_payment, committed) -> Payment:
    with committed():
        assert apply_gateway_event("payment.succeeded", pending_payment) == "applied"
    Notification.objects.all().delete()
    return pending_payment


@pytest.fixture
def cast(patient, other_patient, doctor, other_doctor, admin_user):
    """Everyone exists, so "only these were told" means something."""
    return {"other_patient": other_patient, "other_doctor": other_doctor}


def book(client, doctor, start=SLOT):
    body = {
        "doctor": str(doctor.pk),
        "scheduled_start": start.isoformat(),
        "type": "video",
        "chief_complaint": COMPLAINT,
        "symptoms": SYMPTOMS,
    }
    return client.post(CONSULTATIONS, body, format="json")


def consultation_url(consultation, action: str) -> str:
    return f"{CONSULTATIONS}{consultation.pk}/{action}/"


# --- Booking -----------------------------------------------------------------------------------------


def test_booking_tells_patient_and_doctor_only_after_commit(
    client_for, patient, doctor, doctor_profile, cast, delivered, committed
):
    with committed():
        response = book(client_for(patient), doctor)
        assert delivered == []  # stored, not sent: the transaction has not committed yet
        stored = list(Notification.objects.all())

    assert response.status_code == 201, response.json()
    consultation_id = response.json()["data"]["id"]
    assert sent() == to("appointment_booked", patient, doctor)
    assert {n.pk for n in delivered} == {n.pk for n in stored}
    assert len(delivered) == 2
    for notification in stored:
        assert notification.data["consultation_id"] == consultation_id
        assert notification.data["state"] == "pending_payment"
        assert notification.data["room"] == f"/ws/consultations/{consultation_id}/"
    assert_no_clinical_content()


def test_a_booking_that_loses_the_slot_race_tells_nobody(
    client_for, monkeypatch, patient, other_patient, doctor, doctor_profile, delivered, committed
):
    ConsultationFactory(patient=other_patient, doctor=doctor, state="scheduled", scheduled_start=SLOT)
    # The race: the pre-check saw the slot free, the constraint refuses the insert.
    monkeypatch.setattr(consultation_selectors, "slot_is_taken", lambda doctor_id, start: False)

    with committed():
        response = book(client_for(patient), doctor)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "SLOT_TAKEN"
    assert not Notification.objects.exists()
    assert delivered == []


def test_a_booking_rolled_back_by_its_caller_tells_nobody(
    patient, doctor, doctor_profile, delivered, committed
):
    stored_inside: list[int] = []

    def book_then_fail() -> None:
        with transaction.atomic():
            consultations.book_consultation(
                patient, doctor_id=doctor.pk, scheduled_start=SLOT, consultation_type="video"
            )
            stored_inside.append(Notification.objects.count())
            raise RuntimeError("the caller fails after the booking")

    with committed(), pytest.raises(RuntimeError):
        book_then_fail()

    assert stored_inside == [2]
    assert not Consultation.objects.exists()
    assert not Notification.objects.exists()
    assert delivered == []


# --- Payment confirms the booking --------------------------------------------------------------------


def test_a_payment_confirms_the_booking_and_is_acknowledged(
    patient, doctor, awaiting_payment, pending_payment, cast, delivered, committed
):
    with committed():
        assert apply_gateway_event("payment.succeeded", pending_payment) == "applied"
        assert delivered == []

    assert sent() == to("appointment_confirmed", patient, doctor) | to("payment_succeeded", patient)
    receipt = Notification.objects.get(kind="payment_succeeded")
    assert receipt.data == {
        "payment_id": str(pending_payment.pk),
        "consultation_id": str(awaiting_payment.pk),
        "amount": FEE,
        "currency": "INR",
    }
    assert (
        Notification.objects.get(kind="appointment_confirmed", recipient=doctor).data["state"] == "scheduled"
    )
    assert len(delivered) == 3
    assert_no_clinical_content()


def test_a_success_reported_again_under_another_event_id_notifies_once(
    patient, doctor, pending_payment, committed
):
    with committed():
        assert apply_gateway_event("payment.succeeded", pending_payment) == "applied"
        assert apply_gateway_event("payment.succeeded", pending_payment) == "already_applied"

    assert Notification.objects.filter(kind="payment_succeeded").count() == 1
    assert Notification.objects.filter(kind="appointment_confirmed").count() == 2


def test_a_payment_for_a_booking_that_is_gone_confirms_nothing_and_is_refunded(
    patient, doctor, awaiting_payment, pending_payment, committed
):
    with committed():
        consultations.cancel_consultation(patient, awaiting_payment, reason="Changed my mind")
    # The booking's pending payment was cancelled with it; the money arrives anyway.
    Notification.objects.all().delete()

    with committed():
        assert apply_gateway_event("payment.succeeded", pending_payment) == "applied"

    assert sent() == to("payment_succeeded", patient) | to("payment_refunded", patient)


def test_a_coupon_covering_the_fee_confirms_the_booking_without_a_payment_notice(
    patient, doctor, awaiting_payment, fake_gateway, committed
):
    Coupon.objects.create(code="FREEVISIT", kind="percent", value=100)

    with committed():
        payment, _ = payments.start_payment(patient, awaiting_payment, coupon_code="FREEVISIT")

    assert (payment.amount, payment.status) == (0, "succeeded")
    assert sent() == to("appointment_confirmed", patient, doctor)


# --- The webhook endpoint ----------------------------------------------------------------------------


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with running_fake_stripe() as fake:
        yield fake


@pytest.fixture
def stripe_payment(patient, awaiting_payment, fake_stripe) -> Iterator[Payment]:
    gateway = StripeGateway(
        api_key=fake_stripe.api_key,
        api_base=fake_stripe.url,
        webhook_secret=STRIPE_WEBHOOK_SECRET,
        max_network_retries=0,
    )
    with override_gateway("stripe", gateway):
        payment, _ = payments.start_payment(patient, awaiting_payment, gateway="stripe")
        yield payment


def test_a_redelivered_webhook_notifies_once(
    api_client, patient, doctor, stripe_payment, delivered, committed
):
    event = stripe_event("payment_intent.succeeded", stripe_intent(stripe_payment.reference, FEE))

    for expected in ("applied", "duplicate"):
        body, headers = stripe_signed(event)  # signed afresh, same event id
        with committed():
            response = api_client.post(
                "/api/payments/webhooks/stripe/", body, content_type="application/json", **headers
            )
        assert response.json()["data"] == {"outcome": expected}

    assert sorted((n.kind, str(n.recipient_id)) for n in Notification.objects.all()) == sorted(
        to("payment_succeeded", patient) | to("appointment_confirmed", patient, doctor)
    )
    assert len(delivered) == 3


# --- Rescheduling and cancelling ----------------------------------------------------------------------


def test_rescheduling_tells_both_with_the_old_and_the_new_booking(
    client_for, patient, doctor, booked, cast, delivered, committed
):
    with committed():
        response = client_for(patient).post(
            consultation_url(booked, "reschedule"), {"scheduled_start": NEXT_SLOT.isoformat()}, format="json"
        )
        assert delivered == []

    assert response.status_code == 201, response.json()
    new_id = response.json()["data"]["id"]
    assert sent() == to("appointment_rescheduled", patient, doctor)
    for notification in Notification.objects.all():
        assert notification.data["consultation_id"] == new_id
        assert notification.data["previous_consultation_id"] == str(booked.pk)
        assert notification.data["previous_start"] == "2030-01-07T09:00:00Z"
        assert notification.data["scheduled_start"] == "2030-01-07T09:30:00Z"
    assert len(delivered) == 2
    assert_no_clinical_content()


def test_a_reschedule_that_loses_the_slot_race_tells_nobody(
    client_for, monkeypatch, patient, other_patient, doctor, booked, delivered, committed
):
    ConsultationFactory(patient=other_patient, doctor=doctor, state="scheduled", scheduled_start=NEXT_SLOT)
    monkeypatch.setattr(consultation_selectors, "slot_is_taken", lambda doctor_id, start: False)

    with committed():
        response = client_for(patient).post(
            consultation_url(booked, "reschedule"), {"scheduled_start": NEXT_SLOT.isoformat()}, format="json"
        )

    assert response.json()["error"]["code"] == "SLOT_TAKEN"
    booked.refresh_from_db()
    assert booked.state == "scheduled"
    assert not Notification.objects.exists()
    assert delivered == []


@pytest.mark.parametrize(
    ("canceller", "told"),
    [("patient", ["doctor"]), ("doctor", ["patient"]), ("admin_user", ["patient", "doctor"])],
)
def test_cancelling_tells_the_other_side(
    request, client_for, booked, cast, canceller, told, delivered, committed
):
    with committed():
        response = client_for(request.getfixturevalue(canceller)).post(
            consultation_url(booked, "cancel"), {"reason": "Travelling"}, format="json"
        )
        assert delivered == []

    assert response.status_code == 200, response.json()
    recipients = [request.getfixturevalue(name) for name in told]
    assert sent() == to("appointment_cancelled", *recipients)
    assert Notification.objects.get(recipient=recipients[0]).data["state"] == "cancelled"
    assert len(delivered) == len(told)
    assert_no_clinical_content()


def test_a_refused_cancellation_tells_nobody(client_for, patient, doctor, doctor_profile, committed):
    soon = ConsultationFactory(
        patient=patient, doctor=doctor, state="scheduled", scheduled_start=timezone.now() + timedelta(hours=1)
    )

    with committed():
        response = client_for(patient).post(
            consultation_url(soon, "cancel"), {"reason": "Late"}, format="json"
        )

    assert response.json()["error"]["code"] == "POLICY_VIOLATION"
    assert not Notification.objects.exists()


def test_cancelling_a_paid_booking_in_time_tells_the_doctor_and_refunds_the_patient(
    client_for, patient, doctor, awaiting_payment, paid, cast, committed
):
    with committed():
        response = client_for(patient).post(
            consultation_url(awaiting_payment, "cancel"), {"reason": "Better"}, format="json"
        )

    assert response.status_code == 200, response.json()
    assert sent() == to("appointment_cancelled", doctor) | to("payment_refunded", patient)
    refund = paid.refunds.get()
    assert Notification.objects.get(kind="payment_refunded").data["refund_id"] == str(refund.pk)
    assert_no_clinical_content()


def test_an_expired_unpaid_booking_is_cancelled_by_the_system_for_both(
    patient, doctor, doctor_profile, cast, delivered, committed
):
    stale = ConsultationFactory(
        patient=patient,
        doctor=doctor,
        state="pending_payment",
        scheduled_start=SLOT,
        created_at=timezone.now() - timedelta(days=1),
    )

    with committed():
        assert payments.expire_pending_payments() == 1
        assert payments.expire_pending_payments() == 0  # nothing left to let go: nobody told again

    stale.refresh_from_db()
    assert stale.state == "cancelled"
    assert sent() == to("appointment_cancelled", patient, doctor)
    assert len(delivered) == 2


# --- Refunds -------------------------------------------------------------------------------------------


def test_each_refund_that_goes_through_is_notified_once(admin_user, patient, paid, fake_gateway, committed):
    with committed():
        first = payments.refund_payment(
            admin_user, paid, amount=10_000, reason="Goodwill", idempotency_key="r-1"
        )
        payments.refund_payment(admin_user, paid, amount=10_000, reason="Goodwill", idempotency_key="r-1")
        second = payments.refund_payment(
            admin_user, paid, amount=5_000, reason="Goodwill", idempotency_key="r-2"
        )

    refunds = Notification.objects.filter(kind="payment_refunded", recipient=patient)
    assert sorted((n.data["refund_id"], n.data["refund_amount"]) for n in refunds) == sorted(
        [(str(first.pk), 10_000), (str(second.pk), 5_000)]
    )
    assert sent() == to("payment_refunded", patient)


def test_a_refund_the_provider_refuses_tells_nobody(admin_user, paid, fake_gateway, committed):
    fake_gateway.refund_status = "failed"

    with committed():
        payments.refund_payment(admin_user, paid, reason="Goodwill", idempotency_key="r-1")

    assert not Notification.objects.exists()


# --- Prescriptions -------------------------------------------------------------------------------------


@pytest.fixture
def draft(patient, doctor) -> Prescription:
    ensure_catalogue()
    consultation = ConsultationFactory(
        patient=patient, doctor=doctor, state="in_progress", diagnosis=DIAGNOSIS
    )
    items = [
        {
            "medication": Medication.objects.filter(generic_name=name).order_by("id").first(),
            "dose": "1 tablet",
            "route": "oral",
            "frequency": "BD",
            "duration_days": 5,
            "quantity": 10,
            "instructions": "After food",
        }
        for name in ("amoxicillin", "paracetamol")
    ]
    return prescriptions.create_prescription(doctor, consultation, notes="Rest and fluids.", items=items)


def test_issuing_a_prescription_tells_its_patient_only(
    client_for, patient, doctor, draft, cast, committed, delivered
):
    with committed():
        response = client_for(doctor).post(f"/api/prescriptions/{draft.pk}/issue/")
        assert delivered == []

    assert response.status_code == 200, response.json()
    assert sent() == to("prescription_issued", patient)
    [notification] = Notification.objects.all()
    assert notification.data["prescription_id"] == str(draft.pk)
    assert notification.data["consultation_id"] == str(draft.consultation_id)
    assert delivered == [notification]
    assert_no_clinical_content()


def test_a_refused_issue_tells_nobody(client_for, other_doctor, draft, committed):
    with committed():
        response = client_for(other_doctor).post(f"/api/prescriptions/{draft.pk}/issue/")

    assert response.status_code in (403, 404)
    assert not Notification.objects.exists()


# --- Doctor verification -------------------------------------------------------------------------------


@pytest.fixture
def pending_profile(doctor):
    return DoctorProfileFactory(user=doctor, verification_status="pending")


@pytest.mark.parametrize(("action", "status"), [("verify", "verified"), ("reject", "rejected")])
def test_an_admin_decision_is_told_to_the_doctor(
    client_for, admin_user, doctor, pending_profile, cast, action, status, delivered, committed
):
    with committed():
        response = client_for(admin_user).post(
            f"/api/doctors/{doctor.pk}/{action}/", {"reason": "Licence unreadable"}, format="json"
        )
        assert delivered == []

    assert response.status_code == 200, response.json()
    assert sent() == to("doctor_verification", doctor)
    notification = Notification.objects.get()
    assert notification.data == {"doctor_id": str(doctor.pk), "status": status}
    assert delivered == [notification]


def test_an_illegal_decision_and_a_resubmission_tell_nobody(client_for, admin_user, doctor, pending_profile):
    client_for(admin_user).post(f"/api/doctors/{doctor.pk}/reject/", {"reason": "Blurry"}, format="json")
    Notification.objects.all().delete()

    refused = client_for(admin_user).post(f"/api/doctors/{doctor.pk}/verify/")
    resubmitted = client_for(doctor).post("/api/doctors/me/resubmit/")

    assert refused.status_code == 409
    assert resubmitted.status_code == 200, resubmitted.json()
    assert not Notification.objects.exists()


# --- Clinic stock -------------------------------------------------------------------------------------


@pytest.fixture
def clinic_admins(db):
    return [UserFactory(role="patient", first_name="Carla"), UserFactory(role="patient", first_name="Cody")]


@pytest.fixture
def stocked(clinic_admins, doctor) -> InventoryItem:
    """25 on the shelf, low at 20; two admins, a staff member and a doctor at the clinic."""
    clinic = ClinicFactory(name="Lakeside Clinic", created_by=clinic_admins[0])
    for admin in clinic_admins:
        ClinicMemberFactory(clinic=clinic, user=admin, role="admin")
    ClinicMemberFactory(clinic=clinic, role="staff")
    ClinicMemberFactory(clinic=clinic, user=doctor, role="doctor")
    medication = MedicationFactory(generic_name="paracetamol")
    return InventoryItemFactory(clinic=clinic, medication=medication, stock=25, low_stock_threshold=20)


def test_low_stock_is_told_to_clinic_admins_only_when_crossing_the_threshold(
    client_for, clinic_admins, stocked, cast, delivered, committed
):
    client = client_for(clinic_admins[0])
    url = f"/api/eclinic/{stocked.clinic_id}/inventory/{stocked.pk}/adjust/"
    told_after = []
    for delta in (-3, -2, -1, +10, -5, -20):  # 22, 20 (crosses), 19, 29, 24, 4 (crosses again)
        with committed():
            response = client.post(url, {"delta": delta, "reason": "Dispensed"}, format="json")
        assert response.status_code == 200, response.json()
        told_after.append(Notification.objects.count())

    assert told_after == [0, 2, 2, 2, 2, 4]
    assert sent() == to("clinic_low_stock", *clinic_admins)
    first, second = Notification.objects.order_by("pk").filter(recipient=clinic_admins[0])
    assert (first.data["stock"], first.data["threshold"]) == (20, 20)
    assert (second.data["stock"], second.data["threshold"]) == (4, 20)
    assert first.data["inventory_item_id"] == stocked.pk
    assert len(delivered) == 4
    assert_no_clinical_content()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_adjustments_cross_the_threshold_once():
    admin = UserFactory(role="patient")
    item = InventoryItemFactory(stock=14, low_stock_threshold=10)
    ClinicMemberFactory(clinic=item.clinic, user=admin, role="admin")
    barrier = threading.Barrier(8)

    def take_one():
        from clinical.clinics import services as clinics

        try:
            barrier.wait()
            clinics.adjust_stock(admin, InventoryItem.objects.get(pk=item.pk), delta=-1, reason="rush")
        finally:
            connection.close()

    threads = [threading.Thread(target=take_one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    item.refresh_from_db()
    assert item.stock == 6
    [notification] = Notification.objects.filter(kind="clinic_low_stock")
    assert (notification.recipient_id, notification.data["stock"]) == (admin.pk, 10)


# --- Doctor status -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("connected", "afterwards"), [(True, "online"), (False, "offline")])
def test_the_doctor_is_busy_while_a_consultation_is_in_progress(
    client_for, monkeypatch, patient, doctor, committed, connected, afterwards
):
    monkeypatch.setattr("telehealth.notifications.services.is_connected", lambda user_id: connected)
    published: list[str] = []
    publish = doctor_status.publish
    monkeypatch.setattr(doctor_status, "publish", lambda doctor_id: published.append(publish(doctor_id)))
    consultation = ConsultationFactory(
        patient=patient,
        doctor=doctor,
        state="scheduled",
        scheduled_start=timezone.now() - timedelta(minutes=1),
    )
    client = client_for(doctor)

    with committed():
        started = client.post(
            consultation_url(consultation, "transition"), {"state": "in_progress"}, format="json"
        )
        assert published == []  # after commit only
    assert started.status_code == 200, started.json()
    assert published == ["busy"]
    assert doctor_status.status_frame(doctor.pk)["status"] == "busy"

    with committed():
        ended = client.post(
            consultation_url(consultation, "transition"), {"state": "completed"}, format="json"
        )
    assert ended.status_code == 200, ended.json()
    assert published == ["busy", afterwards]
    frame = doctor_status.status_frame(doctor.pk)
    assert (frame["doctor_id"], frame["status"]) == (str(doctor.pk), afterwards)
    assert frame["since"] is not None
