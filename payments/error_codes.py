"""Error codes of the payments API (in ``error.code``). Stable: clients branch on them."""

PAYMENT_NOT_REQUIRED = "PAYMENT_NOT_REQUIRED"  # the consultation is not awaiting payment (409)
PAYMENT_IN_PROGRESS = "PAYMENT_IN_PROGRESS"  # another payment for it is under way (409)
PAYMENT_NOT_CANCELLABLE = "PAYMENT_NOT_CANCELLABLE"  # only a pending payment can be cancelled (409)
PAYMENT_MISMATCH = "PAYMENT_MISMATCH"  # a verification that is not about this payment
PAYMENT_NOT_REFUNDABLE = "PAYMENT_NOT_REFUNDABLE"  # not paid, already refunded, or disputed (409)
REFUND_EXCEEDS_PAYMENT = "REFUND_EXCEEDS_PAYMENT"  # more than what is left to refund
IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"  # the key belongs to a refund of another payment (409)
GATEWAY_UNAVAILABLE = "GATEWAY_UNAVAILABLE"  # the provider failed or refused; try again (502)
COUPON_INVALID = "COUPON_INVALID"  # unknown, inactive, expired, not yet valid or not for this booking
COUPON_EXHAUSTED = "COUPON_EXHAUSTED"  # no uses left, overall or for this patient (409)
CALLBACK_INVALID = "CALLBACK_INVALID"  # a relayed provider callback did not verify (400)
