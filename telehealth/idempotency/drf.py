"""``Idempotency-Key`` for DRF views: add ``IdempotentPostMixin`` first in a view's bases.

    class PaymentViewSet(IdempotentPostMixin, viewsets.GenericViewSet): ...

Every POST of the view (``create`` and POST actions alike) then honours the header, and the OpenAPI
schema documents it on those operations. Without the header a request runs as usual
(unless the view sets ``idempotency_key_required = True``).

The key is claimed after authentication, permission checks and throttling, so a refused request
never uses up a key, and one user's key is never another user's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import DatabaseError
from django.http import HttpResponse, QueryDict
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError

from telehealth.api import error_codes
from telehealth.idempotency import services
from telehealth.idempotency.models import IdempotencyRecord

logger = logging.getLogger("telehealth.idempotency")

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Visible ASCII only: a UUID, ULID or base64 token fits; spaces, control and non-ASCII characters
# (which proxies may fold, strip or re-encode) do not.
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
KEY_RULE = "Must be 1 to 255 visible ASCII characters (no spaces), such as a UUID."


def _parameter_description() -> str:
    return (
        "Makes this request safe to retry. Send a unique value (a UUID) per intended operation and "
        "reuse it for retries: the first request runs and its response (unless 5xx) is kept for "
        f"{settings.IDEMPOTENCY_KEY_TTL_HOURS} hours; a retry with the same key and body gets that "
        f"response again, marked `{REPLAYED_HEADER}: true`, without running twice. The same key with "
        f"another body answers 409 `{error_codes.IDEMPOTENCY_KEY_REUSED}`; while the first request "
        f"still runs, 409 `{error_codes.IDEMPOTENCY_KEY_IN_PROGRESS}` (retry shortly). Keys are per "
        f"user and endpoint. {KEY_RULE}"
    )


def idempotency_key_parameter(*, required: bool = False) -> OpenApiParameter:
    """The header's OpenAPI parameter, for ``@extend_schema(parameters=[...])`` on views that
    handle the header without the mixin."""
    return OpenApiParameter(
        name=IDEMPOTENCY_KEY_HEADER,
        type=str,
        location=OpenApiParameter.HEADER,
        required=required,
        description=_parameter_description(),
        pattern=f"^{KEY_PATTERN.pattern}$",
    )


IDEMPOTENCY_KEY_PARAMETER = idempotency_key_parameter()

_CONFLICT_DESCRIPTION = (
    f"`{error_codes.IDEMPOTENCY_KEY_REUSED}`: the Idempotency-Key was used with another body; "
    f"`{error_codes.IDEMPOTENCY_KEY_IN_PROGRESS}`: its first request is still running."
)


class IdempotentAutoSchema(AutoSchema):
    """Documents the header and its 409 on the operations of an ``IdempotentPostMixin`` view."""

    def _is_idempotent(self) -> bool:
        return self.method in getattr(self.view, "idempotent_methods", ())

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self._is_idempotent():
            required = getattr(self.view, "idempotency_key_required", False)
            parameters = [*parameters, idempotency_key_parameter(required=required)]
        return parameters

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation and self._is_idempotent():
            conflict = operation["responses"].setdefault("409", {"description": ""})
            conflict["description"] = " ".join(filter(None, [conflict["description"], _CONFLICT_DESCRIPTION]))
        return operation


def read_idempotency_key(request) -> str | None:
    """The request's key, ``None`` without the header; a malformed one is a 400."""
    key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if key is None:
        return None
    if not KEY_PATTERN.fullmatch(key):
        raise ValidationError({IDEMPOTENCY_KEY_HEADER: [KEY_RULE]})
    return key


def _canonical(value: Any) -> Any:
    if isinstance(value, QueryDict):
        return {str(k): [_canonical(v) for v in value.getlist(k)] for k in value}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, UploadedFile):
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)
        return {"file": value.name, "size": value.size, "sha256": digest.hexdigest()}
    return value


def request_fingerprint(request) -> str:
    """SHA-256 of the parsed body in a canonical form, so a retry that serialises the same data
    differently (key order, whitespace, a new multipart boundary) still matches."""
    canonical = json.dumps(
        _canonical(request.data), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def replay_response(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        bytes(record.response_body), status=record.status_code, content_type=record.content_type or None
    )
    response[REPLAYED_HEADER] = "true"
    return response


class _Replay(Exception):
    """Raised from ``initial`` to answer with a stored response instead of running the handler."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__()
        self.response = response


class IdempotentPostMixin:
    """Honours ``Idempotency-Key`` on the view's POSTs. Put it before the DRF base class."""

    idempotent_methods: frozenset[str] = frozenset({"POST"})
    idempotency_key_required: bool = False
    schema = IdempotentAutoSchema()
    _idempotency_record: IdempotencyRecord | None = None

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)  # authentication, permissions, throttles first
        if request.method not in self.idempotent_methods:
            return
        key = read_idempotency_key(request)
        if key is None:
            if self.idempotency_key_required:
                raise ValidationError({IDEMPOTENCY_KEY_HEADER: ["This header is required here."]})
            return
        record = services.claim_idempotency_key(
            request.user,
            method=request.method,
            path=request.path,
            key=key,
            fingerprint=request_fingerprint(request),
        )
        if record.is_completed:
            raise _Replay(replay_response(record))
        self._idempotency_record = record

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            return exc.response
        return super().handle_exception(exc)

    def dispatch(self, request, *args, **kwargs):
        self._idempotency_record = None
        try:
            response = super().dispatch(request, *args, **kwargs)
            record, self._idempotency_record = self._idempotency_record, None
            if record is not None:
                self._settle_idempotency_key(record, response)
        except BaseException:
            if self._idempotency_record is not None:
                services.release_idempotency_key(self._idempotency_record)
                self._idempotency_record = None
            raise
        return response

    def _settle_idempotency_key(self, record: IdempotencyRecord, response) -> None:
        if response.status_code >= 500 or response.streaming:
            services.release_idempotency_key(record)
            return
        try:
            if hasattr(response, "render"):
                response.render()  # the stored body must be the bytes the client receives
        except BaseException:
            services.release_idempotency_key(record)
            raise
        try:
            services.complete_idempotency_key(
                record,
                status_code=response.status_code,
                body=response.content,
                content_type=response.get("Content-Type", ""),
            )
        except DatabaseError:
            # The request itself succeeded: answer it. The key stays in progress until it counts as
            # abandoned, so a retry meanwhile is told to wait rather than run twice.
            logger.exception("Could not store the response for idempotency key %s", record.pk)
