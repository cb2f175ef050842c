"""Shapes of the payments API. Money is always an object ``{"amount": <int minor units>, "currency":
"INR"}``, never a float. Input serializers check types and formats; the rules are in
``payments.services`` (and, for now, ``payments.selectors``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analytics.params import WindowQuerySerializer
from clinical.consultations.serializers import AwareDateTimeField, UserRefSerializer
from clinical.models import Clinic, Consultation, Specialisation
from payments import analytics, selectors, services
from payments.models import (
    Coupon,
    CouponKind,
    CouponScope,
    GatewayName,
    LedgerKind,
    Payment,
    PayoutLedgerEntry,
    Refund,
)

CURRENCY_PATTERN = re.compile(r"[A-Za-z]{3}")
COUPON_CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{2,39}")
# The signed fields a client relays from Razorpay Checkout or PayU's return post: flat, short.
CALLBACK_MAX_FIELDS = 100
CALLBACK_MAX_VALUE = 4000


class MoneySerializer(serializers.Serializer):
    amount = serializers.IntegerField(help_text="Integer minor units (paise, cents); never a float.")
    currency = serializers.CharField(help_text="ISO 4217 code, e.g. INR.")


@extend_schema_field(MoneySerializer)
class MoneyField(serializers.Field):
    """An integer attribute of the object, with the object's ``currency``, as a money object."""

    def __init__(self, amount_attr: str, currency_attr: str = "currency", **kwargs: Any) -> None:
        self.amount_attr, self.currency_attr = amount_attr, currency_attr
        kwargs.update(source="*", read_only=True)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> dict[str, Any]:
        return {
            "amount": int(_lookup(value, self.amount_attr) or 0),
            "currency": str(_lookup(value, self.currency_attr)).upper(),
        }


def _lookup(obj: Any, path: str) -> Any:
    """``a.b`` of an object or a mapping."""
    for name in path.split("."):
        obj = obj[name] if isinstance(obj, Mapping) else getattr(obj, name)
    return obj


def _currency(value: str) -> str:
    if not CURRENCY_PATTERN.fullmatch(value):
        raise serializers.ValidationError("A three-letter ISO 4217 code, e.g. INR.")
    return value.upper()


# --- Payments --------------------------------------------------------------------------------------


class ConsultationRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Consultation
        fields = ["id", "type", "state", "scheduled_start"]
        read_only_fields = fields


class FeeSplitSerializer(serializers.Serializer):
    platform_fee = MoneySerializer()
    doctor_share = MoneySerializer()


class PaymentSerializer(serializers.ModelSerializer):
    """A payment as its patient, its doctor and staff see it. ``split`` (the platform's fee and the
    doctor's share) is shown to the doctor and staff only; the checkout's client data only in the
    answer to the request that starts the payment."""

    consultation = ConsultationRefSerializer(read_only=True)
    patient = UserRefSerializer(read_only=True)
    doctor = UserRefSerializer(read_only=True)
    price = MoneyField("list_amount", help_text="The consultation fee.")
    discount = MoneyField("discount_amount", help_text="Taken off by the coupon.")
    total = MoneyField("amount", help_text="What is charged: price less discount.")
    refunded = MoneyField("refunded_amount", help_text="Refunded so far.")
    refundable = serializers.SerializerMethodField(help_text="What may still be refunded (less pending).")
    coupon_code = serializers.CharField(source="coupon.code", read_only=True, allow_null=True, default=None)
    split = serializers.SerializerMethodField()

    class Meta:
        model = Payment
        fields = [
            "id",
            "consultation",
            "patient",
            "doctor",
            "gateway",
            "status",
            "price",
            "discount",
            "total",
            "refunded",
            "refundable",
            "coupon_code",
            "receipt_number",
            "reference",
            "provider_payment_id",
            "split",
            "created_at",
            "succeeded_at",
            "updated_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "reference": {"help_text": "The provider's id: PaymentIntent, Razorpay order, PayU txnid."},
            "receipt_number": {"help_text": "Set when the payment succeeds."},
        }

    @extend_schema_field(MoneySerializer)
    def get_refundable(self, payment: Payment) -> dict[str, Any]:
        pending = getattr(payment, "pending_refunds", None)
        if pending is None:
            pending = selectors.pending_refunds_of(payment)
        refundable = 0
        if payment.status in services.REFUNDABLE_STATUSES:
            refundable = max(payment.amount - payment.refunded_amount - pending, 0)
        return {"amount": refundable, "currency": payment.currency}

    @extend_schema_field(FeeSplitSerializer(allow_null=True))
    def get_split(self, payment: Payment) -> dict[str, Any] | None:
        viewer = self.context.get("viewer")
        if viewer is None or not (viewer.is_admin_role or viewer.pk == payment.doctor_id):
            return None
        return {
            "platform_fee": {"amount": payment.platform_fee, "currency": payment.currency},
            "doctor_share": {"amount": payment.doctor_share, "currency": payment.currency},
        }


class CheckoutSerializer(serializers.Serializer):
    gateway = serializers.CharField()
    reference = serializers.CharField(help_text="The provider's id for this payment.")
    amount = MoneySerializer()
    client_data = serializers.DictField(
        help_text=(
            "Handed to the provider's SDK as is. Stripe: client_secret, publishable_key; Razorpay: "
            "key_id, order_id, amount, currency; PayU: action (URL) and fields (the form to post). "
            "Empty for a free (fully discounted) booking."
        )
    )


class StartedPaymentSerializer(serializers.Serializer):
    payment = PaymentSerializer()
    checkout = CheckoutSerializer()


class StartPaymentSerializer(serializers.Serializer):
    consultation = serializers.UUIDField(help_text="The booking awaiting payment.")
    gateway = serializers.ChoiceField(
        choices=GatewayName.choices,
        required=False,
        allow_null=True,
        help_text="stripe, razorpay or payu (default: the server's PAYMENT_DEFAULT_GATEWAY). `free` is "
        "not chosen but given to a booking whose price comes to zero.",
    )
    coupon_code = serializers.CharField(max_length=40, required=False, allow_blank=True, allow_null=True)


class CallbackSerializer(serializers.Serializer):
    """The provider's signed callback fields, relayed by the client as the request body, flat:
    Razorpay Checkout's ``razorpay_order_id``, ``razorpay_payment_id``, ``razorpay_signature``;
    PayU's return post (``txnid``, ``status``, ``amount``, ``hash``, ...). Leave the body empty to
    have the server ask the provider (Stripe always does: nothing Stripe.js returns is signed)."""

    def to_internal_value(self, data: Any) -> dict[str, str]:
        if hasattr(data, "dict"):  # a form post (QueryDict): one value per field
            pairs = [(key, data.getlist(key)) for key in data]
            if any(len(values) != 1 for _, values in pairs):
                raise serializers.ValidationError({"non_field_errors": ["Each field once."]})
            data = {key: values[0] for key, values in pairs}
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                {"non_field_errors": ["Send the callback fields as an object."]}
            )
        if len(data) > CALLBACK_MAX_FIELDS:
            raise serializers.ValidationError(
                {"non_field_errors": [f"At most {CALLBACK_MAX_FIELDS} fields."]}
            )
        fields: dict[str, str] = {}
        errors: dict[str, list[str]] = {}
        for key, value in data.items():
            if isinstance(value, bool) or not isinstance(value, str | int):
                errors[str(key)] = ["A text value, as the provider sent it."]
            elif len(str(value)) > CALLBACK_MAX_VALUE:
                errors[str(key)] = [f"At most {CALLBACK_MAX_VALUE} characters."]
            else:
                fields[str(key)] = str(value)
        if errors:
            raise serializers.ValidationError(errors)
        return fields

    def to_representation(self, instance: Any) -> Any:
        return instance


# --- Refunds ---------------------------------------------------------------------------------------


class RefundSerializer(serializers.ModelSerializer):
    amount = MoneyField("amount", "payment.currency")
    payment = serializers.UUIDField(source="payment_id", read_only=True)
    requested_by = UserRefSerializer(read_only=True, allow_null=True, help_text="Empty: the system.")

    class Meta:
        model = Refund
        fields = [
            "id",
            "payment",
            "amount",
            "status",
            "reason",
            "failure_reason",
            "provider_refund_id",
            "requested_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RefundCreateSerializer(serializers.Serializer):
    amount = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="Minor units of the payment's currency. Default: everything still refundable.",
    )
    reason = serializers.CharField(
        max_length=500, help_text="Why: kept with the refund, shown to the patient."
    )


# --- Coupons ---------------------------------------------------------------------------------------


class CouponSerializer(serializers.ModelSerializer):
    """A coupon as staff manage it. ``value`` is a percentage (1-100) for ``percent`` coupons and
    minor units of ``currency`` for ``fixed`` ones; ``min_amount`` is minor units of ``currency``."""

    specialisation = serializers.PrimaryKeyRelatedField(
        queryset=Specialisation.objects.all(), required=False, allow_null=True
    )
    clinic = serializers.PrimaryKeyRelatedField(
        queryset=Clinic.objects.all(), required=False, allow_null=True
    )
    valid_from = AwareDateTimeField(required=False)
    valid_until = AwareDateTimeField(required=False, allow_null=True)
    currency = serializers.CharField(max_length=3, required=False, allow_blank=True)

    class Meta:
        model = Coupon
        fields = [
            "id",
            "code",
            "kind",
            "value",
            "currency",
            "valid_from",
            "valid_until",
            "max_uses",
            "max_uses_per_user",
            "uses",
            "min_amount",
            "scope",
            "specialisation",
            "clinic",
            "active",
            "created_at",
        ]
        read_only_fields = ["id", "uses", "created_at"]
        extra_kwargs = {
            "code": {"validators": []},  # checked case-insensitively below
            "min_amount": {"required": False},
            "scope": {"required": False},
            "active": {"required": False},
        }

    def validate_code(self, value: str) -> str:
        value = value.strip()
        if not COUPON_CODE_PATTERN.fullmatch(value):
            raise serializers.ValidationError(
                "3-40 letters, digits, '-' or '_', starting with a letter or digit."
            )
        taken = Coupon.objects.filter(code__iexact=value)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError("Another coupon has this code.")
        return value

    def validate_currency(self, value: str) -> str:
        return _currency(value) if value else ""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Cross-field rules, on the coupon as it will be after this change."""
        current = self.instance
        merged = {
            name: attrs[name] if name in attrs else getattr(current, name, None)
            for name in (
                "kind",
                "value",
                "currency",
                "min_amount",
                "scope",
                "specialisation",
                "clinic",
                "valid_from",
                "valid_until",
            )
        }
        scope = merged["scope"] or CouponScope.ALL
        errors: dict[str, str] = {}
        if merged["kind"] == CouponKind.PERCENT and not 1 <= (merged["value"] or 0) <= 100:
            errors["value"] = "A percentage from 1 to 100."
        if merged["kind"] == CouponKind.FIXED and not merged["currency"]:
            errors["currency"] = "A fixed coupon needs the currency of its value."
        if (merged["min_amount"] or 0) > 0 and not merged["currency"]:
            errors["currency"] = "A minimum amount needs its currency."
        if scope == CouponScope.SPECIALISATION and merged["specialisation"] is None:
            errors["specialisation"] = "Name the specialisation this coupon is for."
        if scope == CouponScope.CLINIC and merged["clinic"] is None:
            errors["clinic"] = "Name the clinic this coupon is for."
        if scope != CouponScope.SPECIALISATION and merged["specialisation"] is not None:
            errors["specialisation"] = "Only for scope=specialisation."
        if scope != CouponScope.CLINIC and merged["clinic"] is not None:
            errors["clinic"] = "Only for scope=clinic."
        if (
            merged["valid_until"] is not None
            and merged["valid_from"] is not None
            and merged["valid_until"] <= merged["valid_from"]
        ):
            errors["valid_until"] = "Must be after valid_from."
        if errors:
            raise serializers.ValidationError({name: [message] for name, message in errors.items()})
        return attrs


class CouponCheckSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=40)
    consultation = serializers.UUIDField(help_text="The booking awaiting payment.")


class CouponQuoteSerializer(serializers.Serializer):
    code = serializers.CharField(source="coupon.code")
    kind = serializers.CharField(source="coupon.kind", help_text="percent or fixed.")
    value = serializers.IntegerField(
        source="coupon.value", help_text="percent: 1-100; fixed: minor units of the price's currency."
    )
    price = MoneyField("price", help_text="The consultation fee.")
    discount = MoneyField("discount", help_text="What this coupon takes off now.")
    total = MoneyField("total", help_text="What you would pay.")


# --- Saved cards -----------------------------------------------------------------------------------


class SavedCardSerializer(serializers.Serializer):
    id = serializers.CharField(source="method_id", help_text="Stripe PaymentMethod id (pm_...).")
    brand = serializers.CharField()
    last4 = serializers.CharField()
    exp_month = serializers.IntegerField(allow_null=True)
    exp_year = serializers.IntegerField(allow_null=True)
    is_default = serializers.BooleanField()


# --- Earnings --------------------------------------------------------------------------------------


class EarningsQuerySerializer(serializers.Serializer):
    doctor = serializers.UUIDField(
        required=False, help_text="Staff: whose earnings (required). Doctors: yourself (may be left out)."
    )


class BalanceSerializer(serializers.Serializer):
    currency = serializers.CharField()
    balance = MoneyField("balance", help_text="What the platform owes the doctor (negative: the reverse).")
    earned = MoneyField("earned", help_text="Doctor's shares of succeeded payments.")
    refund_reversals = MoneyField("refund_reversals", help_text="Shares taken back by refunds (negative).")
    dispute_holds = MoneyField("dispute_holds", help_text="Held back for disputes (negative).")
    dispute_releases = MoneyField("dispute_releases", help_text="Given back when disputes were won.")
    adjustments = MoneyField("adjustments", help_text="Manual corrections by staff (signed).")
    entries = serializers.IntegerField(help_text="Ledger entries in this currency.")


class EarningsSerializer(serializers.Serializer):
    doctor = UserRefSerializer()
    balances = BalanceSerializer(many=True)


class LedgerEntrySerializer(serializers.ModelSerializer):
    amount = MoneyField("amount", help_text="Signed: positive credits the doctor.")
    payment = serializers.UUIDField(source="payment_id", read_only=True, allow_null=True)
    refund = serializers.UUIDField(source="refund_id", read_only=True, allow_null=True)
    dispute = serializers.IntegerField(source="dispute_id", read_only=True, allow_null=True)
    kind = serializers.ChoiceField(choices=LedgerKind.choices, read_only=True)

    class Meta:
        model = PayoutLedgerEntry
        fields = ["id", "kind", "amount", "payment", "refund", "dispute", "note", "created_at"]
        read_only_fields = fields


# --- Analytics -------------------------------------------------------------------------------------


class AnalyticsQuerySerializer(WindowQuerySerializer):
    currency = serializers.CharField(required=False, max_length=3, help_text="Only this currency.")
    limit = serializers.IntegerField(
        required=False, default=20, min_value=1, max_value=100, help_text="Rows in by_doctor and top coupons."
    )

    def validate_currency(self, value: str) -> str:
        return _currency(value)


class AnalyticsFiguresSerializer(serializers.Serializer):
    payments = serializers.IntegerField()
    gross = MoneySerializer(help_text="Sum of what was charged.")
    refunded = MoneySerializer(help_text="Refunded out of it so far.")
    net = MoneySerializer(help_text="gross - refunded.")


class AnalyticsPeriodSerializer(AnalyticsFiguresSerializer):
    period = serializers.DateField(help_text="The period's first day, in the report's time zone.")


class AnalyticsGatewaySerializer(AnalyticsFiguresSerializer):
    gateway = serializers.ChoiceField(choices=GatewayName.choices)


class AnalyticsDoctorRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class AnalyticsDoctorSerializer(AnalyticsFiguresSerializer):
    doctor = AnalyticsDoctorRefSerializer()
    doctor_shares = MoneySerializer()


class AnalyticsTotalsSerializer(serializers.Serializer):
    payments = serializers.IntegerField()
    gross = MoneySerializer()
    discounts = MoneySerializer()
    refunded = MoneySerializer()
    net = MoneySerializer()
    platform_fees = MoneySerializer()
    doctor_shares = MoneySerializer()


class AnalyticsRefundsSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Succeeded refunds of these payments.")
    amount = MoneySerializer()
    refunded_payments = serializers.IntegerField(help_text="Payments with any refund.")
    refund_rate = serializers.FloatField(help_text="refunded_payments / payments (0-1).")
    refunded_share = serializers.FloatField(help_text="refunded / gross (0-1).")


class AnalyticsDisputesSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    amount = MoneySerializer()
    open = serializers.IntegerField()
    lost = serializers.IntegerField()
    lost_amount = MoneySerializer()
    disputed_payments = serializers.IntegerField()
    dispute_rate = serializers.FloatField(help_text="disputed_payments / payments (0-1).")


class AnalyticsCouponSerializer(serializers.Serializer):
    code = serializers.CharField()
    redemptions = serializers.IntegerField()
    discount = MoneySerializer()


class AnalyticsCouponsSerializer(serializers.Serializer):
    payments_with_coupon = serializers.IntegerField()
    usage_rate = serializers.FloatField(help_text="payments_with_coupon / payments (0-1).")
    top = AnalyticsCouponSerializer(many=True)


class AnalyticsCurrencySerializer(serializers.Serializer):
    currency = serializers.CharField()
    totals = AnalyticsTotalsSerializer()
    refunds = AnalyticsRefundsSerializer()
    disputes = AnalyticsDisputesSerializer()
    series = AnalyticsPeriodSerializer(many=True, help_text="Every period of the window, empty ones too.")
    by_gateway = AnalyticsGatewaySerializer(many=True)
    by_doctor = AnalyticsDoctorSerializer(many=True)
    coupons = AnalyticsCouponsSerializer()


class AnalyticsSerializer(serializers.Serializer):
    time_zone = serializers.CharField()
    granularity = serializers.ChoiceField(choices=list(analytics.TRUNCATE))
    to = serializers.DateField()
    currencies = AnalyticsCurrencySerializer(many=True, help_text="One entry per currency, never mixed.")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = serializers.DateField()
        return fields


# --- Webhooks --------------------------------------------------------------------------------------


class WebhookOutcomeSerializer(serializers.Serializer):
    outcome = serializers.CharField(
        help_text=(
            "What became of the event: applied, already_applied, duplicate (delivered before), "
            "deferred, ignored, unknown_payment, refused_transition, refused_mismatch."
        )
    )


WEBHOOK_BODY = {"application/json": OpenApiTypes.OBJECT}
WEBHOOK_FORM_BODY = {"application/x-www-form-urlencoded": OpenApiTypes.OBJECT}
PDF_RESPONSE = {(200, "application/pdf"): OpenApiTypes.BINARY}
