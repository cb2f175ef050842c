"""Payments at /api/payments/: paying for a booking, confirming and cancelling a payment, receipts,
refunds, saved cards, coupons, the doctors' earnings, analytics, and the providers' webhooks.

Who sees a payment (``selectors.payments_visible_to``): its patient, its doctor (for their own
consultations), staff. To anyone else it does not exist (404, audited as ``denied``). What each of
them may do with it:

==================  ============================  ==========================  ====================
action              patient (its own)             doctor (its consultation)   staff
==================  ============================  ==========================  ====================
start               for their booking             -                           for any booking
read, refunds list  yes                           yes (no checkout data)      yes
verify              yes                           -                           yes
cancel              while pending                 -                           while pending
receipt PDF         once paid                     - (it carries the phone)    yes
refund              -                             -                           yes
==================  ============================  ==========================  ====================

Doctors do not refund, not even their own patients: a refund pays out the platform's money and
takes back the doctor's share, so it is a staff decision (a doctor asks support).

Audit: every read or change of another person's payment writes one audit entry (lists: one per
payment on the page, in one INSERT), every refusal one ``denied`` entry: payments name the
consultation, so they are health-adjacent data.

Money state changes only on the provider's verified word (``services.verify_and_confirm`` and the
webhooks); nothing a client sends marks a payment paid.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, mixins, viewsets
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import BaseRenderer
from rest_framework.views import APIView

from analytics.params import window_from_query
from clinical.consultations.selectors import patient_of
from payments import analytics, api_error_codes, error_codes, filters, selectors, services
from payments import serializers as s
from payments.gateways import get_gateway
from payments.gateways.base import GatewayError, WebhookError
from payments.models import Coupon, Payment, PayoutLedgerEntry, Refund
from payments.receipts import render_receipt_pdf
from telehealth.accounts.models import User
from telehealth.api.errors import ServiceError
from telehealth.api.permissions import IsAdmin, IsDoctor, IsPatient
from telehealth.api.renderers import EnvelopeJSONRenderer
from telehealth.api.responses import ok
from telehealth.api.throttling import AnalyticsRateThrottle, ScopedThrottle
from telehealth.audit.models import AuditAction
from telehealth.audit.services import audit_phi_access, audit_phi_reads
from telehealth.idempotency.drf import IDEMPOTENCY_KEY_HEADER, IdempotentPostMixin

logger = logging.getLogger("payments")

TAG = "payments"
RESOURCE = "payment"
# GatewayError codes of a relayed callback that is wrong, not a provider that is down.

_START_CONFLICT = OpenApiResponse(
    description="`PAYMENT_NOT_REQUIRED` (not awaiting payment), `PAYMENT_IN_PROGRESS` (another gateway "
    "or coupon is under way), `COUPON_EXHAUSTED`."
)
_GATEWAY_DOWN = OpenApiResponse(description="`GATEWAY_UNAVAILABLE`: the provider failed; try again.")


def _is_denial(exc: Exception) -> bool:
    return isinstance(exc, exceptions.PermissionDenied) or (
        isinstance(exc, ServiceError) and exc.status == 403
    )


class _PDFRenderer(BaseRenderer):
    """Lets ``Accept: application/pdf`` through content negotiation. The PDF itself leaves as a
    plain HttpResponse; errors still leave as the JSON envelope."""

    media_type = "application/pdf"
    format = "pdf"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, bytes):
            return data
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return EnvelopeJSONRenderer().render(data, "application/json", renderer_context)


class _PaymentScoped:
    """Finds the payment of the URL among those the caller may see, audits every access to it and
    every refusal."""

    payment: Payment | None = None
    kwargs: dict[str, Any]
    request: Any

    def audit(self, action: str, *, resource: str = RESOURCE) -> None:
        assert self.payment is not None
        audit_phi_access(
            self.request,
            subject_id=self.payment.patient_id,
            action=action,
            resource=resource,
            object_id=self.payment.pk,
        )

    def resolve_payment(self) -> Payment:
        pk = self.kwargs["pk"]
        payment = selectors.payment_detail(self.request.user, pk)
        if payment is None:
            owner = selectors.patient_of_payment(pk)
            if owner is not None:
                audit_phi_access(
                    self.request, subject_id=owner, action=AuditAction.DENIED, resource=RESOURCE, object_id=pk
                )
            raise exceptions.NotFound("No such payment.")
        self.payment = payment
        return payment

    def handle_exception(self, exc: Exception):
        if self.payment is not None and _is_denial(exc):
            self.audit(AuditAction.DENIED)
        return super().handle_exception(exc)  # type: ignore[misc]


class _UnderPayment(_PaymentScoped):
    """For routes nested under a payment: resolved right after authentication, before anything else
    (an Idempotency-Key is claimed only for a payment the caller may see)."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        self.resolve_payment()


def _consultation_or_404(request, consultation_id) -> Any:
    """The consultation named in a body, if the caller may see it. Someone else's answers exactly
    like an unknown one, and is audited."""
    consultation = selectors.consultation_for_payment(request.user, consultation_id)
    if consultation is None:
        owner = patient_of(consultation_id)
        if owner is not None:
            audit_phi_access(
                request,
                subject_id=owner.pk,
                action=AuditAction.DENIED,
                resource="consultation",
                object_id=consultation_id,
            )
        raise exceptions.NotFound("No such consultation among yours.")
    return consultation


def _checkout_data(checkout) -> dict[str, Any]:
    return {
        "gateway": checkout.gateway,
        "reference": checkout.reference,
        "amount": {"amount": checkout.amount, "currency": checkout.currency},
        "client_data": checkout.client_data,
    }


# --- Payments --------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Payments you may see: patients their own, doctors those for their consultations, staff all",
        description=(
            "`search` matches the receipt number and the provider's ids. Writes one audit entry per "
            "payment of someone else on the page."
        ),
    ),
    retrieve=extend_schema(
        summary="One payment",
        description="Its patient, its doctor and staff; anyone else 404. Audited when not your own.",
    ),
)
@extend_schema(tags=[TAG])
class PaymentViewSet(
    IdempotentPostMixin,
    _PaymentScoped,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [IsAuthenticated]
    serializer_class = s.PaymentSerializer
    filterset_class = filters.PaymentFilter
    search_fields = ["receipt_number", "reference", "provider_payment_id"]
    ordering_fields = ["created_at", "succeeded_at", "amount", "status"]
    ordering = ["-created_at", "id"]

    def get_permissions(self):
        if self.action == "create":
            return [(IsPatient | IsAdmin)()]
        return super().get_permissions()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Payment.objects.none()
        return selectors.payment_list(self.request.user)

    def get_object(self) -> Payment:
        return self.resolve_payment()

    def get_serializer_class(self):
        return {
            "create": s.StartPaymentSerializer,
            "verify": s.CallbackSerializer,
        }.get(self.action, s.PaymentSerializer)

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "viewer": self.request.user}

    def _render(self, payment: Payment) -> dict[str, Any]:
        fresh = selectors.payment_detail(self.request.user, payment.pk)
        return s.PaymentSerializer(fresh, context=self.get_serializer_context()).data

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        audit_phi_reads(request, [(p.patient_id, p.pk) for p in page], resource=RESOURCE)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        payment = self.get_object()
        self.audit(AuditAction.READ)
        return ok(self.get_serializer(payment).data)

    @extend_schema(
        summary="Pay for a booking awaiting payment (its patient; staff for any)",
        description=(
            "Opens the payment at the provider and returns what the app needs to pay (`checkout."
            "client_data`). Asking again for the same booking returns the same pending payment (200); "
            "a new one answers 201. A coupon is checked and one use taken at once. A booking whose "
            "price comes to zero is confirmed straight away (gateway `free`). The booking is confirmed "
            "only when the provider confirms the money (webhook or `verify/`). Refusals: "
            "`COUPON_INVALID` (400), `COUPON_EXHAUSTED`, `PAYMENT_NOT_REQUIRED`, `PAYMENT_IN_PROGRESS` "
            "(409), `GATEWAY_UNAVAILABLE` (502)."
        ),
        request=s.StartPaymentSerializer,
        responses={200: s.StartedPaymentSerializer, 201: s.StartedPaymentSerializer, 409: _START_CONFLICT},
    )
    def create(self, request, *args, **kwargs):
        serializer = s.StartPaymentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        consultation = _consultation_or_404(request, data["consultation"])
        now = timezone.now()
        payment, checkout = services.start_payment(
            request.user,
            consultation,
            gateway=data.get("gateway"),
            coupon_code=data.get("coupon_code"),
            now=now,
        )
        self.payment = payment
        created = payment.created_at == now
        self.audit(AuditAction.CREATE if created else AuditAction.READ)
        return ok(
            {"payment": self._render(payment), "checkout": _checkout_data(checkout)},
            message="Payment started." if created else "Payment under way.",
            status=201 if created else 200,
        )

    @extend_schema(
        summary="Confirm a payment with the provider after checkout (its patient, staff)",
        description=(
            "Send the provider's signed callback fields as the body, flat: Razorpay Checkout's "
            "`razorpay_order_id`, `razorpay_payment_id`, `razorpay_signature`; PayU's return post "
            "(`txnid`, `status`, `amount`, `hash`, ...). With an empty body the server asks the "
            "provider itself (Stripe always does). Only the provider's verified answer changes the "
            "payment; the answer is the payment as it is afterwards (it may still be `pending`). "
            "A callback that does not verify is `CALLBACK_INVALID` (400)."
        ),
        request={
            "application/json": OpenApiTypes.OBJECT,
            "application/x-www-form-urlencoded": OpenApiTypes.OBJECT,
        },
        responses={200: s.PaymentSerializer, 502: _GATEWAY_DOWN},
    )
    def verify(self, request, *args, **kwargs):
        payment = self.get_object()
        serializer = s.CallbackSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.validated_data or None
        payment = services.verify_and_confirm(request.user, payment, fields)
        self.audit(AuditAction.UPDATE)
        return ok(self._render(payment), message=f"Payment {payment.status}.")

    @extend_schema(
        summary="Cancel a pending payment (its patient; staff)",
        description=(
            "Gives up this attempt to pay: the booking stays awaiting payment (until it expires or is "
            "cancelled at /api/consultations/{id}/cancel/), so another payment may be started, say "
            "with another gateway; a coupon use is given back. If the provider has in fact taken the "
            "money, the payment is confirmed instead and the answer is `409 PAYMENT_NOT_CANCELLABLE`. "
            "Money that still arrives for a cancelled payment confirms the booking if nothing else "
            "paid for it, and is refunded in full otherwise."
        ),
        request=None,
        responses={200: s.PaymentSerializer, 409: OpenApiResponse(description="`PAYMENT_NOT_CANCELLABLE`.")},
    )
    def cancel(self, request, *args, **kwargs):
        payment = self.get_object()
        payment = services.cancel_payment(request.user, payment)
        self.audit(AuditAction.UPDATE)
        return ok(self._render(payment), message="Payment cancelled.")


@extend_schema(
    tags=[TAG],
    summary="The payment receipt as a PDF (its patient, staff)",
    description=(
        "For a payment that succeeded (also once refunded or disputed): line items, discount, total, "
        "refunds and the provider's payment id, times in the patient's time zone. Not for doctors: it "
        "carries the patient's phone number. Unpaid payments: `409 RECEIPT_NOT_AVAILABLE`. Audited."
    ),
    responses={**s.PDF_RESPONSE, 409: OpenApiResponse(description="`RECEIPT_NOT_AVAILABLE`.")},
)
class PaymentReceiptView(_PaymentScoped, APIView):
    permission_classes = [IsAuthenticated]
    renderer_classes = [EnvelopeJSONRenderer, _PDFRenderer]

    def get(self, request, pk):
        payment = self.resolve_payment()
        if request.user.pk != payment.patient_id and not request.user.is_admin_role:
            raise exceptions.PermissionDenied("Receipts are for the patient who paid, and staff.")
        if not selectors.has_receipt(payment):
            raise ServiceError(
                api_error_codes.RECEIPT_NOT_AVAILABLE,
                f"A {payment.status} payment has no receipt.",
                status=409,
                details={"status": payment.status},
            )
        content = render_receipt_pdf(selectors.receipt_data(payment))
        self.audit(AuditAction.DOWNLOAD)
        response = HttpResponse(content, content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="receipt-{payment.receipt_number}.pdf"'
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response


@extend_schema_view(
    get=extend_schema(
        summary="Refunds of a payment (whoever may see the payment)",
        description="Newest first. Audited when the payment is not your own.",
    ),
    post=extend_schema(
        summary="Refund a payment, in full or in part (staff)",
        description=(
            "Records a pending refund and pays it out through the provider in the background; its "
            "`status` turns `succeeded` (or `failed`) when the provider answers. `amount` defaults to "
            "everything still refundable. Send an `Idempotency-Key`: the same key never refunds twice. "
            "Doctors cannot refund, not even their own patients (a staff decision). Refusals: "
            "`REFUND_EXCEEDS_PAYMENT` (400), `PAYMENT_NOT_REFUNDABLE` (409)."
        ),
        request=s.RefundCreateSerializer,
        responses={
            201: s.RefundSerializer,
            409: OpenApiResponse(description="`PAYMENT_NOT_REFUNDABLE`, `IDEMPOTENCY_KEY_REUSED`."),
        },
    ),
)
@extend_schema(tags=[TAG])
class PaymentRefundsView(IdempotentPostMixin, _UnderPayment, generics.ListCreateAPIView):
    permission_classes = [IsAuthenticated]
    serializer_class = s.RefundSerializer
    filter_backends: list = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Refund.objects.none()
        return selectors.refunds_of(self.payment)

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        self.audit(AuditAction.READ)
        return response

    def create(self, request, *args, **kwargs):
        if not request.user.is_admin_role:
            raise exceptions.PermissionDenied("Only staff refund payments.")
        serializer = s.RefundCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # The service's own key makes a retry a replay even when the HTTP-level record is gone.
        header = request.headers.get(IDEMPOTENCY_KEY_HEADER)
        key = f"api:{request.user.pk}:{header}" if header else f"api:{uuid.uuid4()}"
        refund = services.refund_payment(
            request.user,
            self.payment,
            amount=serializer.validated_data.get("amount"),
            reason=serializer.validated_data["reason"],
            idempotency_key=key,
        )
        self.audit(AuditAction.CREATE, resource="refund")
        fresh = selectors.refunds_of(self.payment).get(pk=refund.pk)
        return ok(s.RefundSerializer(fresh).data, message="Refund requested.", status=201)


# --- Saved cards (Stripe) --------------------------------------------------------------------------


def _not_configured() -> ServiceError:
    return ServiceError(
        api_error_codes.STRIPE_NOT_CONFIGURED,
        "Saved cards need Stripe, which is not configured on this server.",
        details={"gateway": "stripe"},
    )


class _SavedCards(APIView):
    """A patient's own cards at Stripe, through their own Stripe customer: a card id of anyone
    else's is answered like an unknown one (404)."""

    permission_classes = [IsPatient]

    def stripe(self):
        try:
            gateway = get_gateway("stripe")
        except ImproperlyConfigured as error:
            raise _not_configured() from error
        if not hasattr(gateway, "list_payment_methods") or not getattr(gateway, "api_key", ""):
            raise _not_configured()
        return gateway

    def customer_or_404(self) -> str:
        customer_id = selectors.stripe_customer_id(self.request.user)
        if customer_id is None:
            raise exceptions.NotFound("No such saved card.")
        return customer_id

    def ask_stripe(self, call, *args):
        try:
            return call(*args)
        except GatewayError as error:
            if error.code == "NOT_YOUR_PAYMENT_METHOD":
                raise exceptions.NotFound("No such saved card.") from error
            if error.code == "GATEWAY_NOT_CONFIGURED":
                raise _not_configured() from error
            logger.warning("stripe saved cards: %s (%s)", error, error.code)
            raise ServiceError(
                error_codes.GATEWAY_UNAVAILABLE,
                "Stripe is not answering; please try again.",
                status=502,
                details={"gateway": "stripe", "retryable": error.retryable},
            ) from error


_CARD_ID = OpenApiParameter(
    "method_id", OpenApiTypes.STR, OpenApiParameter.PATH, description="The card's id (pm_...)."
)
_CARD_ERRORS = {
    400: OpenApiResponse(description="`STRIPE_NOT_CONFIGURED`."),
    502: _GATEWAY_DOWN,
}


@extend_schema(
    tags=[TAG],
    summary="Your saved cards (patients)",
    description=(
        "Cards saved with your Stripe customer, the default flagged. Without a Stripe customer (you "
        "never saved a card) the list is empty and Stripe is not asked; otherwise Stripe must be "
        "configured (`400 STRIPE_NOT_CONFIGURED`)."
    ),
    responses={200: s.SavedCardSerializer(many=True), **_CARD_ERRORS},
)
class PaymentMethodListView(_SavedCards):
    def get(self, request):
        customer_id = selectors.stripe_customer_id(request.user)
        if customer_id is None:
            return ok([])
        gateway = self.stripe()
        cards = self.ask_stripe(gateway.list_payment_methods, customer_id)
        return ok(s.SavedCardSerializer(cards, many=True).data)


@extend_schema(
    tags=[TAG],
    summary="Make one of your saved cards the default (patients)",
    parameters=[_CARD_ID],
    request=None,
    responses={200: s.SavedCardSerializer(many=True), **_CARD_ERRORS},
)
class PaymentMethodDefaultView(IdempotentPostMixin, _SavedCards):
    def post(self, request, method_id: str):
        customer_id = self.customer_or_404()
        gateway = self.stripe()
        self.ask_stripe(gateway.set_default_payment_method, customer_id, method_id)
        cards = self.ask_stripe(gateway.list_payment_methods, customer_id)
        return ok(s.SavedCardSerializer(cards, many=True).data, message="Default card changed.")


@extend_schema(
    tags=[TAG],
    summary="Remove one of your saved cards (patients)",
    parameters=[_CARD_ID],
    responses={200: s.SavedCardSerializer(many=True), **_CARD_ERRORS},
)
class PaymentMethodDetailView(_SavedCards):
    def delete(self, request, method_id: str):
        customer_id = self.customer_or_404()
        gateway = self.stripe()
        self.ask_stripe(gateway.detach_payment_method, customer_id, method_id)
        cards = self.ask_stripe(gateway.list_payment_methods, customer_id)
        return ok(s.SavedCardSerializer(cards, many=True).data, message="Card removed.")


# --- Coupons ---------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Coupons (staff)", description="`search` matches the code."),
    retrieve=extend_schema(summary="One coupon (staff)"),
    create=extend_schema(
        summary="Create a coupon (staff)",
        description="Codes are unique whatever the case. A code taken meanwhile is `409 CONFLICT`.",
        responses={201: s.CouponSerializer, 409: OpenApiResponse(description="`CONFLICT`.")},
    ),
    partial_update=extend_schema(
        summary="Change a coupon (staff)",
        description="Only the fields sent change; its use count never does. A code taken: `409 CONFLICT`.",
        responses={200: s.CouponSerializer, 409: OpenApiResponse(description="`CONFLICT`.")},
    ),
    destroy=extend_schema(
        summary="Deactivate a coupon (staff)",
        description="Coupons are never deleted (payments keep theirs): it stops being redeemable.",
        responses={200: s.CouponSerializer},
    ),
)
@extend_schema(tags=[TAG])
class CouponViewSet(
    IdempotentPostMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    permission_classes = [IsAdmin]
    serializer_class = s.CouponSerializer
    filterset_class = filters.CouponFilter
    search_fields = ["code"]
    ordering_fields = ["code", "created_at", "uses", "valid_until"]
    ordering = ["code", "id"]

    def get_permissions(self):
        if self.action == "check":
            return [(IsPatient | IsAdmin)()]
        return super().get_permissions()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Coupon.objects.none()
        return selectors.coupons()

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        coupon = services.create_coupon(request.user, **serializer.validated_data)
        return ok(self.get_serializer(coupon).data, message="Coupon created.", status=201)

    def partial_update(self, request, *args, **kwargs):
        coupon = self.get_object()
        serializer = self.get_serializer(coupon, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        coupon = services.update_coupon(request.user, coupon, **serializer.validated_data)
        return ok(self.get_serializer(coupon).data, message="Coupon updated.")

    def destroy(self, request, *args, **kwargs):
        coupon = services.deactivate_coupon(request.user, self.get_object())
        return ok(self.get_serializer(coupon).data, message="Coupon deactivated.")

    @extend_schema(
        summary="What a coupon would take off your booking (its patient; staff)",
        description=(
            "Checks the code against the booking awaiting payment by the same rules as paying, "
            "without using it up. `COUPON_INVALID` (400) says why not; `COUPON_EXHAUSTED`, "
            "`PAYMENT_NOT_REQUIRED` (409)."
        ),
        request=s.CouponCheckSerializer,
        responses={200: s.CouponQuoteSerializer, 409: OpenApiResponse(description="`COUPON_EXHAUSTED`.")},
    )
    def check(self, request, *args, **kwargs):
        serializer = s.CouponCheckSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        consultation = _consultation_or_404(request, serializer.validated_data["consultation"])
        quote = selectors.quote_coupon(request.user, consultation, serializer.validated_data["code"])
        return ok(s.CouponQuoteSerializer(quote).data)


# --- Doctors' earnings -----------------------------------------------------------------------------


class _DoctorScoped:
    """Whose earnings: a doctor their own (naming another doctor is refused), staff the doctor of
    ``?doctor=``."""

    request: Any

    def resolve_doctor(self) -> User:
        query = s.EarningsQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        wanted = query.validated_data.get("doctor")
        user = self.request.user
        if not user.is_admin_role:
            if wanted is not None and wanted != user.pk:
                raise exceptions.PermissionDenied("Doctors see their own earnings only.")
            return user
        if wanted is None:
            raise exceptions.ValidationError({"doctor": ["Say whose earnings: ?doctor=<user id>."]})
        doctor = selectors.doctor_by_id(wanted)
        if doctor is None:
            raise exceptions.NotFound("No such doctor.")
        return doctor


@extend_schema(
    tags=[TAG],
    summary="A doctor's balances per currency (the doctor; staff with ?doctor=)",
    description=(
        "Per currency: what the platform owes the doctor and what moved it (shares earned, taken back "
        "by refunds, held and released for disputes, adjustments). The entries themselves are at "
        "`earnings/entries/`."
    ),
    parameters=[s.EarningsQuerySerializer],
    responses={200: s.EarningsSerializer},
)
class EarningsView(_DoctorScoped, APIView):
    permission_classes = [IsDoctor | IsAdmin]

    def get(self, request):
        doctor = self.resolve_doctor()
        return ok(
            s.EarningsSerializer({"doctor": doctor, "balances": selectors.earnings_summary(doctor)}).data
        )


@extend_schema(
    tags=[TAG],
    summary="A doctor's ledger entries (the doctor; staff with ?doctor=)",
    description="Signed movements of the doctor's earnings, newest first. Append-only.",
    parameters=[s.EarningsQuerySerializer],
)
class EarningsEntriesView(_DoctorScoped, generics.ListAPIView):
    permission_classes = [IsDoctor | IsAdmin]
    serializer_class = s.LedgerEntrySerializer
    filterset_class = filters.LedgerEntryFilter
    search_fields = ["note"]
    ordering_fields = ["created_at", "amount"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PayoutLedgerEntry.objects.none()
        return selectors.ledger_of(self.resolve_doctor())


# --- Analytics -------------------------------------------------------------------------------------


@extend_schema(
    tags=[TAG],
    summary="Revenue, refunds, disputes and coupon usage per currency (staff)",
    description=(
        "About the payments that succeeded between `from` and `to` (calendar days, both included): "
        "totals, a series per day, week (from Monday) or month, and breakdowns by gateway, by doctor "
        "and by coupon, each per currency (amounts in different currencies are never added). Refund "
        "and dispute rates are those payments' own. Days are in the time zone `tz` if given, else "
        "your profile's time zone (UTC unless you set one); the answer says which. Defaults: the last "
        "30 days up to today. At most 366 days, 262 weeks or 120 months per answer."
    ),
    parameters=[s.AnalyticsQuerySerializer],
    responses={200: s.AnalyticsSerializer},
)
class AnalyticsView(APIView):
    permission_classes = [IsAdmin]
    throttle_classes = [AnalyticsRateThrottle]

    def get(self, request):
        query = s.AnalyticsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        window = window_from_query(request.user, data)
        report = analytics.revenue_report(window, currency=data.get("currency"), limit=data["limit"])
        return ok(s.AnalyticsSerializer(report).data)


# --- Webhooks --------------------------------------------------------------------------------------


class WebhookRateThrottle(ScopedThrottle):
    """Per sending IP, in its own budget so a burst of provider retries never eats the API's.
    ``THROTTLE_PAYMENT_WEBHOOKS`` sets the rate when the settings define it."""

    scope = "payment_webhooks"
    default_rate = "600/min"

    def get_rate(self) -> str | None:
        return super().get_rate() or self.default_rate

    def get_ident_key(self, request) -> str:
        return f"ip:{self.get_ident(request)}"


class _WebhookView(APIView):
    """The provider's signed notification, read from the raw body (the signature is over its exact
    bytes), verified, normalised and applied. Stored first under its event id, so a redelivery,
    even a concurrent one, changes nothing and answers 200 ``duplicate``. Refused events (illegal
    transitions, amount mismatches) are outcomes, answered 200 too: the provider must not retry
    what will never be accepted. Only an unverifiable body is a 400."""

    gateway_name: str
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [WebhookRateThrottle]

    def post(self, request):
        body = request.body
        try:
            event = get_gateway(self.gateway_name).parse_webhook(body=body, headers=dict(request.headers))
        except WebhookError as error:
            logger.warning("%s webhook refused: %s", self.gateway_name, error)
            raise ServiceError(
                api_error_codes.WEBHOOK_SIGNATURE_INVALID,
                "The webhook could not be verified.",
                details={"gateway": self.gateway_name, "reason": str(error)[:200]},
            ) from error
        outcome = services.apply_gateway_event(self.gateway_name, event)
        return ok({"outcome": str(outcome)}, message=f"Event {outcome}.")


def _webhook_schema(provider: str, signature: str, request: dict) -> Any:
    return extend_schema(
        tags=[TAG],
        summary=f"{provider} webhook (called by {provider}; no user authentication)",
        description=(
            f"Verified by its signature ({signature}) over the raw body; an unverifiable body is "
            "`400 WEBHOOK_SIGNATURE_INVALID`. Every verified event answers 200 with its outcome, "
            "`duplicate` for a redelivery. Throttled per IP in its own budget."
        ),
        auth=[],
        request=request,
        responses={
            200: s.WebhookOutcomeSerializer,
            400: OpenApiResponse(description="`WEBHOOK_SIGNATURE_INVALID`."),
        },
    )


@_webhook_schema("Stripe", "`Stripe-Signature`, with a timestamp tolerance", s.WEBHOOK_BODY)
class StripeWebhookView(_WebhookView):
    gateway_name = "stripe"


@_webhook_schema("Razorpay", "`X-Razorpay-Signature`, HMAC-SHA256 with the webhook secret", s.WEBHOOK_BODY)
class RazorpayWebhookView(_WebhookView):
    gateway_name = "razorpay"


@_webhook_schema("PayU", "the response hash with the merchant salt", s.WEBHOOK_FORM_BODY)
class PayUWebhookView(_WebhookView):
    gateway_name = "payu"
