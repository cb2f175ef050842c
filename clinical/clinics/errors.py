"""Error codes of the e-clinics API not (yet) in ``clinical.error_codes``.

The codes shared with other areas (``INVALID_TRANSITION``, ``REVIEW_NOT_ALLOWED``,
``ALREADY_REVIEWED``, ``CLINIC_NOT_VERIFIED``) are imported from there.
"""

INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"  # an adjustment would take stock below zero (409)
LAST_CLINIC_ADMIN = "LAST_CLINIC_ADMIN"  # a clinic must keep at least one admin (409)
ALREADY_MEMBER = "ALREADY_MEMBER"  # the user is already a member of the clinic (409)
ALREADY_STOCKED = "ALREADY_STOCKED"  # the clinic already has an inventory line for it (409)
