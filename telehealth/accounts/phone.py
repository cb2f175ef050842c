"""Phone numbers are the account key: one normal form (E.164) everywhere."""

from __future__ import annotations

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError


def normalize_phone(raw: str) -> str:
    """Parse ``raw`` and return it in E.164 (``+14155552671``); raise ``ValidationError`` if it is
    not a valid, dialable number."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError("Enter a phone number.", code="invalid_phone")
    if len(raw) > 32:
        raise ValidationError("Enter a valid phone number.", code="invalid_phone")
    try:
        number = phonenumbers.parse(raw, settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException as exc:
        hint = "" if settings.PHONE_DEFAULT_REGION else " in international format, e.g. +14155552671"
        raise ValidationError(f"Enter a valid phone number{hint}.", code="invalid_phone") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError("Enter a valid phone number.", code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(phone: str) -> str:
    """A phone number safe to write to logs: ``+1415*****71``."""
    if len(phone) <= 6:
        return "*" * len(phone)
    return phone[:5] + "*" * (len(phone) - 7) + phone[-2:]
