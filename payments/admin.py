"""Payments in the admin: read-only evidence, except coupons, which staff manage here.

Money state changes only through ``payments.services`` (gateway events, refunds), so payments,
refunds, disputes, events and the ledger cannot be edited or deleted by hand.
"""

from __future__ import annotations

from django.contrib import admin

from payments.models import (
    Coupon,
    CouponRedemption,
    Dispute,
    DoctorBalance,
    GatewayEvent,
    Payment,
    PayoutLedgerEntry,
    Refund,
    StripeCustomer,
)


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    can_delete = False
    fields = ("amount", "status", "provider_refund_id", "reason", "requested_by", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Payment)
class PaymentAdmin(_ReadOnly):
    list_display = (
        "id",
        "receipt_number",
        "consultation",
        "patient",
        "doctor",
        "gateway",
        "amount",
        "currency",
        "status",
        "created_at",
    )
    list_filter = ("status", "gateway", "currency")
    search_fields = ("id", "reference", "provider_payment_id", "receipt_number", "patient__phone")
    date_hierarchy = "created_at"
    list_select_related = ("patient", "doctor", "consultation")
    inlines = [RefundInline]


@admin.register(Refund)
class RefundAdmin(_ReadOnly):
    list_display = ("id", "payment", "amount", "status", "provider_refund_id", "created_at")
    list_filter = ("status",)
    search_fields = ("id", "provider_refund_id", "idempotency_key", "payment__id")


@admin.register(Dispute)
class DisputeAdmin(_ReadOnly):
    list_display = ("provider_dispute_id", "payment", "status", "amount", "held_amount", "opened_at")
    list_filter = ("status",)
    search_fields = ("provider_dispute_id", "payment__id")


@admin.register(GatewayEvent)
class GatewayEventAdmin(_ReadOnly):
    list_display = ("event_id", "gateway", "kind", "outcome", "payment", "received_at")
    list_filter = ("gateway", "kind", "outcome")
    search_fields = ("event_id", "payment__id")
    date_hierarchy = "received_at"


@admin.register(Coupon)
class CouponAdmin(admin.ModelAdmin):
    list_display = ("code", "kind", "value", "currency", "uses", "max_uses", "valid_until", "active")
    list_filter = ("active", "kind", "scope")
    search_fields = ("code",)
    readonly_fields = ("uses",)
    raw_id_fields = ("specialisation", "clinic")

    def has_delete_permission(self, request, obj=None) -> bool:
        # Redemptions point at it; deactivate instead.
        return False


@admin.register(CouponRedemption)
class CouponRedemptionAdmin(_ReadOnly):
    list_display = ("coupon", "user", "payment", "amount", "released", "created_at")
    list_filter = ("released",)


@admin.register(StripeCustomer)
class StripeCustomerAdmin(_ReadOnly):
    list_display = ("user", "customer_id", "created_at")
    search_fields = ("customer_id", "user__phone")


@admin.register(PayoutLedgerEntry)
class PayoutLedgerEntryAdmin(_ReadOnly):
    list_display = ("created_at", "doctor", "currency", "kind", "amount", "payment", "refund", "dispute")
    list_filter = ("kind", "currency")
    search_fields = ("doctor__phone", "payment__id")


@admin.register(DoctorBalance)
class DoctorBalanceAdmin(_ReadOnly):
    list_display = ("doctor", "currency", "balance", "updated_at")
    list_filter = ("currency",)
    search_fields = ("doctor__phone",)
