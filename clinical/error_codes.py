"""Error codes of the clinical API (in ``error.code``). Stable: clients branch on them."""

SLOT_UNAVAILABLE = "SLOT_UNAVAILABLE"  # not one of the doctor's slots, or in the past
SLOT_TAKEN = "SLOT_TAKEN"  # someone booked it first (409)
INVALID_TRANSITION = "INVALID_TRANSITION"  # not allowed from the current state (409)
DOCTOR_NOT_BOOKABLE = "DOCTOR_NOT_BOOKABLE"  # not verified or inactive
POLICY_VIOLATION = "POLICY_VIOLATION"  # e.g. cancelling inside the cut-off window
REVIEW_NOT_ALLOWED = "REVIEW_NOT_ALLOWED"  # consultation not completed, or not yours
ALREADY_REVIEWED = "ALREADY_REVIEWED"  # one review per consultation (409)
PRESCRIPTION_LOCKED = "PRESCRIPTION_LOCKED"  # issued prescriptions are immutable (409)
INTERACTION_BLOCKED = "INTERACTION_BLOCKED"  # severe interaction or allergy without override
UNSUPPORTED_FILE_TYPE = "UNSUPPORTED_FILE_TYPE"  # content sniffed from the bytes is not allowed (415)
FILE_TOO_LARGE = "FILE_TOO_LARGE"  # over DOCUMENT_MAX_BYTES (413)
CLINIC_NOT_VERIFIED = "CLINIC_NOT_VERIFIED"
INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"  # an adjustment would take stock below zero (409)
LAST_CLINIC_ADMIN = "LAST_CLINIC_ADMIN"  # a clinic must keep at least one admin (409)
ALREADY_MEMBER = "ALREADY_MEMBER"  # the user is already a member of the clinic (409)
ALREADY_STOCKED = "ALREADY_STOCKED"  # the clinic already has an inventory line for it (409)
