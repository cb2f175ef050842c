"""OpenAPI post-processing: document the envelope around every response."""

from __future__ import annotations

from typing import Any

from telehealth.api import error_codes

# Every app's error-code module; the schema lists their union.
_ERROR_CODE_MODULES = [
    "telehealth.api.error_codes",
    "clinical.error_codes",
    "payments.error_codes",
    "payments.api_error_codes",
    "analytics.reports.error_codes",
]


def all_error_codes() -> list[str]:
    import importlib

    codes: set[str] = set()
    for name in _ERROR_CODE_MODULES:
        module = importlib.import_module(name)
        codes.update(v for k, v in vars(module).items() if k.isupper() and isinstance(v, str))
    return sorted(codes)


_ERROR_STATUSES = {
    "400": "Invalid input (`VALIDATION_ERROR`, `PARSE_ERROR`, or a domain code).",
    "401": "Missing, invalid, expired or revoked credentials (`AUTHENTICATION_FAILED`).",
    "403": "Authenticated but not allowed (`PERMISSION_DENIED`).",
    "404": "No such resource, or not visible to you (`NOT_FOUND`).",
    "429": "Rate limit hit (`THROTTLED`); see `Retry-After`.",
    "500": "Unexpected error (`SERVER_ERROR`); no internals are exposed.",
}

# Only operations that take a body: the Content-Type is none of those documented for it.
_UNSUPPORTED_MEDIA_TYPE = "A body in a Content-Type not documented here (`UNSUPPORTED_MEDIA_TYPE`)."

_ERROR_ENVELOPE = {
    "type": "object",
    "description": "Every error response.",
    "required": ["success", "error", "timestamp"],
    "properties": {
        "success": {"type": "boolean", "enum": [False]},
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Stable machine-readable code.",
                    "example": error_codes.VALIDATION_ERROR,
                    "enum": all_error_codes(),
                },
                "message": {"type": "string", "example": "The request contains invalid data."},
                "details": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "Field errors for VALIDATION_ERROR, otherwise extra context.",
                },
            },
        },
        "timestamp": {"type": "string", "format": "date-time"},
    },
}


def _success_envelope(data_schema: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["success", "data", "message", "timestamp"],
        "properties": {
            "success": {"type": "boolean", "enum": [True]},
            "data": data_schema or {"nullable": True},
            "message": {"type": "string", "nullable": True},
            "timestamp": {"type": "string", "format": "date-time"},
        },
    }


def wrap_responses_in_envelope(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """drf-spectacular ``POSTPROCESSING_HOOKS`` entry."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorEnvelope"] = _ERROR_ENVELOPE
    error_ref = {"$ref": "#/components/schemas/ErrorEnvelope"}

    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for status, response in responses.items():
                content = response.get("content", {})
                if status.startswith("2"):
                    json_content = content.get("application/json")
                    if json_content is not None:
                        json_content["schema"] = _success_envelope(json_content.get("schema"))
                    elif not content and status != "204":
                        response["content"] = {"application/json": {"schema": _success_envelope(None)}}
                    # Other media types (file downloads, PDFs) are documented as they are.
                else:
                    response["content"] = {"application/json": {"schema": error_ref}}
            statuses = dict(_ERROR_STATUSES)
            if "requestBody" in operation:
                statuses["415"] = _UNSUPPORTED_MEDIA_TYPE
            for status, description in statuses.items():
                responses.setdefault(
                    status,
                    {"description": description, "content": {"application/json": {"schema": error_ref}}},
                )
    return result
