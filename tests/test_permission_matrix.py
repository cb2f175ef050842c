"""Every object endpoint by every member of the cast: allowed (2xx) or denied (401 anonymous, 403/404
otherwise), never a 5xx, and a denied answer never carries patient A's health data.

The table and the scenario are in ``tests/permission_matrix.py``. The scenario is built once for
this module inside a transaction that is rolled back at the end; every test runs in its own
savepoint on top of it (pytest-django's ``db``), so a cell that deletes or changes something leaves
the next cell the same world.
"""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from django.db import transaction
from django.urls import resolve
from rest_framework.test import APIClient

from clinical.models.patients import private_storage
from tests.permission_matrix import (
    ACTORS,
    ALLOW,
    ANONYMOUS,
    EXCLUDED_ROUTES,
    MATRIX,
    Cell,
    Row,
    World,
    api_routes,
    build_world,
    canaries_visible_to,
    cells,
    readable_route,
)

WRITES = {"POST", "PUT", "PATCH"}


def _point_storage_at(location: str) -> None:
    # ``private_storage`` was built at import with an explicit location (see the patients conftest).
    private_storage._location = location
    private_storage.__dict__.pop("base_location", None)
    private_storage.__dict__.pop("location", None)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    original = private_storage._location
    _point_storage_at(str(tmp_path_factory.mktemp("matrix-media") / "private"))
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            built = build_world()
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            raise
    try:
        yield built
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
        _point_storage_at(original)


def send(world: World, row: Row, actor: str, body: dict | None):
    client = APIClient()
    if actor != ANONYMOUS:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.tokens[actor]}")
    call = getattr(client, row.method.lower())
    path = world.path(row.path)
    if body is None:
        return call(path)
    return call(path, body, format="multipart" if row.multipart else "json")


def content_of(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def leaked(world: World, content: bytes, exempt: frozenset[str] = frozenset()) -> dict[str, str]:
    text = content.lower()
    return {
        kind: value
        for kind, value in world.canaries.items()
        if kind not in exempt and value.lower().encode() in text
    }


def _describe(response, content: bytes) -> str:
    return f"{response.status_code}: {content[:600]!r}"


def _param(cell: Cell):
    reason = cell.row.bugs.get(cell.actor)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(cell, id=cell.id, marks=marks)


# --- Coverage ------------------------------------------------------------------------------------


def test_every_api_route_and_method_is_in_the_matrix(world):
    routes = api_routes()
    covered: dict[str, set[str]] = defaultdict(set)
    strays = []
    for row in MATRIX:
        route = resolve(world.path(row.path).partition("?")[0]).route
        if route in EXCLUDED_ROUTES or row.method not in routes.get(route, ()):
            strays.append(f"{row.label} → {readable_route(route)}")
        covered[route].add(row.method)

    missing = {
        readable_route(route): sorted(methods - covered[route])
        for route, methods in routes.items()
        if route not in EXCLUDED_ROUTES and methods - covered[route]
    }
    assert not missing, f"Add rows to tests/permission_matrix.py MATRIX for: {missing}"
    assert not strays, f"Rows that hit no matrix route or method: {strays}"
    assert set(EXCLUDED_ROUTES) <= set(routes), "An excluded route no longer exists: drop it from the list"


def test_the_matrix_names_every_actor_it_allows():
    unknown = {
        (row.label, actor) for row in MATRIX for actor in row.allow | set(row.bugs) if actor not in ACTORS
    }
    assert not unknown


# --- The cells -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", [_param(cell) for cell in cells()])
def test_permission(cell: Cell, world: World, db):
    row, actor = cell.row, cell.actor
    if row.prepare is not None:
        row.prepare(world, actor)

    response = send(world, row, actor, row.body_for(world, actor))
    content = content_of(response)

    assert response.status_code < 500, _describe(response, content)
    if cell.expected == ALLOW:
        assert 200 <= response.status_code < 300, _describe(response, content)
        shown = set(leaked(world, content)) - canaries_visible_to(actor) - row.exempt
        assert not shown, f"{sorted(shown)} shown to {actor}: {_describe(response, content)}"
        return

    denied = {row.anonymous_gets} if actor == ANONYMOUS else {403, 404}
    assert response.status_code in denied, _describe(response, content)
    assert json.loads(content)["success"] is False
    assert not leaked(world, content), _describe(response, content)


_DENIED_WRITES = [
    cell
    for cell in cells()
    if cell.expected != ALLOW
    and cell.row.method in WRITES
    and cell.row.body is not None
    and cell.actor != ANONYMOUS
]


@pytest.mark.parametrize(
    "cell", [pytest.param(cell, id=f"{cell.id} (empty body)") for cell in _DENIED_WRITES]
)
def test_denied_before_validation(cell: Cell, world: World, db):
    """A refused write with an empty body is refused before it is validated, except for the actors a
    row lists in ``validates_first``: they get the 400 first (still nothing written, nothing shown)."""
    row = cell.row
    response = send(world, row, cell.actor, {})
    content = content_of(response)

    expected = {400} if cell.actor in row.validates_first else {403, 404}
    assert response.status_code in expected, _describe(response, content)
    assert not leaked(world, content), _describe(response, content)


# --- Refusals that confirm an object exists -------------------------------------------------------

_UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"
_UNKNOWN_CLINIC = "999999"


def _answer(response, probed: str) -> tuple:
    """What a caller learns from a refusal: status, error code, details (the id they sent masked)."""
    error = response.json()["error"]
    return response.status_code, error["code"], json.dumps(error.get("details")).replace(probed, "<id>")


def _probe(world: World, actor: str, method: str, path: str, body_for) -> tuple[tuple, tuple]:
    probe = Row(method=method, path=path, allow=frozenset())
    real, unknown = body_for(True), body_for(False)
    return (
        _answer(send(world, probe, actor, real[0]), real[1]),
        _answer(send(world, probe, actor, unknown[0]), unknown[1]),
    )


def test_prescribing_does_not_confirm_that_a_consultation_exists(world: World, db):
    item = {"medication": int(world.ids["plain_medicine"]), "dose": "1", "frequency": "OD"}
    item |= {"duration_days": 1, "quantity": 1}

    def body(real: bool):
        consultation = world.ids["c.done"] if real else _UNKNOWN_UUID
        return {"consultation": consultation, "items": [item]}, consultation

    real, unknown = _probe(world, "other_doctor", "POST", "/api/prescriptions/", body)
    assert real == unknown


def test_booking_does_not_confirm_that_a_pending_clinic_exists(world: World, db):
    def body(real: bool):
        clinic = world.ids["pending_clinic"] if real else _UNKNOWN_CLINIC
        slot = {"doctor": world.ids["doctor"], "scheduled_start": world.dates["book_at"]}
        return {**slot, "type": "in_clinic", "clinic": int(clinic)}, clinic

    real, unknown = _probe(world, "patient_b", "POST", "/api/consultations/", body)
    assert real == unknown


def test_availability_does_not_confirm_that_a_pending_clinic_exists(world: World, db):
    def body(real: bool):
        clinic = world.ids["pending_clinic"] if real else _UNKNOWN_CLINIC
        return {"weekday": 0, "start_time": "18:00", "end_time": "19:00", "clinic": int(clinic)}, clinic

    real, unknown = _probe(world, "other_doctor", "POST", "/api/doctors/me/availability-rules/", body)
    assert real == unknown


# --- Controls ------------------------------------------------------------------------------------


# Answers to OPTIONS and HEAD that break the "never a 5xx" rule today: (method, path) → reason.
KNOWN_SIDE_DOOR_BUGS: dict[tuple[str, str], str] = {}


def _side_doors():
    seen = set()
    for row in MATRIX:
        for method in ("OPTIONS", "HEAD") if row.method == "GET" else ("OPTIONS",):
            if (method, row.path) in seen:
                continue
            seen.add((method, row.path))
            reason = KNOWN_SIDE_DOOR_BUGS.get((method, row.path))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(method, row, id=f"{method} {row.path}", marks=marks)


@pytest.mark.parametrize(("method", "row"), list(_side_doors()))
def test_options_and_head_are_no_side_door(method: str, row: Row, world: World, db):
    """OPTIONS and HEAD are not in the matrix; for nobody may they be a 5xx or a way round it."""
    probe = Row(method=method, path=row.path, allow=row.allow)
    for actor in ACTORS:
        response = send(world, probe, actor, None)
        content = content_of(response)
        assert response.status_code < 500, f"{actor}: {_describe(response, content)}"
        shown = set(leaked(world, content)) - canaries_visible_to(actor) - row.exempt
        assert not shown, f"{actor} was shown {sorted(shown)}: {_describe(response, content)}"


def test_the_canaries_are_there_for_those_who_may_see_them(world: World, db):
    """The leak checks above are only as good as the canaries: every one of them is found by an
    admin reading A's data through the GET rows. Running last, it also shows that the cells before
    it (deletes included) left the world as it was."""
    found: set[str] = set()
    for row in MATRIX:
        if row.method == "GET" and "admin" in row.allow:
            found |= set(leaked(world, content_of(send(world, row, "admin", None))))
    assert found == set(world.canaries), f"never seen: {sorted(set(world.canaries) - found)}"
