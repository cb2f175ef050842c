"""Django-level error views: errors raised outside DRF (unknown URLs, crashes in plain views) still
answer in the envelope."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from django_guid import get_guid

from telehealth.api import error_codes
from telehealth.api.envelope import error_body


def _json_error(code: str, message: str, status: int, details=None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status=status)


@csrf_exempt  # changes nothing; a POST to a wrong path must learn 404 (and the hint), not CSRF 403
def api_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Catch-all for /api/ paths that match no endpoint (also in DEBUG, where Django would
    otherwise render its HTML debug page)."""
    details = {"path": request.path}
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not api_not_found:
            details["hint"] = "API paths end with a slash: " + request.path + "/"
    return _json_error(error_codes.NOT_FOUND, "No endpoint at this path.", 404, details)


def bad_request(request: HttpRequest, exception=None) -> JsonResponse:
    return _json_error(error_codes.BAD_REQUEST, "Bad request.", 400)


def permission_denied(request: HttpRequest, exception=None) -> JsonResponse:
    return _json_error(error_codes.PERMISSION_DENIED, "Permission denied.", 403)


def not_found(request: HttpRequest, exception=None) -> JsonResponse:
    return _json_error(error_codes.NOT_FOUND, "Not found.", 404, {"path": request.path})


def server_error(request: HttpRequest) -> JsonResponse:
    return _json_error(
        error_codes.SERVER_ERROR,
        "An unexpected error occurred. It has been logged.",
        500,
        {"request_id": get_guid()},
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    return _json_error(error_codes.PERMISSION_DENIED, "CSRF verification failed.", 403)
