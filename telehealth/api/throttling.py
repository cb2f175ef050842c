"""Throttles. Rates are read from settings on every request (not frozen at import, as DRF's own
classes do), and accept multiples such as ``10/5m``."""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from telehealth.accounts.phone import normalize_phone
from telehealth.env import RATE_PATTERN

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str | None) -> tuple[int | None, int | None]:
    if rate is None:
        return None, None
    match = RATE_PATTERN.match(rate)
    if not match:
        raise ValueError(f"Bad throttle rate {rate!r}")
    requests, multiple, unit = match.groups()
    return int(requests), int(multiple or 1) * _UNIT_SECONDS[unit[0]]


class ScopedThrottle(SimpleRateThrottle):
    """Base: subclasses set ``scope`` and say who the caller is."""

    def __init__(self) -> None:  # DRF's reads the rate here; we read it per request instead
        pass

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def parse_rate(self, rate):
        return parse_rate(rate)

    def allow_request(self, request, view) -> bool:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_ident_key(self, request) -> str | None:
        raise NotImplementedError

    def get_cache_key(self, request, view) -> str | None:
        ident = self.get_ident_key(request)
        if ident is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}


class PerUserOrIPThrottle(ScopedThrottle):
    def get_ident_key(self, request) -> str:
        if request.user and request.user.is_authenticated:
            return f"user:{request.user.pk}"
        return f"ip:{self.get_ident(request)}"


class GeneralRateThrottle(PerUserOrIPThrottle):
    scope = "general"


class UploadRateThrottle(PerUserOrIPThrottle):
    scope = "uploads"


class AnalyticsRateThrottle(PerUserOrIPThrottle):
    scope = "analytics"


class AuthRateThrottle(ScopedThrottle):
    """Login endpoints, per client IP."""

    scope = "auth"

    def get_ident_key(self, request) -> str:
        return f"ip:{self.get_ident(request)}"


class PublicLookupRateThrottle(ScopedThrottle):
    """Public lookups by code (prescription verification), per client IP: slows enumeration
    without sharing the login budget."""

    scope = "public_lookup"

    def get_ident_key(self, request) -> str:
        return f"ip:{self.get_ident(request)}"


class OTPPhoneRateThrottle(ScopedThrottle):
    """OTP sends per destination phone, whatever IP asks: stops SMS bombing of one number."""

    scope = "otp_phone"

    def get_ident_key(self, request) -> str | None:
        raw = request.data.get("phone") if hasattr(request.data, "get") else None
        try:
            return f"phone:{normalize_phone(raw)}"
        except Exception:  # invalid numbers are rejected by the serializer instead
            return None
