"""The write path of payments: starting a payment, applying what the gateways tell us, refunds,
coupons, expiry, and the doctors' payout ledger.

Only a gateway's verified word moves money state (a signed webhook, a signed client callback or a
server-side fetch): never the client's say-so.

Payment states (anything not listed is refused and recorded as the event's outcome, never raised
to the webhook caller):

=====================  ==============================  =============================================
from                   event                           to (and what else happens)
=====================  ==============================  =============================================
pending                payment.succeeded               succeeded: amount and currency must match;
                                                       consultation pending_payment → scheduled,
                                                       platform fee and doctor share, receipt
                                                       number, ledger ``earning``
pending                payment.failed / .cancelled     failed / cancelled: consultation cancelled
                       (or expiry)                     (slot freed), coupon use given back
failed, cancelled      payment.succeeded (late)        succeeded; confirms the booking if it still
                                                       awaits payment (another pending attempt is
                                                       cancelled), else ``late``: refunded in full
succeeded, part. ref.  refund.succeeded                partially_refunded / refunded; ledger
                                                       ``refund_reversal`` (pro rata of the share)
succeeded, part. ref.  dispute.opened                  disputed; ledger ``dispute_hold``
disputed               dispute.closed (won)            the status before the dispute;
                                                       ledger ``dispute_release``
disputed               dispute.closed (lost)           refunded (the hold stays: the card holder
                                                       got the money back)
succeeded and after    payment.failed / .cancelled     refused
refunded               payment.succeeded, refunds      refused
=====================  ==============================  =============================================

Duplicates: every event is stored first under (gateway, event_id), in the transaction that applies
it; a second delivery, even a concurrent one, hits the unique constraint and changes nothing. An
unexpected error rolls the event back with everything else, so the provider's retry is applied.
The patient is notified (``telehealth.notifications.events``) when a charge succeeds and when a
refund goes through, inside the transaction that records it: a duplicate changes nothing, so it
notifies nobody, and a rolled-back event tells nobody either.

Out of order: refund and dispute events about a payment that has not succeeded yet are kept with
outcome ``deferred`` (as is a dispute's close before its opening) and replayed, in the order
received, right after the payment's next applied event. A refund that arrives before the success
therefore still ends as ``refunded``, with the earning and its reversal both in the ledger.

A booking is paid by at most one payment (a partial unique constraint over pending and paid
payments that are not ``late``); the patient may cancel an attempt (``cancel_payment``) and start
another while the booking waits.

Locks: the payment row is locked (``select_for_update``) before anything about it changes, then the
consultation (by clinical's transition function), then the receipt counter and the balance: always
in this order. Gateways are never called while a lock is held.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from clinical.access import is_staff
from clinical.consultations import services as consultations
from clinical.hooks import ConsultationVoided
from clinical.models import Consultation, ConsultationState, NoShowParty
from payments import error_codes
from payments.gateways import base, gateway_names, get_gateway
from payments.models import (
    LIVE_PAYMENT_STATUSES,
    PAID_STATUSES,
    Coupon,
    CouponKind,
    CouponRedemption,
    CouponScope,
    Dispute,
    DisputeStatus,
    DoctorBalance,
    EventOutcome,
    GatewayEvent,
    GatewayName,
    LedgerKind,
    Payment,
    PaymentStatus,
    PayoutLedgerEntry,
    ReceiptCounter,
    Refund,
    RefundStatus,
    StripeCustomer,
)
from telehealth.accounts.models import User
from telehealth.api import error_codes as api_codes
from telehealth.api.errors import ServiceError
from telehealth.notifications import events as notifications

logger = logging.getLogger("payments")

S = PaymentStatus
Outcome = EventOutcome
REFUNDABLE_STATUSES = frozenset({S.SUCCEEDED, S.PARTIALLY_REFUNDED})
# Provider dispute outcomes: the merchant keeps the money, or the card holder gets it back.
DISPUTE_WON = frozenset({"won", "warning_closed", "charge_refunded"})
DISPUTE_LOST = frozenset({"lost"})
SYSTEM_REFUND_REASONS = {
    "late": "Paid after the booking was cancelled or expired.",
    "cancelled": "Booking cancelled in time.",
    "doctor_no_show": "The doctor did not attend.",
}


# --- Errors and arithmetic -------------------------------------------------------------------------


def _error(code: str, message: str, *, status: int = 400, **details: Any) -> ServiceError:
    return ServiceError(code, message, status=status, details=details)


def _denied(message: str) -> ServiceError:
    return ServiceError(api_codes.PERMISSION_DENIED, message, status=403)


def _invalid(field: str, message: str) -> ServiceError:
    return ServiceError(
        api_codes.VALIDATION_ERROR, "The request contains invalid data.", details={field: [message]}
    )


def _div_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up, in integers (both non-negative)."""
    return (2 * numerator + denominator) // (2 * denominator)


def split_fee(amount: int, percent: Decimal) -> tuple[int, int]:
    """``(platform_fee, doctor_share)`` of ``amount``: the fee is ``percent`` of it, rounded half up
    to the minor unit, and the doctor gets the rest, so the two always add up to ``amount``."""
    numerator, denominator = percent.as_integer_ratio()
    fee = _div_half_up(amount * numerator, denominator * 100)
    return fee, amount - fee


def _share_of(payment: Payment, part: int) -> int:
    """The doctor's share of ``part`` of the payment (pro rata, rounded half up). Taken on running
    totals, so the reversals of several partial refunds add up exactly to the whole share."""
    if payment.amount == 0:
        return 0
    return _div_half_up(payment.doctor_share * part, payment.amount)


# --- Coupons ---------------------------------------------------------------------------------------


def coupon_discount(coupon: Coupon, list_amount: int) -> int:
    """What ``coupon`` takes off ``list_amount``: a percentage rounds down to the minor unit, a
    fixed amount never takes the price below zero."""
    if coupon.kind == CouponKind.PERCENT:
        return list_amount * coupon.value // 100
    return min(coupon.value, list_amount)


def _coupon_invalid(message: str, code: str) -> ServiceError:
    return _error(error_codes.COUPON_INVALID, message, coupon=code)


def check_coupon(coupon: Coupon, consultation: Consultation, now: datetime) -> None:
    """Can ``coupon`` be used for ``consultation`` at ``now``? Everything except the use counts
    (those are checked when a use is taken, under the coupon's row lock). Raises ``COUPON_INVALID``."""
    code = coupon.code
    if not coupon.active:
        raise _coupon_invalid("This coupon is no longer active.", code)
    if now < coupon.valid_from or (coupon.valid_until is not None and now > coupon.valid_until):
        raise _coupon_invalid("This coupon is not valid now.", code)
    if coupon.currency and coupon.currency.upper() != consultation.fee_currency.upper():
        raise _coupon_invalid(f"This coupon is for payments in {coupon.currency}.", code)
    if consultation.fee_amount < coupon.min_amount:
        raise _coupon_invalid("The fee is below this coupon's minimum.", code)
    if coupon.scope == CouponScope.CLINIC and consultation.clinic_id != coupon.clinic_id:
        raise _coupon_invalid("This coupon is for consultations at another clinic.", code)
    if (
        coupon.scope == CouponScope.SPECIALISATION
        and not Consultation.objects.filter(
            pk=consultation.pk, doctor__doctor_profile__specialisations=coupon.specialisation_id
        ).exists()
    ):
        raise _coupon_invalid("This coupon is for doctors of another specialisation.", code)


def coupon_uses_by(coupon: Coupon, patient_id: Any) -> int:
    """Uses of ``coupon`` the patient holds (released ones, from cancelled payments, don't count)."""
    return CouponRedemption.objects.filter(coupon=coupon, user_id=patient_id, released=False).count()


def _redeem_coupon(code: str, consultation: Consultation, now: datetime) -> tuple[Coupon, int]:
    """Take one use of the coupon for the consultation's patient. The coupon row is locked, so
    when two patients race for its last use, one gets it and the other ``COUPON_EXHAUSTED``."""
    coupon = Coupon.objects.select_for_update().filter(code__iexact=code.strip()).first()
    if coupon is None:
        raise _coupon_invalid("No such coupon.", code)
    check_coupon(coupon, consultation, now)
    per_user = coupon.max_uses_per_user
    if per_user is not None and coupon_uses_by(coupon, consultation.patient_id) >= per_user:
        raise _error(
            error_codes.COUPON_EXHAUSTED, "You have used this coupon already.", status=409, coupon=code
        )
    # Conditional even under the lock: the count can never pass max_uses, whatever the database.
    taken = (
        Coupon.objects.filter(pk=coupon.pk)
        .filter(Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses")))
        .update(uses=F("uses") + 1)
    )
    if not taken:
        raise _error(error_codes.COUPON_EXHAUSTED, "This coupon has been used up.", status=409, coupon=code)
    return coupon, coupon_discount(coupon, consultation.fee_amount)


_COUPON_FIELDS = frozenset(
    {
        "code",
        "kind",
        "value",
        "currency",
        "valid_from",
        "valid_until",
        "max_uses",
        "max_uses_per_user",
        "min_amount",
        "scope",
        "specialisation",
        "clinic",
        "active",
    }
)


def _code_taken(code: str) -> ServiceError:
    return ServiceError(
        api_codes.CONFLICT, "Another coupon has this code.", status=409, details={"code": code}
    )


def create_coupon(actor: User, **fields: Any) -> Coupon:
    """A new coupon (staff). The database constraints are the last word: a code taken meanwhile
    (in any case) is a 409, an inconsistent coupon an ``IntegrityError`` the caller's validation
    should have prevented."""
    if not is_staff(actor):
        raise _denied("Only staff manage coupons.")
    if unknown := set(fields) - _COUPON_FIELDS:
        raise ValueError(f"Not coupon fields: {sorted(unknown)}")
    if Coupon.objects.filter(code__iexact=fields.get("code", "")).exists():
        raise _code_taken(fields.get("code", ""))
    try:
        with transaction.atomic():
            return Coupon.objects.create(**fields)
    except IntegrityError as error:
        if Coupon.objects.filter(code__iexact=fields.get("code", "")).exists():
            raise _code_taken(fields.get("code", "")) from error
        raise


def update_coupon(actor: User, coupon: Coupon, **changes: Any) -> Coupon:
    """Change a coupon (staff). Only the changed columns are written, never ``uses``: a patient
    redeeming it at the same moment keeps their count."""
    if not is_staff(actor):
        raise _denied("Only staff manage coupons.")
    if unknown := set(changes) - _COUPON_FIELDS:
        raise ValueError(f"Not coupon fields: {sorted(unknown)}")
    if not changes:
        return coupon
    code = changes.get("code")
    if code is not None and Coupon.objects.filter(code__iexact=code).exclude(pk=coupon.pk).exists():
        raise _code_taken(code)
    for name, value in changes.items():
        setattr(coupon, name, value)
    try:
        with transaction.atomic():
            coupon.save(update_fields=sorted(changes))
    except IntegrityError as error:
        if code is not None and Coupon.objects.filter(code__iexact=code).exclude(pk=coupon.pk).exists():
            raise _code_taken(code) from error
        raise
    coupon.refresh_from_db()
    return coupon


def deactivate_coupon(actor: User, coupon: Coupon) -> Coupon:
    """Stop a coupon from being redeemed (staff). Coupons are never deleted: payments name them."""
    if not is_staff(actor):
        raise _denied("Only staff manage coupons.")
    Coupon.objects.filter(pk=coupon.pk).update(active=False)
    coupon.refresh_from_db()
    return coupon


def _release_coupon(payment: Payment) -> None:
    """Give the coupon use back (the payment never went through)."""
    released = CouponRedemption.objects.filter(payment=payment, released=False).update(released=True)
    if released:
        Coupon.objects.filter(pk=payment.coupon_id, uses__gt=0).update(uses=F("uses") - 1)


# --- Starting a payment ----------------------------------------------------------------------------


def start_payment(
    actor: User,
    consultation: Consultation,
    *,
    gateway: str | None = None,
    coupon_code: str | None = None,
    now: datetime | None = None,
) -> tuple[Payment, base.Checkout]:
    """Start (or resume) paying for a booking awaiting payment: its patient or staff. A coupon is
    checked and one use taken atomically. Asking again returns the same pending payment; a
    different gateway or coupon while one is under way is ``PAYMENT_IN_PROGRESS``. A booking whose
    price comes to zero is confirmed at once, with no gateway."""
    now = now or timezone.now()
    if actor.pk != consultation.patient_id and not is_staff(actor):
        raise _denied("Only the consultation's patient pays for it.")
    if gateway is not None and gateway not in gateway_names():
        raise _invalid("gateway", f"Choose one of {', '.join(gateway_names())}.")
    code = (coupon_code or "").strip() or None
    with transaction.atomic():
        # The consultation's row lock serialises payment starts for it.
        locked = Consultation.objects.select_for_update().get(pk=consultation.pk)
        if locked.state != ConsultationState.PENDING_PAYMENT:
            raise _error(
                error_codes.PAYMENT_NOT_REQUIRED,
                f"A {locked.state} consultation is not awaiting payment.",
                status=409,
                state=locked.state,
            )
        payment = (
            Payment.objects.filter(consultation=locked, status=S.PENDING).select_related("coupon").first()
        )
        if payment is not None:
            _require_same_request(payment, gateway, code)
        else:
            payment = _create_payment(locked, gateway or settings.PAYMENT_DEFAULT_GATEWAY, code, now)
    if payment.gateway == GatewayName.FREE:
        return payment, _checkout_of(payment)
    if payment.reference:
        return payment, _checkout_of(payment)
    return payment, _open_at_gateway(payment, now)


def _require_same_request(payment: Payment, gateway: str | None, code: str | None) -> None:
    same_gateway = gateway is None or gateway == payment.gateway
    same_coupon = code is None or (payment.coupon is not None and payment.coupon.code.lower() == code.lower())
    if not (same_gateway and same_coupon):
        raise _error(
            error_codes.PAYMENT_IN_PROGRESS,
            "A payment for this consultation is already under way; finish it or wait for it to expire.",
            status=409,
            payment=str(payment.pk),
            gateway=payment.gateway,
        )


def _create_payment(consultation: Consultation, gateway: str, code: str | None, now: datetime) -> Payment:
    coupon, discount = _redeem_coupon(code, consultation, now) if code else (None, 0)
    amount = consultation.fee_amount - discount
    payment = Payment.objects.create(
        consultation=consultation,
        patient_id=consultation.patient_id,
        doctor_id=consultation.doctor_id,
        gateway=GatewayName.FREE if amount == 0 else gateway,
        list_amount=consultation.fee_amount,
        discount_amount=discount,
        amount=amount,
        currency=consultation.fee_currency.upper(),
        coupon=coupon,
        created_at=now,
    )
    if coupon is not None:
        CouponRedemption.objects.create(
            coupon=coupon, user_id=consultation.patient_id, payment=payment, amount=discount, created_at=now
        )
    if amount == 0:  # nothing to charge: confirmed here and now
        _succeed(payment, provider_payment_id="", now=now)
    logger.info("payment %s started for consultation %s (%s)", payment.pk, consultation.pk, payment.gateway)
    return payment


def _open_at_gateway(payment: Payment, now: datetime) -> base.Checkout:
    """Create the payment at the provider (no lock held) and remember its reference. Two callers
    racing here both create one; the first to store its reference wins, the other's is never paid."""
    gateway = get_gateway(payment.gateway)
    patient = payment.patient
    try:
        customer = _stripe_customer(gateway, patient) if payment.gateway == GatewayName.STRIPE else None
        checkout = gateway.create_payment(
            amount=payment.amount,
            currency=payment.currency,
            payment_id=str(payment.pk),
            customer=customer,
            description=f"Consultation {payment.consultation_id}",
            payer={"name": patient.full_name, "email": patient.email, "phone": patient.phone},
        )
    except base.GatewayError as error:
        logger.warning("gateway %s could not create payment %s: %s", payment.gateway, payment.pk, error)
        raise _error(
            error_codes.GATEWAY_UNAVAILABLE,
            "The payment provider is not answering; please try again.",
            status=502,
            gateway=payment.gateway,
            retryable=error.retryable,
        ) from error
    stored = Payment.objects.filter(pk=payment.pk, status=S.PENDING, reference="").update(
        reference=checkout.reference, checkout_data=checkout.client_data, updated_at=now
    )
    payment.refresh_from_db()
    if stored:
        return checkout
    if payment.reference:
        return _checkout_of(payment)
    raise _error(  # it expired (and its booking with it) while the provider was answering
        error_codes.PAYMENT_NOT_REQUIRED,
        f"The payment is {payment.status}.",
        status=409,
        payment=str(payment.pk),
    )


def _stripe_customer(gateway: base.Gateway, patient: User) -> base.Customer | None:
    """One Stripe Customer per patient, made on their first Stripe payment, so the cards they save
    follow them. Stripe dedupes the create on the patient's id, so two first payments at once make
    one customer; the unique row keeps one mapping."""
    known = StripeCustomer.objects.filter(user_id=patient.pk).first()
    if known is not None:
        return base.Customer(known.customer_id)
    ensure_customer = getattr(gateway, "ensure_customer", None)  # Stripe only
    if ensure_customer is None:
        return None
    customer = ensure_customer(user_id=str(patient.pk), name=patient.full_name, phone=patient.phone)
    try:
        with transaction.atomic():
            StripeCustomer.objects.create(user_id=patient.pk, customer_id=customer.customer_id)
    except IntegrityError:
        return base.Customer(StripeCustomer.objects.get(user_id=patient.pk).customer_id)
    return customer


def cancel_payment(actor: User, payment: Payment, *, now: datetime | None = None) -> Payment:
    """The patient gives up this attempt to pay (to pay another way, or not at all): its patient or
    staff. The booking keeps waiting for payment until it expires or is cancelled, so another
    payment may be started, and the coupon use is given back. A payment the provider has in fact
    taken is confirmed instead (``PAYMENT_NOT_CANCELLABLE``); one that succeeds after this still
    confirms the booking if nothing else has paid for it, and is refunded otherwise."""
    now = now or timezone.now()
    if actor.pk != payment.patient_id and not is_staff(actor):
        raise _denied("Only the patient who pays may cancel the payment.")
    # Ask the provider first, with no lock held: money it took must not be cancelled.
    if payment.status == S.PENDING and payment.reference and _paid_after_all(payment):
        payment.refresh_from_db()
    with transaction.atomic():
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        if locked.status != S.PENDING:
            raise _error(
                error_codes.PAYMENT_NOT_CANCELLABLE,
                f"A {locked.status} payment cannot be cancelled.",
                status=409,
                payment=str(locked.pk),
                status_now=locked.status,
            )
        _void(locked, S.CANCELLED, now=now, cancel_booking=False)
    logger.info("payment %s cancelled by %s", locked.pk, actor.pk)
    return locked


def _checkout_of(payment: Payment) -> base.Checkout:
    return base.Checkout(
        gateway=payment.gateway,
        reference=payment.reference,
        amount=payment.amount,
        currency=payment.currency,
        client_data=dict(payment.checkout_data),
    )


# --- What the gateways tell us ---------------------------------------------------------------------


def apply_gateway_event(gateway_name: str, event: base.GatewayEvent, *, now: datetime | None = None) -> str:
    """Apply a verified, normalised webhook; returns its outcome (an ``EventOutcome``). Refusals
    are outcomes, not exceptions: the provider must not retry what we will never accept."""
    now = now or timezone.now()
    if not event.event_id:  # a provider without event ids: the content is the identity
        event = dataclasses.replace(event, event_id="sha256:" + _fingerprint(event))
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = GatewayEvent.objects.create(
                    gateway=gateway_name,
                    event_id=event.event_id[:255],
                    kind=event.kind[:32],
                    payload=_payload_of(event),
                    received_at=now,
                )
        except IntegrityError:  # delivered before (or right now, on another connection)
            logger.info("%s event %s is a duplicate", gateway_name, event.event_id)
            return Outcome.DUPLICATE
        payment = _payment_for_event(gateway_name, event)
        if payment is None:
            outcome = Outcome.IGNORED if event.kind == "ignored" else Outcome.UNKNOWN_PAYMENT
            _finish(record, None, outcome, "")
            return outcome
        outcome, detail = _apply(payment, event, now)
        _finish(record, payment, outcome, detail)
        if outcome == Outcome.APPLIED:
            _replay_deferred(payment, now)
    logger.info("%s event %s (%s): %s %s", gateway_name, event.event_id, event.kind, outcome, detail)
    return outcome


def confirm_from_verification(payment: Payment, verification: base.Verification) -> Payment:
    """Apply the gateway's verified word from a signed client callback (Razorpay, PayU) or a
    server-side fetch, through the same path as webhooks (and deduplicated like them)."""
    if not payment.reference or verification.reference != payment.reference:
        raise _error(
            error_codes.PAYMENT_MISMATCH,
            "The verification is about another payment.",
            payment=str(payment.pk),
        )
    kind = {
        "succeeded": "payment.succeeded",
        "failed": "payment.failed",
        "cancelled": "payment.cancelled",
    }.get(verification.status)
    if kind is not None:
        event_id = (
            f"verification:{verification.reference}:{verification.status}:{verification.provider_payment_id}"
        )
        event = base.GatewayEvent(
            event_id=event_id,
            kind=kind,
            reference=verification.reference,
            provider_payment_id=verification.provider_payment_id,
            amount=verification.amount,
            currency=verification.currency,
            raw=verification.raw,
        )
        apply_gateway_event(payment.gateway, event)
    payment.refresh_from_db()
    return payment


def verify_and_confirm(actor: User, payment: Payment, data: dict[str, Any] | None = None) -> Payment:
    """The client is back from the checkout: ask the gateway (checking the signed ``data`` the
    client relays, or fetching server side) and apply its answer. Its patient or staff."""
    if actor.pk != payment.patient_id and not is_staff(actor):
        raise _denied("Only the patient who pays may confirm the payment.")
    if payment.gateway == GatewayName.FREE or not payment.reference:
        return payment
    try:
        verification = get_gateway(payment.gateway).verify_payment(reference=payment.reference, data=data)
    except base.GatewayError as error:
        if error.code in base.BAD_CALLBACK_CODES:  # forged, garbled or misdirected: the client's error
            raise _error(
                error_codes.CALLBACK_INVALID,
                "The provider's callback could not be verified.",
                payment=str(payment.pk),
                reason=error.code,
            ) from error
        raise _error(
            error_codes.GATEWAY_UNAVAILABLE,
            "The payment provider could not confirm the payment; please try again.",
            status=502,
            gateway=payment.gateway,
            retryable=error.retryable,
        ) from error
    return confirm_from_verification(payment, verification)


def _fingerprint(event: base.GatewayEvent) -> str:
    fields = dataclasses.asdict(event)
    fields.pop("raw")
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def _payload_of(event: base.GatewayEvent) -> dict[str, Any]:
    return json.loads(json.dumps(dataclasses.asdict(event), default=str))


def _event_from_payload(payload: dict[str, Any]) -> base.GatewayEvent:
    names = {f.name for f in dataclasses.fields(base.GatewayEvent)}
    return base.GatewayEvent(**{k: v for k, v in payload.items() if k in names})


def _payment_for_event(gateway_name: str, event: base.GatewayEvent) -> Payment | None:
    """The payment the event is about, locked."""
    payments = Payment.objects.select_for_update().filter(gateway=gateway_name)
    if event.reference and (payment := payments.filter(reference=event.reference).first()):
        return payment
    if event.provider_payment_id:
        return payments.filter(provider_payment_id=event.provider_payment_id).first()
    return None


def _finish(record: GatewayEvent, payment: Payment | None, outcome: str, detail: str) -> None:
    record.payment = payment
    record.outcome = outcome
    record.detail = detail[:500]
    record.save(update_fields=["payment", "outcome", "detail"])


def _replay_deferred(payment: Payment, now: datetime) -> None:
    """Apply the events that were waiting for this payment, in the order they came, until none
    makes progress (a dispute's close may wait for its opening, which waited for the success)."""
    progressed = True
    while progressed:
        progressed = False
        for record in GatewayEvent.objects.filter(payment=payment, outcome=Outcome.DEFERRED).order_by(
            "received_at", "pk"
        ):
            outcome, detail = _apply(payment, _event_from_payload(record.payload), now)
            if outcome != Outcome.DEFERRED:
                _finish(record, payment, outcome, detail)
                progressed = True


Handler = Callable[[Payment, base.GatewayEvent, datetime], tuple[str, str]]


def _apply(payment: Payment, event: base.GatewayEvent, now: datetime) -> tuple[str, str]:
    handler = _HANDLERS.get(event.kind)
    if handler is None:
        return Outcome.IGNORED, f"kind {event.kind!r} is not acted on"
    if event.kind.startswith(("refund.", "dispute.")) and payment.status not in PAID_STATUSES:
        return Outcome.DEFERRED, f"waits for the {payment.status} payment to succeed"
    return handler(payment, event, now)


def _on_succeeded(payment: Payment, event: base.GatewayEvent, now: datetime) -> tuple[str, str]:
    if payment.status == S.SUCCEEDED:
        return Outcome.ALREADY_APPLIED, ""
    if payment.status in PAID_STATUSES:
        return Outcome.REFUSED_TRANSITION, f"a {payment.status} payment cannot succeed again"
    currency = (event.currency or payment.currency).upper()
    if (event.amount is not None and event.amount != payment.amount) or currency != payment.currency:
        logger.error(
            "payment %s: provider reports %s %s, expected %s %s",
            payment.pk,
            event.amount,
            event.currency,
            payment.amount,
            payment.currency,
        )
        return (
            Outcome.REFUSED_MISMATCH,
            f"got {event.amount} {event.currency}, expected {payment.amount} {payment.currency}",
        )
    _succeed(payment, provider_payment_id=event.provider_payment_id, now=now)
    return Outcome.APPLIED, ""


def _succeed(payment: Payment, *, provider_payment_id: str, now: datetime) -> None:
    """Record the money: fee split, receipt, earning, and confirm the booking with it. A payment
    that was cancelled or failed still confirms a booking that is awaiting payment (any other
    attempt under way is cancelled: the patient has paid); if the booking is gone, or paid by
    another payment, this one is ``late`` and refunded in full."""
    # Lock order everywhere: payment (then its siblings), consultation, receipt counter, balance.
    if payment.status != S.PENDING:
        _cancel_siblings(payment)
    confirmed = consultations.confirm_paid_booking(payment.consultation_id)
    payment.late = not confirmed
    fee, share = split_fee(payment.amount, settings.PLATFORM_FEE_PERCENT)
    payment.status = S.SUCCEEDED
    payment.succeeded_at = now
    payment.platform_fee, payment.doctor_share = fee, share
    payment.provider_payment_id = provider_payment_id or payment.provider_payment_id
    payment.receipt_number = _next_receipt_number(now)
    payment.save()
    _post(payment.doctor_id, payment.currency, LedgerKind.EARNING, share, payment=payment)
    if payment.amount > 0:  # a coupon that covers the fee: nothing was charged to tell about
        notifications.payment_succeeded(payment)
    if not confirmed:
        logger.warning("payment %s succeeded for a booking that is gone: refunding", payment.pk)
        if payment.amount > 0:
            _reserve_refund(
                payment,
                amount=None,
                reason=SYSTEM_REFUND_REASONS["late"],
                idempotency_key=f"late:{payment.pk}",
                actor=None,
            )


def _cancel_siblings(payment: Payment) -> None:
    """Before a cancelled or failed payment takes over its booking: cancel the other pending
    attempt (at most one), keeping the booking. If that one is paid too, it is late and refunded."""
    siblings = Payment.objects.select_for_update().filter(
        consultation_id=payment.consultation_id, status=S.PENDING, late=False
    )
    for sibling in siblings.exclude(pk=payment.pk).order_by("pk"):
        sibling.status = S.CANCELLED
        sibling.save(update_fields=["status", "updated_at"])
        _release_coupon(sibling)


def _next_receipt_number(now: datetime) -> str:
    """RCPT-<year>-<n>: numbered per year without gaps from rollbacks or races (the counter row is
    locked until the payment's transaction ends)."""
    year = now.year
    ReceiptCounter.objects.get_or_create(year=year)
    counter = ReceiptCounter.objects.select_for_update().get(year=year)
    counter.last += 1
    counter.save(update_fields=["last"])
    return f"RCPT-{year}-{counter.last:06d}"


def _void_handler(status: str) -> Handler:
    def handle(payment: Payment, event: base.GatewayEvent, now: datetime) -> tuple[str, str]:
        if payment.status == status:
            return Outcome.ALREADY_APPLIED, ""
        if payment.status in PAID_STATUSES:
            return Outcome.REFUSED_TRANSITION, f"a {payment.status} payment cannot become {status}"
        if payment.status != S.PENDING:
            return Outcome.IGNORED, f"the payment is already {payment.status}"
        _void(payment, status, now=now)
        return Outcome.APPLIED, ""

    return handle


def _void(payment: Payment, status: str, *, now: datetime, cancel_booking: bool = True) -> None:
    """A pending payment that will not be paid: give the coupon use back and free the slot."""
    payment.status = status
    payment.save(update_fields=["status", "updated_at"])
    _release_coupon(payment)
    if cancel_booking:
        reason = {
            S.FAILED: "Payment failed.",
            S.CANCELLED: "Payment cancelled or not completed in time.",
        }[status]
        consultations.cancel_unpaid_booking(payment.consultation_id, reason=reason, now=now)


def _on_refund_succeeded(payment: Payment, event: base.GatewayEvent, now: datetime) -> tuple[str, str]:
    refund = _match_refund(payment, event)
    if refund is not None and refund.status == RefundStatus.SUCCEEDED:
        return Outcome.ALREADY_APPLIED, ""
    if payment.status == S.REFUNDED:
        return Outcome.REFUSED_TRANSITION, "the payment is refunded in full already"
    if refund is None:  # made at the provider (its dashboard), not through us
        if not event.amount or event.amount <= 0:
            return Outcome.IGNORED, "a refund without an amount"
        if event.amount > payment.refundable_amount:
            return (
                Outcome.REFUSED_MISMATCH,
                f"refund of {event.amount} exceeds {payment.refundable_amount} left",
            )
        refund = Refund.objects.create(
            payment=payment,
            amount=event.amount,
            provider_refund_id=event.refund_id,
            reason="Refunded at the provider.",
            idempotency_key=f"{payment.gateway}:refund:{event.refund_id or event.event_id}",
            created_at=now,
        )
    elif refund.amount > payment.refundable_amount:
        return Outcome.REFUSED_MISMATCH, f"refund of {refund.amount} exceeds {payment.refundable_amount} left"
    if event.refund_id and not refund.provider_refund_id:
        refund.provider_refund_id = event.refund_id
    _apply_refund(payment, refund)
    return Outcome.APPLIED, ""


def _on_refund_failed(payment: Payment, event: base.GatewayEvent, now: datetime) -> tuple[str, str]:
    refund = _match_refund(payment, event)
    if refund is None:
        return Outcome.IGNORED, "no such refund"
    if refund.status == RefundStatus.FAILED:
        return Outcome.ALREADY_APPLIED, ""
    if refund.status == RefundStatus.SUCCEEDED:
        logger.error("refund %s reported failed after it succeeded: reconcile by hand", refund.pk)
        return Outcome.REFUSED_TRANSITION, "a succeeded refund cannot fail"
    refund.status = RefundStatus.FAILED
    refund.failure_reason = "The provider reported the refund failed."
    refund.provider_refund_id = refund.provider_refund_id or event.refund_id
    refund.save()
    return Outcome.APPLIED, ""


def _match_refund(payment: Payment, event: base.GatewayEvent) -> Refund | None:
    """Our refund the event is about: by the provider's id, or else our oldest pending refund of
    that amount whose gateway call has not stored the id yet (the webhook overtook it)."""
    refunds = payment.refunds.all()
    if event.refund_id and (refund := refunds.filter(provider_refund_id=event.refund_id).first()):
        return refund
    if event.amount is None:  # nothing to tell our pending refunds apart by
        return None
    candidates = refunds.filter(status=RefundStatus.PENDING, provider_refund_id="", amount=event.amount)
    return candidates.order_by("created_at", "pk").first()


def _apply_refund(payment: Payment, refund: Refund) -> None:
    """The refund went through: count it, take the doctor's share of it back, tell the patient."""
    before = payment.refunded_amount
    payment.refunded_amount = before + refund.amount
    status = S.REFUNDED if payment.refunded_amount == payment.amount else S.PARTIALLY_REFUNDED
    if payment.status == S.DISPUTED:
        payment.status_before_dispute = status
    else:
        payment.status = status
    payment.save()
    refund.status = RefundStatus.SUCCEEDED
    refund.save()
    reversal = _share_of(payment, payment.refunded_amount) - _share_of(payment, before)
    _post(
        payment.doctor_id,
        payment.currency,
        LedgerKind.REFUND_REVERSAL,
        -reversal,
        payment=payment,
        refund=refund,
    )
    notifications.payment_refunded(payment, refund)


def _on_dispute_opened(payment: Payment, event: base.GatewayEvent, now: datetime) -> tuple[str, str]:
    if not event.dispute_id:
        return Outcome.IGNORED, "a dispute without an id"
    if Dispute.objects.filter(provider_dispute_id=event.dispute_id).exists():
        return Outcome.ALREADY_APPLIED, ""
    if payment.status not in REFUNDABLE_STATUSES:
        return Outcome.REFUSED_TRANSITION, f"a {payment.status} payment cannot be disputed"
    left = payment.refundable_amount
    amount = min(event.amount, left) if event.amount else left
    # Hold back the doctor's share of the disputed money, but never more than they still have.
    outstanding = payment.doctor_share - _share_of(payment, payment.refunded_amount)
    hold = min(_share_of(payment, amount), outstanding)
    dispute = Dispute.objects.create(
        payment=payment,
        provider_dispute_id=event.dispute_id,
        provider_status=event.dispute_status[:32],
        amount=amount,
        held_amount=hold,
        opened_at=now,
    )
    payment.status_before_dispute = payment.status
    payment.status = S.DISPUTED
    payment.save()
    _post(
        payment.doctor_id, payment.currency, LedgerKind.DISPUTE_HOLD, -hold, payment=payment, dispute=dispute
    )
    return Outcome.APPLIED, ""


def _on_dispute_closed(payment: Payment, event: base.GatewayEvent, now: datetime) -> tuple[str, str]:
    dispute = Dispute.objects.filter(payment=payment, provider_dispute_id=event.dispute_id).first()
    if dispute is None:
        return Outcome.DEFERRED, "waits for the dispute to be opened"
    if dispute.status != DisputeStatus.OPEN:
        return Outcome.ALREADY_APPLIED, ""
    result = event.dispute_status.lower()
    if result not in DISPUTE_WON | DISPUTE_LOST:
        return Outcome.IGNORED, f"unknown dispute outcome {event.dispute_status!r}"
    won = result in DISPUTE_WON
    dispute.status = DisputeStatus.WON if won else DisputeStatus.LOST
    dispute.provider_status = result[:32]
    dispute.closed_at = now
    dispute.save()
    if won:
        payment.status = payment.status_before_dispute or S.SUCCEEDED
        _post(
            payment.doctor_id,
            payment.currency,
            LedgerKind.DISPUTE_RELEASE,
            dispute.held_amount,
            payment=payment,
            dispute=dispute,
        )
    else:  # the card holder has the money back; the held share stays taken
        payment.status = S.REFUNDED
    payment.status_before_dispute = ""
    payment.save()
    return Outcome.APPLIED, ""


_HANDLERS: dict[str, Handler] = {
    "payment.succeeded": _on_succeeded,
    "payment.failed": _void_handler(S.FAILED),
    "payment.cancelled": _void_handler(S.CANCELLED),
    "refund.succeeded": _on_refund_succeeded,
    "refund.failed": _on_refund_failed,
    "dispute.opened": _on_dispute_opened,
    "dispute.closed": _on_dispute_closed,
}


# --- Refunds ---------------------------------------------------------------------------------------


def refund_payment(
    actor: User | None,
    payment: Payment,
    *,
    amount: int | None = None,
    reason: str,
    idempotency_key: str,
) -> Refund:
    """Refund ``amount`` (default: everything left) of a paid payment: staff, or the system
    (``actor`` None). Records a pending refund and hands it to the ``process_refund`` task after
    commit. The same ``idempotency_key`` returns the same refund instead of paying out twice."""
    if actor is not None and not is_staff(actor):
        raise _denied("Only staff refund payments.")
    if not idempotency_key.strip():
        raise _invalid("idempotency_key", "Send a key that identifies this refund request.")
    if amount is not None and amount <= 0:
        raise _invalid("amount", "A refund is a positive amount in minor units.")
    if existing := _refund_by_key(idempotency_key, payment):
        return existing
    with transaction.atomic():
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        refund = _reserve_refund(
            locked, amount=amount, reason=reason, idempotency_key=idempotency_key, actor=actor
        )
    return refund


def _refund_by_key(idempotency_key: str, payment: Payment) -> Refund | None:
    refund = Refund.objects.filter(idempotency_key=idempotency_key).first()
    if refund is not None and refund.payment_id != payment.pk:
        raise _error(
            error_codes.IDEMPOTENCY_KEY_REUSED,
            "This idempotency key belongs to a refund of another payment.",
            status=409,
            idempotency_key=idempotency_key,
        )
    return refund


def refundable_now(payment: Payment) -> int:
    """What may still be asked back: the amount less what is refunded or being refunded."""
    pending = payment.refunds.filter(status=RefundStatus.PENDING).aggregate(total=Sum("amount"))["total"]
    return payment.amount - payment.refunded_amount - (pending or 0)


def _reserve_refund(
    payment: Payment, *, amount: int | None, reason: str, idempotency_key: str, actor: User | None
) -> Refund:
    """Create the pending refund (the payment row is locked by the caller) and queue it."""
    if payment.status not in REFUNDABLE_STATUSES:
        raise _error(
            error_codes.PAYMENT_NOT_REFUNDABLE,
            f"A {payment.status} payment cannot be refunded.",
            status=409,
            status_now=payment.status,
        )
    refundable = refundable_now(payment)
    amount = refundable if amount is None else amount
    if amount <= 0 or amount > refundable:
        raise _error(
            error_codes.REFUND_EXCEEDS_PAYMENT,
            f"At most {refundable} {payment.currency} can be refunded.",
            refundable=refundable,
            currency=payment.currency,
        )
    try:
        with transaction.atomic():
            refund = Refund.objects.create(
                payment=payment,
                amount=amount,
                reason=reason[:500],
                idempotency_key=idempotency_key,
                requested_by=actor,
            )
    except IntegrityError:  # the same request raced us on another connection
        existing = _refund_by_key(idempotency_key, payment)
        if existing is None:
            raise
        return existing
    refund_id = str(refund.pk)

    def enqueue() -> None:
        from payments.tasks import process_refund

        try:
            process_refund.delay(refund_id)
        except Exception:  # broker down (or an eager run that wants a retry): the sweeper requeues it
            logger.exception("refund %s could not be queued now", refund_id)

    transaction.on_commit(enqueue)
    logger.info("refund %s of %s %s queued for payment %s", refund.pk, amount, payment.currency, payment.pk)
    return refund


def execute_refund(refund_id: str) -> str:
    """Ask the provider to pay the refund back (``process_refund``'s body). Idempotent: a refund
    that is no longer pending is left alone, and the provider sees the refund's own idempotency
    key on every try. Raises ``GatewayError`` for the task to retry."""
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.status != RefundStatus.PENDING:
        return "skipped"
    payment = refund.payment
    result = get_gateway(payment.gateway).refund(
        reference=payment.reference,
        provider_payment_id=payment.provider_payment_id,
        amount=refund.amount,
        currency=payment.currency,
        idempotency_key=refund.idempotency_key,
    )
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        refund = Refund.objects.get(pk=refund_id)
        if refund.status != RefundStatus.PENDING:  # a webhook got here first
            return "skipped"
        if result.refund_id and payment.refunds.filter(provider_refund_id=result.refund_id).exists():
            # A webhook matched this provider refund to a sibling of the same amount; that
            # sibling's own refund will be matched to this one the same way.
            return "skipped"
        refund.provider_refund_id = result.refund_id
        if result.status == "succeeded":
            if refund.amount > payment.refundable_amount:
                logger.error("refund %s exceeds what is left of payment %s", refund.pk, payment.pk)
                refund.save(update_fields=["provider_refund_id", "updated_at"])
                return "refused"
            _apply_refund(payment, refund)
        elif result.status == "failed":
            refund.status = RefundStatus.FAILED
            refund.failure_reason = "The provider refused the refund."
            refund.save()
        else:  # pending at the provider: its webhook finishes the job
            refund.save(update_fields=["provider_refund_id", "updated_at"])
    logger.info("refund %s: provider says %s", refund.pk, result.status)
    return result.status


def stale_refund_ids(
    now: datetime | None = None, *, older_than: timedelta = timedelta(minutes=30)
) -> list[str]:
    """Refunds still waiting for their first answer from the provider well after they were asked
    for: their task was lost (broker down, worker killed). Safe to queue again: same key."""
    now = now or timezone.now()
    stale = Refund.objects.filter(
        status=RefundStatus.PENDING, provider_refund_id="", created_at__lt=now - older_than
    )
    return [str(pk) for pk in stale.values_list("pk", flat=True)[:500]]


def fail_refund(refund_id: str, reason: str) -> None:
    """Give up on a refund the provider would not take (the amount can be refunded again)."""
    with transaction.atomic():
        refund = Refund.objects.select_related("payment").get(pk=refund_id)
        Payment.objects.select_for_update().get(pk=refund.payment_id)
        refund.refresh_from_db()
        if refund.status == RefundStatus.PENDING:
            refund.status = RefundStatus.FAILED
            refund.failure_reason = reason[:500]
            refund.save()
            logger.error("refund %s failed: %s", refund_id, reason)


# --- When a booking is called off (clinical.hooks) -------------------------------------------------


def payment_for_consultation(consultation: Consultation) -> Payment | None:
    """The live payment that paid for this booking; a rescheduled booking's payment stays on the
    booking it was made for, so follow the chain back."""
    seen: set = set()
    current: Consultation | None = consultation
    while current is not None and current.pk not in seen:
        payment = Payment.objects.filter(
            consultation=current, status__in=LIVE_PAYMENT_STATUSES, late=False
        ).first()
        if payment is not None:
            return payment
        seen.add(current.pk)
        current = current.rescheduled_from
    return None


def refund_due(event: ConsultationVoided, consultation: Consultation) -> str | None:
    """The cancellation policy: which reason (a ``SYSTEM_REFUND_REASONS`` key) refunds in full, or
    None. Cancelled in time (the clinical cut-off) or by the doctor: refund. A doctor no-show:
    refund. A patient no-show, or staff cancelling after the cut-off: no automatic refund."""
    if event.state == ConsultationState.CANCELLED:
        by_doctor = event.actor_id is not None and event.actor_id == str(consultation.doctor_id)
        return "cancelled" if event.inside_change_window or by_doctor else None
    if event.state == ConsultationState.NO_SHOW and event.no_show_party == NoShowParty.DOCTOR:
        return "doctor_no_show"
    return None


def handle_consultation_voided(event: ConsultationVoided) -> None:
    """Registered with ``clinical.hooks``: a cancelled unpaid booking cancels its pending payment;
    a cancelled or no-show paid booking is refunded in full when ``refund_due`` says so."""
    consultation = Consultation.objects.get(pk=event.consultation_id)
    payment = payment_for_consultation(consultation)
    if payment is None:
        return
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.status == S.PENDING:
            _void(payment, S.CANCELLED, now=event.at, cancel_booking=False)
            logger.info("payment %s cancelled with its booking", payment.pk)
            return
        why = refund_due(event, consultation)
        if why is None or payment.status not in REFUNDABLE_STATUSES or refundable_now(payment) <= 0:
            return
        _reserve_refund(
            payment,
            amount=None,
            reason=SYSTEM_REFUND_REASONS[why],
            idempotency_key=f"void:{event.consultation_id}",
            actor=None,
        )


# --- Expiry ----------------------------------------------------------------------------------------


def expire_pending_payments(now: datetime | None = None) -> int:
    """Cancel payments pending longer than ``PAYMENT_PENDING_EXPIRY_MINUTES`` (and bookings that
    never started paying), freeing their slots. A payment with a provider reference is first
    checked with the provider, so a success whose webhook was lost is confirmed, not cancelled.
    Returns how many bookings were let go."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.PAYMENT_PENDING_EXPIRY_MINUTES)
    expired = 0
    stale = Payment.objects.filter(status=S.PENDING, created_at__lt=cutoff).order_by("created_at")
    for payment in stale[:1000]:
        if payment.reference and _paid_after_all(payment):
            continue
        with transaction.atomic():
            locked = Payment.objects.select_for_update().get(pk=payment.pk)
            if locked.status != S.PENDING:
                continue
            _void(locked, S.CANCELLED, now=now)
            expired += 1
    never_paid = (
        Consultation.objects.filter(state=ConsultationState.PENDING_PAYMENT, created_at__lt=cutoff)
        .exclude(payments__status=S.PENDING)
        .values_list("pk", flat=True)
    )
    for consultation_id in list(never_paid[:1000]):
        if consultations.cancel_unpaid_booking(consultation_id, reason="Not paid in time.", now=now):
            expired += 1
    if expired:
        logger.info("expired %d unpaid bookings", expired)
    return expired


def _paid_after_all(payment: Payment) -> bool:
    try:
        verification = get_gateway(payment.gateway).verify_payment(reference=payment.reference)
    except base.GatewayError as error:  # cannot ask: expire; a late success is refunded
        logger.warning("could not check payment %s before expiring it: %s", payment.pk, error)
        return False
    if verification.status != "succeeded":
        return False
    payment = confirm_from_verification(payment, verification)
    return payment.status != S.PENDING


# --- The doctors' ledger ---------------------------------------------------------------------------


def _post(
    doctor_id,
    currency: str,
    kind: str,
    amount: int,
    *,
    payment: Payment | None = None,
    refund: Refund | None = None,
    dispute: Dispute | None = None,
    note: str = "",
) -> None:
    """Write a ledger entry and move the doctor's balance by the same amount, atomically."""
    if amount == 0:
        return
    with transaction.atomic():
        PayoutLedgerEntry.objects.create(
            doctor_id=doctor_id,
            currency=currency,
            kind=kind,
            amount=amount,
            payment=payment,
            refund=refund,
            dispute=dispute,
            note=note,
        )
        DoctorBalance.objects.get_or_create(doctor_id=doctor_id, currency=currency)
        DoctorBalance.objects.filter(doctor_id=doctor_id, currency=currency).update(
            balance=F("balance") + amount, updated_at=timezone.now()
        )


def adjust_balance(actor: User, doctor: User, *, currency: str, amount: int, note: str) -> PayoutLedgerEntry:
    """A manual correction of a doctor's balance (staff), as a signed ``adjustment`` entry."""
    if not is_staff(actor):
        raise _denied("Only staff adjust balances.")
    if amount == 0:
        raise _invalid("amount", "An adjustment moves the balance.")
    if not note.strip():
        raise _invalid("note", "Say why.")
    with transaction.atomic():
        _post(doctor.pk, currency.upper(), LedgerKind.ADJUSTMENT, amount, note=f"{note} (by {actor.pk})")
        return PayoutLedgerEntry.objects.filter(doctor=doctor, kind=LedgerKind.ADJUSTMENT).latest("pk")


def doctor_balance(doctor: User, currency: str) -> int:
    """What the platform owes the doctor in ``currency`` (minor units; negative: the doctor owes)."""
    row = DoctorBalance.objects.filter(doctor=doctor, currency=currency.upper()).first()
    return row.balance if row else 0


def ledger_mismatches() -> list[dict[str, Any]]:
    """Every doctor and currency whose balance is not the sum of their ledger entries (empty when
    the books are right)."""
    sums = {
        (row["doctor_id"], row["currency"]): row["total"]
        for row in PayoutLedgerEntry.objects.values("doctor_id", "currency").annotate(total=Sum("amount"))
    }
    balances = {(row.doctor_id, row.currency): row.balance for row in DoctorBalance.objects.all()}
    mismatches = []
    for doctor_id, currency in sorted(set(sums) | set(balances), key=str):
        balance, total = balances.get((doctor_id, currency), 0), sums.get((doctor_id, currency), 0)
        if balance != total:
            mismatches.append(
                {"doctor": doctor_id, "currency": currency, "balance": balance, "entries": total}
            )
    return mismatches
