"""The receipt PDF and refunds through the API."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from clinical.models import Specialisation
from payments.models import Coupon, Refund
from telehealth.audit.models import AuditEntry
from tests.payments.api_helpers import data_of, error_of, money, payment_url
from tests.payments.conftest import FEE, deliver

pytestmark = pytest.mark.django_db


def pdf_text(response) -> str:
    reader = PdfReader(io.BytesIO(response.content))
    return "\n".join(page.extract_text() for page in reader.pages)


# --- Receipt -------------------------------------------------------------------------------------


@pytest.fixture
def discounted_paid(patient, doctor, doctor_profile, awaiting_payment, fake_gateway):
    """Alice paid 450.00 INR for Dana's 500.00 consultation with a 10% coupon, in Kolkata time."""
    from payments import services

    doctor_profile.specialisations.add(Specialisation.objects.create(name="Cardiology", slug="cardiology"))
    patient.first_name, patient.last_name, patient.timezone = "Alice", "Fernandes", "Asia/Kolkata"
    patient.save()
    doctor.first_name, doctor.last_name = "Dana", "Rao"
    doctor.save()
    Coupon.objects.create(code="TENOFF", kind="percent", value=10)
    payment, _ = services.start_payment(patient, awaiting_payment, coupon_code="TENOFF")
    deliver("payment.succeeded", payment, provider_payment_id="ch_receipt_1")
    return payment


def test_the_patient_downloads_the_receipt_of_a_paid_payment(alice, discounted_paid, patient):
    response = alice.get(payment_url(discounted_paid, "receipt/"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'attachment; filename="receipt-{discounted_paid.receipt_number}.pdf"'
    )
    assert response["Cache-Control"] == "private, no-store"
    text = pdf_text(response)
    assert discounted_paid.receipt_number in text
    assert "Alice Fernandes" in text
    assert patient.phone in text
    assert "Dr Dana Rao (Cardiology)" in text
    assert "INR 500.00" in text  # the fee
    assert "-INR 50.00" in text  # the coupon's discount
    assert "Discount (TENOFF)" in text
    assert "INR 450.00" in text  # the total
    assert "ch_receipt_1" in text
    assert "Asia/Kolkata" in text
    assert str(discounted_paid.consultation_id) in text


def test_the_receipt_shows_refunds(ada, discounted_paid, fake_gateway, after_commit):
    with after_commit():
        ada.post(
            payment_url(discounted_paid, "refunds/"), {"amount": 15_000, "reason": "Late"}, format="json"
        )

    text = pdf_text(ada.get(payment_url(discounted_paid, "receipt/")))

    assert "Refunded" in text
    assert "-INR 150.00" in text
    assert "INR 300.00" in text  # net paid


def test_staff_download_receipts_and_it_is_audited(ada, admin_user, paid):
    response = ada.get(payment_url(paid, "receipt/"), HTTP_ACCEPT="application/pdf")

    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")
    entry = AuditEntry.objects.get(actor=admin_user, action="download")
    assert entry.resource == "payment"
    assert entry.object_id == str(paid.pk)


def test_the_doctor_does_not_get_the_receipt(dana, paid):
    response = dana.get(payment_url(paid, "receipt/"))

    assert response.status_code == 403
    assert error_of(response)["code"] == "PERMISSION_DENIED"
    assert AuditEntry.objects.filter(action="denied", object_id=str(paid.pk)).exists()


def test_another_patient_does_not_learn_the_receipt_exists(bob, paid):
    response = bob.get(payment_url(paid, "receipt/"), HTTP_ACCEPT="application/pdf")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert error_of(response)["code"] == "NOT_FOUND"


def test_a_pending_payment_has_no_receipt(alice, pending_payment):
    response = alice.get(payment_url(pending_payment, "receipt/"))

    assert response.status_code == 409
    assert error_of(response)["code"] == "RECEIPT_NOT_AVAILABLE"


def test_anonymous_gets_no_receipt(api_client, paid):
    assert api_client.get(payment_url(paid, "receipt/")).status_code == 401


# --- Refunds -------------------------------------------------------------------------------------


def test_staff_refund_part_of_a_payment(ada, admin_user, paid, fake_gateway, after_commit):
    with after_commit():
        response = ada.post(
            payment_url(paid, "refunds/"), {"amount": 20_000, "reason": "Goodwill"}, format="json"
        )

    assert response.status_code == 201
    data = data_of(response)
    assert data["amount"] == money(20_000)
    assert data["reason"] == "Goodwill"
    assert data["requested_by"]["id"] == str(admin_user.pk)
    refund = Refund.objects.get()
    assert refund.status == "succeeded"  # the provider answered after commit
    paid.refresh_from_db()
    assert paid.status == "partially_refunded"
    assert paid.refunded_amount == 20_000
    payment = data_of(ada.get(payment_url(paid)))
    assert payment["refunded"] == money(20_000)
    assert payment["refundable"] == money(FEE - 20_000)


def test_a_pending_refund_is_not_refundable_again(ada, paid, fake_gateway):
    ada.post(
        payment_url(paid, "refunds/"), {"amount": 30_000, "reason": "Part"}, format="json"
    )  # not paid out

    assert data_of(ada.get(payment_url(paid)))["refundable"] == money(FEE - 30_000)
    response = ada.post(payment_url(paid, "refunds/"), {"amount": 30_000, "reason": "More"}, format="json")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "REFUND_EXCEEDS_PAYMENT"
    assert error["details"]["refundable"] == FEE - 30_000


def test_without_an_amount_everything_left_is_refunded(ada, paid, fake_gateway, after_commit):
    with after_commit():
        data = data_of(ada.post(payment_url(paid, "refunds/"), {"reason": "Doctor ill"}, format="json"))

    assert data["amount"] == money(FEE)
    paid.refresh_from_db()
    assert paid.status == "refunded"


def test_the_same_idempotency_key_never_refunds_twice(ada, paid, fake_gateway):
    body = {"amount": 10_000, "reason": "Goodwill"}
    url = payment_url(paid, "refunds/")

    first = ada.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="refund-1")
    again = ada.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY="refund-1")

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert data_of(again)["id"] == data_of(first)["id"]
    assert Refund.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": 0, "reason": "x"}, "amount"),
        ({"amount": 100}, "reason"),
        ({"amount": "ten", "reason": "x"}, "amount"),
    ],
)
def test_invalid_refunds_are_validation_errors(ada, paid, body, field):
    response = ada.post(payment_url(paid, "refunds/"), body, format="json")

    assert response.status_code == 400
    assert field in error_of(response)["details"]
    assert not Refund.objects.exists()


def test_an_unpaid_payment_is_not_refundable(ada, pending_payment):
    response = ada.post(payment_url(pending_payment, "refunds/"), {"reason": "x"}, format="json")

    assert response.status_code == 409
    assert error_of(response)["code"] == "PAYMENT_NOT_REFUNDABLE"


@pytest.mark.parametrize(("client", "status"), [("alice", 403), ("dana", 403), ("bob", 404)])
def test_only_staff_refund(request, client, status, paid):
    response = request.getfixturevalue(client).post(
        payment_url(paid, "refunds/"), {"amount": 100, "reason": "Please"}, format="json"
    )

    assert response.status_code == status
    assert not Refund.objects.exists()


@pytest.mark.parametrize(("client", "status"), [("alice", 200), ("dana", 200), ("ada", 200), ("bob", 404)])
def test_refunds_are_listed_to_whoever_sees_the_payment(request, client, status, ada, paid, fake_gateway):
    ada.post(payment_url(paid, "refunds/"), {"amount": 5_000, "reason": "Goodwill"}, format="json")

    response = request.getfixturevalue(client).get(payment_url(paid, "refunds/"))

    assert response.status_code == status
    if status == 200:
        rows = data_of(response)["results"]
        assert [(row["amount"], row["status"]) for row in rows] == [(money(5_000), "pending")]
