"""Payments for consultations: what was charged, refunded and disputed, and what each doctor has
earned. Money is always integer minor units plus an ISO-4217 currency code, never a float.

State lives here, never in the gateways; ``payments.services`` is the only writer.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

_USER = settings.AUTH_USER_MODEL


class GatewayName(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    RAZORPAY = "razorpay", "Razorpay"
    PAYU = "payu", "PayU"
    # Fully discounted: nothing to charge, no provider involved.
    FREE = "free", "No charge"


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    REFUNDED = "refunded", "Refunded"
    DISPUTED = "disputed", "Disputed"


# Money was (or may still be) taken: a consultation has at most one such payment.
LIVE_PAYMENT_STATUSES = frozenset(
    {
        PaymentStatus.PENDING,
        PaymentStatus.SUCCEEDED,
        PaymentStatus.PARTIALLY_REFUNDED,
        PaymentStatus.REFUNDED,
        PaymentStatus.DISPUTED,
    }
)
# The gateway confirmed the money at some point.
PAID_STATUSES = LIVE_PAYMENT_STATUSES - {PaymentStatus.PENDING}


class Payment(models.Model):
    """One attempt to pay for one consultation."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    consultation = models.ForeignKey(
        "clinical.Consultation", on_delete=models.PROTECT, related_name="payments"
    )
    patient = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="payments")
    doctor = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="payments_received")
    gateway = models.CharField(max_length=16, choices=GatewayName.choices)
    # The provider's id for the payment (PaymentIntent, Razorpay order, PayU txnid); blank until
    # the provider has created it.
    reference = models.CharField(max_length=255, blank=True)
    provider_payment_id = models.CharField(max_length=255, blank=True)
    list_amount = models.PositiveIntegerField(help_text="The consultation fee, in minor units")
    discount_amount = models.PositiveIntegerField(default=0)
    amount = models.PositiveIntegerField(help_text="What is charged: list_amount - discount_amount")
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING, db_index=True
    )
    # Paid after it was cancelled or failed, or when the booking was gone or paid another way: it
    # never pays for the booking and is refunded in full.
    late = models.BooleanField(default=False)
    # Where a dispute that is won sends the payment back to.
    status_before_dispute = models.CharField(max_length=20, choices=PaymentStatus.choices, blank=True)
    refunded_amount = models.PositiveIntegerField(default=0)
    coupon = models.ForeignKey(
        "payments.Coupon", on_delete=models.PROTECT, null=True, blank=True, related_name="payments"
    )
    receipt_number = models.CharField(max_length=32, unique=True, null=True, blank=True)
    platform_fee = models.PositiveIntegerField(default=0)
    doctor_share = models.PositiveIntegerField(default=0)
    # What the client needs to pay (client secret, order id, form fields), returned again when the
    # patient asks a second time instead of creating a second payment.
    checkout_data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one payment pays for a booking: pending or (partly refunded, disputed) paid.
            models.UniqueConstraint(
                fields=["consultation"],
                condition=models.Q(status__in=sorted(LIVE_PAYMENT_STATUSES), late=False),
                name="one_live_payment_per_consultation",
            ),
            models.UniqueConstraint(
                fields=["gateway", "reference"],
                condition=~models.Q(reference=""),
                name="payment_unique_gateway_reference",
            ),
            models.CheckConstraint(
                condition=models.Q(amount=models.F("list_amount") - models.F("discount_amount")),
                name="payment_amount_is_list_minus_discount",
            ),
            models.CheckConstraint(
                condition=models.Q(refunded_amount__lte=models.F("amount")),
                name="payment_refund_within_amount",
            ),
        ]
        indexes = [models.Index(fields=["gateway", "provider_payment_id"])]

    def __str__(self) -> str:
        return f"{self.amount} {self.currency} for {self.consultation_id} ({self.status})"

    @property
    def refundable_amount(self) -> int:
        return self.amount - self.refunded_amount


class ReceiptCounter(models.Model):
    """The last receipt number handed out in a year; its row lock makes numbering race-free."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class EventOutcome(models.TextChoices):
    RECEIVED = "received", "Received"  # stored, not yet applied (only inside the transaction)
    APPLIED = "applied", "Applied"
    ALREADY_APPLIED = "already_applied", "Already applied"  # another event said the same
    DUPLICATE = "duplicate", "Duplicate delivery"
    DEFERRED = "deferred", "Deferred until the payment succeeds"
    IGNORED = "ignored", "Ignored"
    UNKNOWN_PAYMENT = "unknown_payment", "No such payment"
    REFUSED_TRANSITION = "refused_transition", "Refused: illegal transition"
    REFUSED_MISMATCH = "refused_mismatch", "Refused: amount or currency differ"


class GatewayEvent(models.Model):
    """A webhook (or verification) as received, stored first: the dedupe key is (gateway, event_id)."""

    gateway = models.CharField(max_length=16, choices=GatewayName.choices)
    event_id = models.CharField(max_length=255)
    kind = models.CharField(max_length=32)
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(default=timezone.now)
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="gateway_events"
    )
    outcome = models.CharField(max_length=20, choices=EventOutcome.choices, default=EventOutcome.RECEIVED)
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["gateway", "event_id"], name="gateway_event_unique_id")
        ]
        indexes = [models.Index(fields=["payment", "outcome"])]

    def __str__(self) -> str:
        return f"{self.gateway} {self.kind} {self.event_id} ({self.outcome})"


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Refund(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    status = models.CharField(
        max_length=10, choices=RefundStatus.choices, default=RefundStatus.PENDING, db_index=True
    )
    provider_refund_id = models.CharField(max_length=255, blank=True)
    reason = models.CharField(max_length=500)
    failure_reason = models.CharField(max_length=500, blank=True)
    # Sent to the provider too: retrying the same refund never pays out twice.
    idempotency_key = models.CharField(max_length=255, unique=True)
    requested_by = models.ForeignKey(_USER, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["payment", "provider_refund_id"])]

    def __str__(self) -> str:
        return f"Refund {self.amount} of {self.payment_id} ({self.status})"


class DisputeStatus(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class Dispute(models.Model):
    """A chargeback. While open, the doctor's share of it is held back in the ledger."""

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="disputes")
    provider_dispute_id = models.CharField(max_length=255, unique=True)
    status = models.CharField(max_length=8, choices=DisputeStatus.choices, default=DisputeStatus.OPEN)
    provider_status = models.CharField(max_length=32, blank=True)
    amount = models.PositiveIntegerField()
    held_amount = models.PositiveIntegerField(default=0, help_text="Doctor's share held back")
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]

    def __str__(self) -> str:
        return f"Dispute {self.provider_dispute_id} ({self.status})"


class CouponKind(models.TextChoices):
    PERCENT = "percent", "Percent off"
    FIXED = "fixed", "Fixed amount off"


class CouponScope(models.TextChoices):
    ALL = "all", "Every consultation"
    SPECIALISATION = "specialisation", "Doctors of one specialisation"
    CLINIC = "clinic", "Consultations at one clinic"


class Coupon(models.Model):
    code = models.CharField(max_length=40, help_text="Unique whatever the case; patients type it")
    kind = models.CharField(max_length=8, choices=CouponKind.choices)
    value = models.PositiveIntegerField(
        help_text="percent: 1-100; fixed: minor units of currency", validators=[MinValueValidator(1)]
    )
    currency = models.CharField(
        max_length=3, blank=True, help_text="Required for fixed coupons and for a minimum amount"
    )
    valid_from = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField(null=True, blank=True)
    max_uses = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: unlimited")
    max_uses_per_user = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: unlimited")
    uses = models.PositiveIntegerField(default=0)
    min_amount = models.PositiveIntegerField(default=0, help_text="Smallest fee it applies to (minor units)")
    scope = models.CharField(max_length=16, choices=CouponScope.choices, default=CouponScope.ALL)
    specialisation = models.ForeignKey(
        "clinical.Specialisation", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    clinic = models.ForeignKey(
        "clinical.Clinic", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(Lower("code"), name="coupon_code_unique_ci"),
            models.CheckConstraint(
                condition=~models.Q(kind="percent") | models.Q(value__gte=1, value__lte=100),
                name="coupon_percent_1_to_100",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="fixed") | ~models.Q(currency=""),
                name="coupon_fixed_has_currency",
            ),
            models.CheckConstraint(
                condition=models.Q(min_amount=0) | ~models.Q(currency=""),
                name="coupon_min_amount_has_currency",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(scope="all", specialisation__isnull=True, clinic__isnull=True)
                    | models.Q(scope="specialisation", specialisation__isnull=False, clinic__isnull=True)
                    | models.Q(scope="clinic", clinic__isnull=False, specialisation__isnull=True)
                ),
                name="coupon_scope_matches_target",
            ),
            models.CheckConstraint(
                condition=models.Q(max_uses__isnull=True) | models.Q(uses__lte=models.F("max_uses")),
                name="coupon_uses_within_max",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class CouponRedemption(models.Model):
    """A use of a coupon by a patient for one payment. Released (the use given back) when the
    payment fails, is cancelled or expires."""

    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="redemptions")
    user = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="coupon_redemptions")
    payment = models.OneToOneField(Payment, on_delete=models.PROTECT, related_name="coupon_redemption")
    amount = models.PositiveIntegerField(help_text="The discount it gave, in minor units")
    released = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["coupon", "user", "released"])]

    def __str__(self) -> str:
        return f"{self.coupon} by {self.user_id}"


class StripeCustomer(models.Model):
    """A patient's Customer at Stripe (saved cards)."""

    user = models.OneToOneField(_USER, on_delete=models.CASCADE, related_name="stripe_customer")
    customer_id = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.customer_id


class LedgerKind(models.TextChoices):
    EARNING = "earning", "Earning"
    REFUND_REVERSAL = "refund_reversal", "Refund reversal"
    DISPUTE_HOLD = "dispute_hold", "Dispute hold"
    DISPUTE_RELEASE = "dispute_release", "Dispute release"
    ADJUSTMENT = "adjustment", "Adjustment"


class PayoutLedgerEntry(models.Model):
    """One signed movement of a doctor's earnings. Append-only; ``DoctorBalance`` is their sum,
    written in the same transaction."""

    doctor = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="ledger_entries")
    currency = models.CharField(max_length=3)
    kind = models.CharField(max_length=16, choices=LedgerKind.choices)
    amount = models.BigIntegerField(help_text="Signed, minor units")
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_entries"
    )
    refund = models.ForeignKey(
        Refund, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_entries"
    )
    dispute = models.ForeignKey(
        Dispute, on_delete=models.PROTECT, null=True, blank=True, related_name="ledger_entries"
    )
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name_plural = "payout ledger entries"
        indexes = [models.Index(fields=["doctor", "currency", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} {self.currency} for {self.doctor_id}"


class DoctorBalance(models.Model):
    doctor = models.ForeignKey(_USER, on_delete=models.PROTECT, related_name="balances")
    currency = models.CharField(max_length=3)
    balance = models.BigIntegerField(default=0, help_text="Signed, minor units")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["doctor", "currency"]
        constraints = [
            models.UniqueConstraint(fields=["doctor", "currency"], name="doctor_balance_unique_currency")
        ]

    def __str__(self) -> str:
        return f"{self.balance} {self.currency} for {self.doctor_id}"


__all__ = [
    "LIVE_PAYMENT_STATUSES",
    "PAID_STATUSES",
    "Coupon",
    "CouponKind",
    "CouponRedemption",
    "CouponScope",
    "Dispute",
    "DisputeStatus",
    "DoctorBalance",
    "EventOutcome",
    "GatewayEvent",
    "GatewayName",
    "LedgerKind",
    "Payment",
    "PaymentStatus",
    "PayoutLedgerEntry",
    "ReceiptCounter",
    "Refund",
    "RefundStatus",
    "StripeCustomer",
]
