"""The one place where exceptions become error envelopes."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django_guid import get_guid
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from telehealth.api import error_codes
from telehealth.api.envelope import error_body
from telehealth.api.errors import ServiceError

logger = logging.getLogger("telehealth.api")

_MESSAGES = {
    error_codes.VALIDATION_ERROR: "The request contains invalid data.",
    error_codes.AUTHENTICATION_FAILED: "Authentication credentials were missing or invalid.",
    error_codes.PERMISSION_DENIED: "You do not have permission to perform this action.",
    error_codes.NOT_FOUND: "The requested resource was not found.",
    error_codes.THROTTLED: "Too many requests; slow down and retry later.",
    error_codes.SERVER_ERROR: "An unexpected error occurred. It has been logged.",
}

_CODE_FOR_EXCEPTION: list[tuple[type[Exception], str]] = [
    (drf.ValidationError, error_codes.VALIDATION_ERROR),
    (drf.ParseError, error_codes.PARSE_ERROR),
    (drf.NotAuthenticated, error_codes.AUTHENTICATION_FAILED),
    (drf.AuthenticationFailed, error_codes.AUTHENTICATION_FAILED),
    (drf.PermissionDenied, error_codes.PERMISSION_DENIED),
    (drf.NotFound, error_codes.NOT_FOUND),
    (drf.MethodNotAllowed, error_codes.METHOD_NOT_ALLOWED),
    (drf.NotAcceptable, error_codes.NOT_ACCEPTABLE),
    (drf.UnsupportedMediaType, error_codes.UNSUPPORTED_MEDIA_TYPE),
    (drf.Throttled, error_codes.THROTTLED),
]


def _validation_details(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return detail
    return {"non_field_errors": detail if isinstance(detail, list) else [detail]}


def _plain_message(detail: Any, fallback: str) -> str:
    if isinstance(detail, str):
        return str(detail)
    if isinstance(detail, dict) and isinstance(detail.get("detail"), str):
        return str(detail["detail"])
    return fallback


def envelope_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF ``EXCEPTION_HANDLER``: every error, expected or not, leaves in the envelope."""
    if isinstance(exc, ServiceError):
        return Response(
            error_body(exc.code, exc.message, exc.details), status=exc.status, headers=exc.headers
        )
    if isinstance(exc, DjangoValidationError):
        exc = drf.ValidationError(detail=as_serializer_error(exc))

    response = drf_exception_handler(exc, context)
    if response is None:
        view = context.get("view")
        logger.exception("Unhandled error in %s", type(view).__name__ if view else "view")
        return Response(
            error_body(
                error_codes.SERVER_ERROR,
                _MESSAGES[error_codes.SERVER_ERROR],
                {"request_id": get_guid()},
            ),
            status=500,
        )

    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    code = next((c for cls, c in _CODE_FOR_EXCEPTION if isinstance(exc, cls)), None)
    code = code or error_codes.CODE_FOR_STATUS.get(response.status_code, error_codes.BAD_REQUEST)

    details: Any = {}
    if code == error_codes.VALIDATION_ERROR:
        details = _validation_details(response.data)
        message = _MESSAGES[code]
    else:
        message = _plain_message(response.data, _MESSAGES.get(code, "The request could not be completed."))
        # simplejwt puts its specific code (user_inactive, token_not_valid) in the body.
        reason = response.data.get("code") if isinstance(response.data, dict) else None
        if not isinstance(reason, str):
            reason = getattr(exc, "get_codes", lambda: None)()
        if isinstance(reason, str) and reason not in {"error", "invalid"}:
            details["reason"] = reason
    if isinstance(exc, drf.Throttled) and exc.wait is not None:
        details["retry_after"] = int(exc.wait + 0.999)

    response.data = error_body(code, message, details)
    return response
