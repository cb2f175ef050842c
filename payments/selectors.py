"""Reads of the payments API. Every query that returns payments starts from ``payments_visible_to``:
a patient sees their own payments, a doctor the payments for their consultations, staff all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from clinical.access import consultations_visible_to, is_staff
from clinical.models import Consultation, ConsultationState
from payments import error_codes, services
from payments.models import (
    PAID_STATUSES,
    Coupon,
    DoctorBalance,
    LedgerKind,
    Payment,
    PayoutLedgerEntry,
    Refund,
    RefundStatus,
    StripeCustomer,
)
from payments.receipts import ReceiptData
from telehealth.accounts.models import Role, User
from telehealth.api import error_codes as api_codes
from telehealth.api.errors import ServiceError

# --- Payments --------------------------------------------------------------------------------------


def payments_visible_to(user: User) -> QuerySet[Payment]:
    """Staff: every payment; a doctor: those for their consultations; anyone else: their own."""
    payments = Payment.objects.all()
    if is_staff(user):
        return payments
    if user.role == Role.DOCTOR:
        return payments.filter(doctor=user)
    return payments.filter(patient=user)


def _with_pending_refunds(payments: QuerySet[Payment]) -> QuerySet[Payment]:
    pending = (
        Refund.objects.filter(payment=OuterRef("pk"), status=RefundStatus.PENDING)
        .values("payment")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return payments.annotate(
        pending_refunds=Coalesce(Subquery(pending, output_field=IntegerField()), Value(0))
    )


def payment_list(user: User) -> QuerySet[Payment]:
    """The payments ``user`` may see, with everything the serializer shows, in one query."""
    return _with_pending_refunds(
        payments_visible_to(user).select_related("patient", "doctor", "consultation", "coupon")
    )


def payment_detail(user: User, payment_id: Any) -> Payment | None:
    """One payment if ``user`` may see it, else None (whether or not it exists)."""
    return payment_list(user).filter(pk=payment_id).first()


def patient_of_payment(payment_id: Any) -> Any | None:
    """Whose payment this is (their user id), for auditing a refused attempt; None if unknown."""
    return Payment.objects.filter(pk=payment_id).values_list("patient_id", flat=True).first()


def refunds_of(payment: Payment) -> QuerySet[Refund]:
    return Refund.objects.filter(payment=payment).select_related("payment", "requested_by")


def pending_refunds_of(payment: Payment) -> int:
    return payment.refunds.filter(status=RefundStatus.PENDING).aggregate(total=Sum("amount"))["total"] or 0


def receipt_data(payment: Payment) -> ReceiptData:
    """What the receipt PDF shows, from the models. The payment must have succeeded (it has a
    receipt number). Times are printed in the patient's time zone."""
    payment = Payment.objects.select_related(
        "patient", "doctor", "consultation", "consultation__clinic", "coupon"
    ).get(pk=payment.pk)
    consultation = payment.consultation
    patient, doctor = payment.patient, payment.doctor
    specialisations = ", ".join(
        doctor.doctor_profile.specialisations.order_by("name").values_list("name", flat=True)
        if hasattr(doctor, "doctor_profile")
        else []
    )
    return ReceiptData(
        receipt_number=payment.receipt_number or "",
        issued_at=payment.succeeded_at or payment.created_at,
        patient_name=patient.full_name or patient.phone,
        patient_phone=patient.phone,
        doctor_name=doctor.full_name or doctor.phone,
        doctor_specialisation=specialisations,
        consultation_id=str(consultation.pk),
        consultation_type=consultation.get_type_display(),
        consultation_start=consultation.scheduled_start,
        clinic_name=consultation.clinic.name if consultation.clinic_id else "",
        line_items=[("Consultation fee", payment.list_amount)],
        discount=payment.discount_amount,
        coupon_code=payment.coupon.code if payment.coupon_id else "",
        total=payment.amount,
        refunded_amount=payment.refunded_amount,
        currency=payment.currency,
        gateway=payment.get_gateway_display(),
        provider_payment_id=payment.provider_payment_id or payment.reference or "-",
        status=payment.status,
        time_zone=patient.timezone or "UTC",
    )


def has_receipt(payment: Payment) -> bool:
    return payment.status in PAID_STATUSES and bool(payment.receipt_number)


# --- Consultations and coupons ---------------------------------------------------------------------


def consultation_for_payment(user: User, consultation_id: Any) -> Consultation | None:
    """The consultation if ``user`` may see it (its patient, its doctor, staff), else None."""
    return consultations_visible_to(user).filter(pk=consultation_id).first()


def coupons() -> QuerySet[Coupon]:
    return Coupon.objects.select_related("specialisation", "clinic")


@dataclass(frozen=True)
class CouponQuote:
    coupon: Coupon
    currency: str
    price: int
    discount: int

    @property
    def total(self) -> int:
        return self.price - self.discount


def quote_coupon(
    actor: User, consultation: Consultation, code: str, *, now: datetime | None = None
) -> CouponQuote:
    """What ``code`` would take off the consultation's fee if its patient paid now, by the same
    rules as ``services.start_payment`` (which takes the use, under a lock); nothing is redeemed."""
    now = now or timezone.now()
    if actor.pk != consultation.patient_id and not is_staff(actor):
        raise ServiceError(
            api_codes.PERMISSION_DENIED, "Only the consultation's patient pays for it.", status=403
        )
    if consultation.state != ConsultationState.PENDING_PAYMENT:
        raise ServiceError(
            error_codes.PAYMENT_NOT_REQUIRED,
            f"A {consultation.state} consultation is not awaiting payment.",
            status=409,
            details={"state": consultation.state},
        )
    code = code.strip()
    coupon = Coupon.objects.filter(code__iexact=code).first()
    if coupon is None:
        raise ServiceError(error_codes.COUPON_INVALID, "No such coupon.", details={"coupon": code})
    # The validity rules themselves (active, dates, currency, minimum, scope) are the services'.
    services.check_coupon(coupon, consultation, now)
    exhausted = coupon.max_uses is not None and coupon.uses >= coupon.max_uses
    if not exhausted and coupon.max_uses_per_user is not None:
        exhausted = services.coupon_uses_by(coupon, consultation.patient_id) >= coupon.max_uses_per_user
    if exhausted:
        raise ServiceError(
            error_codes.COUPON_EXHAUSTED,
            "This coupon has been used up.",
            status=409,
            details={"coupon": code},
        )
    return CouponQuote(
        coupon=coupon,
        currency=consultation.fee_currency.upper(),
        price=consultation.fee_amount,
        discount=services.coupon_discount(coupon, consultation.fee_amount),
    )


# --- Doctors' earnings -----------------------------------------------------------------------------


def ledger_of(doctor: User) -> QuerySet[PayoutLedgerEntry]:
    return PayoutLedgerEntry.objects.filter(doctor=doctor)


def earnings_summary(doctor: User) -> list[dict[str, Any]]:
    """Per currency: the balance owed to the doctor and what moved it, by kind of entry (sums in
    the database). The balance is ``DoctorBalance``, kept in step with the entries by the services."""

    def total(kind: str) -> Coalesce:
        return Coalesce(Sum("amount", filter=Q(kind=kind)), Value(0))

    sums = {
        row["currency"]: row
        for row in ledger_of(doctor)
        .values("currency")
        .annotate(
            entries=Count("pk"),
            earned=total(LedgerKind.EARNING),
            refund_reversals=total(LedgerKind.REFUND_REVERSAL),
            dispute_holds=total(LedgerKind.DISPUTE_HOLD),
            dispute_releases=total(LedgerKind.DISPUTE_RELEASE),
            adjustments=total(LedgerKind.ADJUSTMENT),
        )
        .order_by("currency")
    }
    balances = dict(DoctorBalance.objects.filter(doctor=doctor).values_list("currency", "balance"))
    empty = dict.fromkeys(
        ["entries", "earned", "refund_reversals", "dispute_holds", "dispute_releases", "adjustments"], 0
    )
    return [
        {"currency": currency, "balance": balances.get(currency, 0), **empty, **sums.get(currency, {})}
        for currency in sorted(set(sums) | set(balances))
    ]


def doctor_by_id(doctor_id: Any) -> User | None:
    return User.objects.filter(pk=doctor_id, role=Role.DOCTOR).first()


# --- Saved cards -----------------------------------------------------------------------------------


def stripe_customer_id(user: User) -> str | None:
    return StripeCustomer.objects.filter(user=user).values_list("customer_id", flat=True).first()
