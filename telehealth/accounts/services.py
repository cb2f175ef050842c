"""Account and authentication rules: OTP login, tokens, and staff-managed accounts."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import import_module

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Exists, Q
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from telehealth.accounts.models import PhoneOTP, Role, User
from telehealth.accounts.phone import mask_phone
from telehealth.accounts.tasks import queue_sms
from telehealth.api import error_codes
from telehealth.api.errors import ServiceError

logger = logging.getLogger("telehealth.auth")

# One message for every way a code can be wrong, so that answers never tell whether a phone
# has an account or a pending code.
_INVALID_CODE_MESSAGE = "The code is invalid or has expired. Request a new code."


@dataclass(frozen=True)
class OTPChallenge:
    phone: str
    expires_in: int
    resend_after: int
    # The plain code exists only in memory, on its way to the SMS task.
    code: str


def _hash_code(phone: str, code: str) -> str:
    # Keyed with the server secret: a leaked table alone does not allow brute-forcing the
    # (small) code space offline.
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def _generate_code(length: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(length))


def _valid_ip(ip: str | None) -> str | None:
    # Behind a proxy the address comes from X-Forwarded-For, which a client can fill with anything.
    try:
        return str(ipaddress.ip_address(ip)) if ip else None
    except ValueError:
        return None


def request_otp(phone: str, *, ip: str | None = None) -> OTPChallenge:
    """Create a fresh login code for ``phone`` (already normalised) and text it.

    Earlier codes for the phone stop working. Refused while the resend cool-down runs.
    """
    now = timezone.now()
    cooldown = settings.OTP_RESEND_COOLDOWN_SECONDS
    with transaction.atomic():
        latest = PhoneOTP.objects.select_for_update().filter(phone=phone).first()
        if latest is not None and cooldown and latest.is_usable(now):
            wait = cooldown - int((now - latest.created_at).total_seconds())
            if wait > 0:
                raise ServiceError(
                    error_codes.OTP_COOLDOWN,
                    "A code was sent moments ago; wait before asking for another.",
                    status=429,
                    details={"retry_after": wait},
                    headers={"Retry-After": str(wait)},
                )
        PhoneOTP.objects.filter(phone=phone, consumed_at__isnull=True, invalidated_at__isnull=True).update(
            invalidated_at=now
        )
        code = _generate_code(settings.OTP_LENGTH)
        PhoneOTP.objects.create(
            phone=phone,
            code_hash=_hash_code(phone, code),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.OTP_EXPIRY_SECONDS),
            requested_ip=_valid_ip(ip),
        )
        minutes = max(1, settings.OTP_EXPIRY_SECONDS // 60)
        message = f"{code} is your Telehealth login code. It expires in {minutes} min. Never share it."
        transaction.on_commit(lambda: queue_sms(phone, message))
    logger.info("OTP issued for %s", mask_phone(phone))
    return OTPChallenge(phone=phone, expires_in=settings.OTP_EXPIRY_SECONDS, resend_after=cooldown, code=code)


def _failure_key(phone: str) -> str:
    return f"otp-failures:{phone}"


def _record_failure(phone: str) -> None:
    key = _failure_key(phone)
    cache.add(key, 0, timeout=3600)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=3600)


def _check_not_locked(phone: str) -> None:
    if (cache.get(_failure_key(phone)) or 0) >= settings.OTP_MAX_FAILURES_PER_HOUR:
        raise ServiceError(
            error_codes.OTP_LOCKED,
            "Too many wrong codes for this phone. Try again later.",
            status=429,
            details={"retry_after": 3600},
            headers={"Retry-After": "3600"},
        )


def verify_otp(phone: str, code: str) -> tuple[User, bool]:
    """Check ``code`` for ``phone``; on success return the user (created as a patient on first
    login) and whether it was created. Every failure counts against the code and the phone."""
    _check_not_locked(phone)
    now = timezone.now()
    with transaction.atomic():
        otp = PhoneOTP.objects.select_for_update().filter(phone=phone).first()
        usable = otp is not None and otp.is_usable(now)
        matches = usable and hmac.compare_digest(otp.code_hash, _hash_code(phone, code))
        if usable and not matches:
            otp.attempts += 1
            if otp.attempts >= settings.OTP_MAX_ATTEMPTS:
                otp.invalidated_at = now
            otp.save(update_fields=["attempts", "invalidated_at"])
        elif matches:
            otp.consumed_at = now
            otp.save(update_fields=["consumed_at"])
    # Raised outside the transaction so the attempt counter above is committed.
    if not matches:
        _record_failure(phone)
        logger.info("OTP verification failed for %s", mask_phone(phone))
        raise ServiceError(error_codes.OTP_INVALID, _INVALID_CODE_MESSAGE, status=400)

    user, created = User.objects.get_or_create(phone=phone, defaults={"role": Role.PATIENT})
    if created:
        user.set_unusable_password()
    if not user.is_active:
        raise ServiceError(error_codes.ACCOUNT_DISABLED, "This account has been deactivated.", status=403)
    user.phone_verified_at = now
    user.last_login = now
    user.save(update_fields=["phone_verified_at", "last_login", "password"])
    logger.info("User %s logged in (new=%s)", user.pk, created)
    return user, created


def issue_tokens(user: User) -> dict[str, str]:
    """A new refresh/access pair. Both carry the user's role; the access token also carries its
    refresh token's id (``sid``), so revoking the refresh token revokes the session."""
    refresh = RefreshToken.for_user(user)
    refresh["role"] = user.role
    access = refresh.access_token
    access["sid"] = refresh["jti"]
    return {"access": str(access), "refresh": str(refresh)}


def verified_access_token(raw: str) -> AccessToken | None:
    """The token if its signature, type and expiry are valid (no database access), else None."""
    try:
        return AccessToken(raw)
    except TokenError:
        return None


def user_for_token(token: AccessToken) -> User | None:
    """The active user of a verified access token, or None when its session was revoked (logout,
    rotation, deactivation). One query."""
    users = User.objects.filter(pk=token.get("user_id"), is_active=True)
    sid = token.get("sid")
    if sid:
        users = users.exclude(Exists(BlacklistedToken.objects.filter(token__jti=sid)))
    return users.first()


def user_for_access_token(raw: str) -> User | None:
    """The active user an access token belongs to, or None when the token is invalid, expired,
    or its session was revoked (logout, rotation, deactivation)."""
    token = verified_access_token(raw)
    return user_for_token(token) if token is not None else None


def _token_error(message: str) -> ServiceError:
    return ServiceError(error_codes.TOKEN_INVALID, message, status=401)


def rotate_refresh_token(raw_refresh: str) -> dict[str, str]:
    """Trade a refresh token for a new pair. The old token is blacklisted first, atomically, so
    two concurrent refreshes with one token yield one success."""
    try:
        refresh = RefreshToken(raw_refresh)  # checks signature, expiry and the blacklist
    except TokenError as exc:
        raise _token_error("The refresh token is invalid, expired or revoked.") from exc
    user = User.objects.filter(pk=refresh.get("user_id")).first()
    if user is None or not user.is_active:
        raise _token_error("The refresh token is invalid, expired or revoked.")
    with transaction.atomic():
        locked = OutstandingToken.objects.select_for_update(of=("self",))
        outstanding = locked.filter(jti=refresh["jti"]).first()
        if outstanding is None:
            raise _token_error("The refresh token is invalid, expired or revoked.")
        _, newly_blacklisted = BlacklistedToken.objects.get_or_create(token=outstanding)
        if not newly_blacklisted:
            raise _token_error("The refresh token is invalid, expired or revoked.")
    return issue_tokens(user)


def logout(raw_refresh: str, *, all_devices: bool = False) -> None:
    """Revoke a refresh token, or every refresh token of its user, and close the user's open
    websockets (all of them: a socket does not know which session, across rotations, opened it;
    the user's other devices refresh their token and reconnect)."""
    from signaling import revocation  # signaling builds on accounts, not the other way round

    try:
        refresh = RefreshToken(raw_refresh)
    except TokenError as exc:
        raise _token_error("The refresh token is invalid, expired or already revoked.") from exc
    refresh.blacklist()
    if all_devices:
        for outstanding in OutstandingToken.objects.filter(user_id=refresh.get("user_id")):
            BlacklistedToken.objects.get_or_create(token=outstanding)
    revocation.close_user_sockets_on_commit(refresh.get("user_id"), revocation.CLOSE_SIGNED_OUT)


# --- Staff-managed accounts ------------------------------------------------------------------------

_CREATABLE_BY = {
    Role.ADMIN: {Role.PATIENT, Role.DOCTOR},
    Role.SUPERADMIN: {Role.PATIENT, Role.DOCTOR, Role.ADMIN, Role.SUPERADMIN},
}


def can_manage(actor: User, role: str) -> bool:
    """Admins manage patients and doctors; only superadmins manage staff accounts."""
    return role in _CREATABLE_BY.get(actor.role, set())


def create_account(actor: User, *, phone: str, role: str, **fields) -> User:
    """An admin creates an account for someone else: the only way doctors and admins come to be."""
    if not can_manage(actor, role):
        raise ServiceError(
            error_codes.PERMISSION_DENIED, f"Your role may not create {role} accounts.", status=403
        )
    if User.objects.filter(phone=phone).exists():
        raise ServiceError(
            error_codes.CONFLICT,
            "An account with this phone number already exists.",
            status=409,
            details={"phone": ["An account with this phone number already exists."]},
        )
    user = User.objects.create_user(phone, role=role, **fields)
    logger.info("Account %s (%s) created by %s", user.pk, role, actor.pk)
    return user


def update_account(actor: User, user: User, **changes) -> User:
    """Change another account. Deactivating revokes every refresh token of the account."""
    new_role = changes.get("role", user.role)
    if not (can_manage(actor, user.role) and can_manage(actor, new_role)):
        raise ServiceError(
            error_codes.PERMISSION_DENIED, "Your role may not change this account.", status=403
        )
    if user.pk == actor.pk and ("role" in changes or changes.get("is_active") is False):
        raise ServiceError(
            error_codes.PERMISSION_DENIED, "You cannot demote or deactivate yourself.", status=403
        )
    for field, value in changes.items():
        setattr(user, field, value)
    user.full_clean(exclude=["password"])
    user.save()
    if changes.get("is_active") is False:
        for outstanding in OutstandingToken.objects.filter(user=user):
            BlacklistedToken.objects.get_or_create(token=outstanding)
    logger.info("Account %s updated by %s: %s", user.pk, actor.pk, sorted(changes))
    return user


# --- Housekeeping (Celery beat) --------------------------------------------------------------------


def purge_expired_otps(*, now: datetime | None = None) -> int:
    """Delete login codes that expired, were used or were replaced more than
    ``OTP_RETENTION_HOURS`` ago (kept that long to answer "I never got my code" and abuse
    questions). A code that can still be used is never touched. Returns how many went."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.OTP_RETENTION_HOURS)
    finished = Q(expires_at__lt=cutoff) | Q(consumed_at__lt=cutoff) | Q(invalidated_at__lt=cutoff)
    deleted, _ = PhoneOTP.objects.filter(finished).delete()
    if deleted:
        logger.info("Purged %d finished OTP codes", deleted)
    return deleted


def flush_expired_tokens(*, now: datetime | None = None) -> int:
    """simplejwt's ``flushexpiredtokens`` with a clock: drop outstanding refresh tokens past their
    expiry, and their blacklist entries with them (an expired token is refused before the
    blacklist is read, so the entry protects nothing any more). Returns how many tokens went."""
    now = now or timezone.now()
    _, per_model = OutstandingToken.objects.filter(expires_at__lte=now).delete()
    flushed = per_model.get(OutstandingToken._meta.label, 0)
    if flushed:
        logger.info("Flushed %d expired refresh tokens", flushed)
    return flushed


def clear_expired_sessions() -> None:
    """Django's ``clearsessions``: expired sessions (the admin's) leave the session store."""
    engine = import_module(settings.SESSION_ENGINE)
    try:
        engine.SessionStore.clear_expired()
    except NotImplementedError:  # stores that expire on their own (cache, signed cookies)
        logger.info("Session engine %s expires sessions itself", settings.SESSION_ENGINE)
