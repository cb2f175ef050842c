"""Error codes the payments REST API adds to ``payments.error_codes`` (in ``error.code``). Stable:
clients branch on them. Listed in the schema once this module is in
``telehealth.api.schema._ERROR_CODE_MODULES``."""

WEBHOOK_SIGNATURE_INVALID = "WEBHOOK_SIGNATURE_INVALID"  # unsigned, tampered, stale or unparseable (400)
STRIPE_NOT_CONFIGURED = "STRIPE_NOT_CONFIGURED"  # saved cards need Stripe keys on the server (400)
RECEIPT_NOT_AVAILABLE = "RECEIPT_NOT_AVAILABLE"  # the payment never succeeded: no receipt (409)
