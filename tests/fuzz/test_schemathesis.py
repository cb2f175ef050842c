"""Schemathesis against our own OpenAPI document: every operation, as every role, answers without a
5xx and exactly as documented (status code, content type, body schema, headers).

The schema is generated in-process (what ``/api/schema/`` serves) and requests go through the WSGI
application in-process, so they hit the test database and the permission matrix's world
(``tests/permission_matrix.build_world``): path parameters are drawn from the world's real ids as
well as generated, so object endpoints are exercised on objects that exist and on ones that don't.
Each example runs in a savepoint that is rolled back, with empty caches, so a logout, a delete or a
throttle in one example never changes what the next one sees.

Bounded for CI: ``FUZZ_EXAMPLES`` examples per operation and role (default 5), derandomized so every
run sends the same requests. ``make fuzz`` raises the count.
"""

from __future__ import annotations

import logging
import os
import re
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import schemathesis
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.db import connection, transaction
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.permission_matrix import ADMIN, ANONYMOUS, DOCTOR_OF_A, MATRIX, PATIENT_A, SUPERADMIN, World

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
ROLES = (PATIENT_A, DOCTOR_OF_A, ADMIN, SUPERADMIN, ANONYMOUS)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
BASE_URL = "http://testserver"

# Operations run as anonymous only, with why. Everything else runs as every role; none is left out.
ANONYMOUS_ONLY: dict[str, str] = {
    # Payment providers call these with a signed body and no user: a token changes nothing, and
    # without the provider's secret no generated body is accepted. They must still not 5xx on garbage.
    "POST /api/payments/webhooks/stripe/": "signed by Stripe, no user",
    "POST /api/payments/webhooks/razorpay/": "signed by Razorpay, no user",
    "POST /api/payments/webhooks/payu/": "signed by PayU, no user",
}


def _load_schema() -> schemathesis.BaseSchema:
    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = get_wsgi_application()
    return loaded


SCHEMA = _load_schema()
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


def _label(operation) -> str:
    return f"{operation.method.upper()} {operation.path}"


def _real_path_parameters(path: str) -> list[dict[str, str]]:
    """The permission matrix's concrete paths for this template, as path-parameter bindings over
    ``World.ids`` placeholders: ``/api/patients/{patient_id}/`` ← ``/api/patients/{A}/``."""
    segments = path.strip("/").split("/")
    found: list[dict[str, str]] = []
    for row in MATRIX:
        candidate = row.path.split("?", 1)[0].strip("/").split("/")
        if len(candidate) != len(segments):
            continue
        binding: dict[str, str] = {}
        for ours, theirs in zip(segments, candidate, strict=True):
            param = re.fullmatch(r"\{(\w+)\}", ours)
            placeholder = re.fullmatch(r"\{([^}]+)\}", theirs)
            if param and placeholder:
                binding[param.group(1)] = placeholder.group(1)
            elif ours != theirs:
                break
        else:
            if binding and binding not in found:
                found.append(binding)
    return found


def _strategy(operation, world: World):
    bindings = [
        {name: world.ids[placeholder] for name, placeholder in binding.items()}
        for binding in _real_path_parameters(operation.path)
    ]
    strategies = []
    for path_parameters in [*bindings, None]:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategies.append(operation.as_strategy(mode, path_parameters=path_parameters))
    return st.one_of(strategies)


class _ErrorLog(logging.Handler):
    """Keeps the tracebacks the app logs while answering 500, for the failure report."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append("".join(traceback.format_exception(*record.exc_info)))


@contextmanager
def _logged_errors() -> Iterator[_ErrorLog]:
    handler = _ErrorLog()
    loggers = [logging.getLogger(name) for name in ("telehealth.api", "django.request")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def _send(case, token: str | None) -> None:
    """One request in a savepoint that is rolled back, with empty caches (throttles, revocations)."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    cache.clear()
    savepoint = transaction.savepoint()
    try:
        with _logged_errors() as errors:
            try:
                case.call_and_validate(base_url=BASE_URL, headers=headers, checks=CHECKS)
            except BaseException as exc:
                for text in errors.records:
                    exc.add_note(f"\nLogged by the application:\n{text}")
                raise
    finally:
        transaction.savepoint_rollback(savepoint)
        connection.needs_rollback = False


def _fuzz(operation, world: World, role: str) -> None:
    token = world.tokens.get(role)

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        print_blob=False,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
    )
    @given(case=_strategy(operation, world))
    def fuzz(case) -> None:
        _send(case, token)

    fuzz()


@pytest.mark.parametrize("operation", OPERATIONS, ids=_label)
def test_operation_conforms_to_schema(operation, world, db):
    roles = (ANONYMOUS,) if _label(operation) in ANONYMOUS_ONLY else ROLES
    failures = []
    for role in roles:
        try:
            _fuzz(operation, world, role)
        # Schemathesis reports check failures as a FailureGroup, a BaseExceptionGroup.
        except (Exception, FailureGroup) as exc:
            notes = "\n".join(getattr(exc, "__notes__", ()))
            failures.append(f"--- as {role}: {type(exc).__name__}: {exc}\n{notes}")
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)
