"""The OpenAPI schema: valid, documents the envelope and JWT, and the docs UIs load."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command

ERROR_REF = {"$ref": "#/components/schemas/ErrorEnvelope"}
DOCUMENTED_ERRORS = ["400", "401", "403", "404", "429", "500"]
PAGE_KEYS = ["count", "page", "page_size", "total_pages", "next", "previous", "results"]
HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}


@pytest.fixture
def schema(api_client, db) -> dict:
    response = api_client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")
    return response.json()


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield f"{method.upper()} {path}", operation


class _AssetCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        url = attrs.get("src") if tag == "script" else attrs.get("href") if tag == "link" else None
        if url:
            self.urls.append(url)


def _static_assets(html: str) -> list[str]:
    collector = _AssetCollector()
    collector.feed(html)
    return [url for url in collector.urls if url.startswith("/static/")]


# --- The document --------------------------------------------------------------------------------


def test_schema_endpoint_serves_openapi_3(schema):
    assert re.match(r"^3\.\d+\.\d+$", schema["openapi"])
    assert schema["info"]["title"] == "Telehealth API"
    assert "/api/users/" in schema["paths"]
    assert "/api/auth/send-otp/" in schema["paths"]


def test_schema_is_not_wrapped_in_the_envelope(schema):
    assert "success" not in schema


def test_spectacular_validates_without_warnings(tmp_path, db):
    target = tmp_path / "schema.json"

    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", str(target)
    )

    written = json.loads(target.read_text())
    assert written["openapi"].startswith("3.")
    assert written["paths"]


def test_jwt_bearer_security_scheme(schema):
    assert schema["components"]["securitySchemes"]["jwtAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }


def test_protected_operations_require_jwt_and_login_operations_do_not(schema):
    operations = dict(_operations(schema))

    assert {"jwtAuth": []} in operations["GET /api/users/"]["security"]
    assert {"jwtAuth": []} in operations["GET /api/auth/profile/"]["security"]
    assert operations["POST /api/auth/send-otp/"]["security"] == [{}]
    assert operations["POST /api/auth/verify-otp/"]["security"] == [{}]


def test_every_2xx_json_response_is_the_success_envelope(schema):
    checked = 0
    for name, operation in _operations(schema):
        for status, response in operation["responses"].items():
            if not status.startswith("2") or status == "204":
                continue
            if "application/json" not in response["content"]:
                # File downloads are documented with their own media type, not wrapped.
                assert all(not t.endswith("json") for t in response["content"]), name
                continue
            envelope = response["content"]["application/json"]["schema"]
            assert envelope["type"] == "object", name
            assert set(envelope["required"]) == {"success", "data", "message", "timestamp"}, name
            assert set(envelope["properties"]) == {"success", "data", "message", "timestamp"}, name
            assert envelope["properties"]["success"]["enum"] == [True], name
            assert envelope["properties"]["timestamp"]["format"] == "date-time", name
            # Wrapped once, not twice.
            assert "success" not in envelope["properties"]["data"].get("properties", {}), name
            checked += 1
    assert checked >= 10


def test_list_response_documents_the_paginated_page(schema):
    data = schema["paths"]["/api/users/"]["get"]["responses"]["200"]["content"]["application/json"]
    ref = data["schema"]["properties"]["data"]["$ref"]
    page = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]

    assert set(page["required"]) == set(PAGE_KEYS)


def test_list_operation_documents_query_parameters(schema):
    names = {p["name"] for p in schema["paths"]["/api/users/"]["get"]["parameters"]}

    assert {"page", "page_size", "role", "is_active", "search", "ordering"} <= names


@pytest.mark.parametrize("status", DOCUMENTED_ERRORS)
def test_every_operation_documents_error_status_with_error_envelope(schema, status):
    for name, operation in _operations(schema):
        response = operation["responses"].get(status)
        assert response is not None, f"{name} does not document {status}"
        assert response["content"]["application/json"]["schema"] == ERROR_REF, name


def test_every_documented_error_response_has_error_envelope_body(schema):
    for name, operation in _operations(schema):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response.get("content", {}).get("application/json", {}).get("schema") == ERROR_REF, (
                    f"{name} {status}"
                )


def test_error_envelope_component_lists_every_error_code(schema):
    from telehealth.api import error_codes

    envelope = schema["components"]["schemas"]["ErrorEnvelope"]
    assert set(envelope["required"]) == {"success", "error", "timestamp"}
    assert envelope["properties"]["success"]["enum"] == [False]
    assert set(envelope["properties"]["error"]["required"]) == {"code", "message", "details"}
    codes = envelope["properties"]["error"]["properties"]["code"]["enum"]
    assert {"VALIDATION_ERROR", "THROTTLED", "SERVER_ERROR", "OTP_COOLDOWN"} <= set(codes)
    assert set(error_codes.ALL_CODES) <= set(codes)
    assert {"SLOT_TAKEN", "PRESCRIPTION_LOCKED"} <= set(codes)  # every app's codes are listed


# --- Docs UIs and their static files -------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "needles"),
    [
        ("/api/docs/", ["swagger-ui-bundle.js", "swagger-ui.css", "/api/schema/"]),
        ("/api/redoc/", ["redoc.standalone.js", "/api/schema/"]),
    ],
)
def test_docs_page_is_html_and_its_static_assets_load(api_client, db, url, needles):
    response = api_client.get(url)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    for needle in needles:
        assert needle in html
    assets = _static_assets(html)
    assert assets, "the page references no static files"
    for asset in assets:
        path = asset.removeprefix("/static/").split("?")[0]
        assert finders.find(path), f"{asset} is not found by the staticfiles finders"
        static = api_client.get(asset)
        try:
            assert static.status_code == 200, asset
            assert static["Content-Length"] != "0", asset
        finally:
            static.close()
