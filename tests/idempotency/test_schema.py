"""The OpenAPI schema documents the header, and its 409, on adopting operations only."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from telehealth.api import error_codes

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker) -> dict:
    target = tmp_path_factory.mktemp("schema") / "schema.json"
    with django_db_blocker.unblock():
        call_command(
            "spectacular",
            "--urlconf",
            "tests.idempotency.urls",
            "--validate",
            "--fail-on-warn",
            "--format",
            "openapi-json",
            "--file",
            str(target),
        )
    return json.loads(target.read_text())


def header(operation: dict) -> dict | None:
    return next((p for p in operation.get("parameters", []) if p["name"] == "Idempotency-Key"), None)


@pytest.mark.parametrize(
    "path",
    [
        "/api/test-idem/charge/",
        "/api/test-idem/upload/",
        "/api/test-idem/viewset/",  # method-level @extend_schema on a viewset action
        "/api/test-idem/viewset/refund/",  # a POST @action
    ],
)
def test_adopting_post_operations_document_the_optional_header_and_409(schema, path):
    operation = schema["paths"][path]["post"]

    parameter = header(operation)
    assert parameter is not None
    assert parameter["in"] == "header"
    assert parameter.get("required", False) is False
    assert parameter["schema"]["pattern"]
    assert "Idempotent-Replayed" in parameter["description"]
    conflict = operation["responses"]["409"]
    assert error_codes.IDEMPOTENCY_KEY_REUSED in conflict["description"]
    assert error_codes.IDEMPOTENCY_KEY_IN_PROGRESS in conflict["description"]
    assert conflict["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}


def test_other_methods_do_not_document_the_header(schema):
    assert header(schema["paths"]["/api/test-idem/charge/"]["get"]) is None
    assert header(schema["paths"]["/api/test-idem/viewset/"]["get"]) is None
    assert "409" not in schema["paths"]["/api/test-idem/charge/"]["get"]["responses"]


def test_view_that_requires_the_header_documents_it_as_required(schema):
    assert header(schema["paths"]["/api/test-idem/strict/"]["post"])["required"] is True


def test_error_codes_are_in_the_error_envelope_enum(schema):
    error = schema["components"]["schemas"]["ErrorEnvelope"]["properties"]["error"]

    assert {"IDEMPOTENCY_KEY_REUSED", "IDEMPOTENCY_KEY_IN_PROGRESS"} <= set(
        error["properties"]["code"]["enum"]
    )


def test_class_level_extend_schema_keeps_the_header(schema):
    operation = schema["paths"]["/api/test-idem/viewset/"]["post"]

    assert operation["tags"] == ["test-idem"]
    assert header(operation) is not None
