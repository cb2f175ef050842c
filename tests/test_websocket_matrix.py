"""The websocket half of the access matrix: every route of ``telehealth.routing`` by every member of
the cast. Allowed: the socket opens and its first frame comes. Denied: the socket closes with the
documented code (4401 anonymous; 4403, 4404 or 4409 for the rest) before any frame, and nothing a
denied actor receives carries patient A's health data. Same cast, scenario and canaries as the REST
matrix (``tests/permission_matrix.py``).

The scenario is built once for the module and committed, since the sockets read it from the
storage threads' own connections; the database is flushed after the module.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass, field

import pytest
from channels.db import database_sync_to_async as sync_to_async
from django.core.management import call_command
from django.urls import URLPattern, URLResolver

from clinical.models.patients import private_storage
from telehealth.notifications.models import Notification
from telehealth.notifications.services import notify
from telehealth.routing import websocket_urlpatterns
from tests.permission_matrix import (
    ACTORS,
    ANONYMOUS,
    AUTHENTICATED,
    DOCTOR_OF_A,
    PATIENT_A,
    World,
    build_world,
    canaries_visible_to,
)
from tests.ws_clients import RoomClient
from tests.ws_connect import open_socket

# The world is committed by the module fixture; the marker only has pytest-django set up the test
# database (it sets up only the databases that marked tests use).
pytestmark = pytest.mark.django_db

# --- The table -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WsRow:
    path: str  # a template over World.ids
    allow: frozenset[str]
    first_frame: str  # what an allowed socket receives first
    settled_frame: str  # the last of the frames every new socket gets
    # Close codes of denied authenticated actors: ``denied_code`` unless named in ``codes``.
    denied_code: int = 4403
    codes: dict[str, int] = field(default_factory=dict)
    note: str = ""

    def expected_close(self, actor: str) -> int:
        if actor == ANONYMOUS:
            return 4401
        return self.codes.get(actor, self.denied_code)

    @property
    def label(self) -> str:
        return self.path + (f" ({self.note})" if self.note else "")


NOT_A_CONSULTATION = str(uuid.UUID(int=0xA11CE))

WS_MATRIX = [
    # Only the consultation's two parties; admins too are refused (PROTOCOL.md, "Who may join").
    WsRow(
        "/ws/consultations/{c.live}/",
        frozenset({PATIENT_A, DOCTOR_OF_A}),
        first_frame="room_state",
        settled_frame="participants",
        note="A with the doctor of A, in progress",
    ),
    WsRow(
        "/ws/consultations/{c.done}/",
        frozenset(),
        first_frame="room_state",
        settled_frame="participants",
        codes={PATIENT_A: 4409, DOCTOR_OF_A: 4409},
        note="completed: not joinable even for its parties",
    ),
    WsRow(
        "/ws/consultations/" + NOT_A_CONSULTATION + "/",
        frozenset(),
        first_frame="room_state",
        settled_frame="participants",
        denied_code=4404,
        note="no such consultation",
    ),
    WsRow(
        "/ws/consultations/not-a-uuid/",
        frozenset(),
        first_frame="room_state",
        settled_frame="participants",
        denied_code=4404,
        note="not a UUID",
    ),
    # Any signed-in user, who sees their own notifications only (checked below).
    WsRow("/ws/notifications/?last_id=0", AUTHENTICATED, first_frame="connected", settled_frame="connected"),
]


def websocket_routes() -> list[str]:
    """Every websocket URL pattern, as Channels joins them."""
    routes: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern).removeprefix("^") if prefix else str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                routes.append(route)

    walk(websocket_urlpatterns, "")
    return routes


def route_of(path: str) -> str | None:
    target = path.lstrip("/").partition("?")[0]
    for pattern in websocket_urlpatterns:
        if pattern.pattern.match(target):
            return str(pattern.pattern)
    return None


# --- Fixtures ---------------------------------------------------------------------------------------


def _point_storage_at(location: str) -> None:
    # As in test_permission_matrix: ``private_storage`` was built at import with a fixed location.
    private_storage._location = location
    private_storage.__dict__.pop("base_location", None)
    private_storage.__dict__.pop("location", None)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    original = private_storage._location
    _point_storage_at(str(tmp_path_factory.mktemp("ws-matrix-media") / "private"))
    with django_db_blocker.unblock():
        try:
            yield build_world()
        finally:
            call_command("flush", interactive=False, verbosity=0)
            _point_storage_at(original)


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """channels-redis binds its locks to the event loop that made it; every async test has its own."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
async def sockets(world):
    """``await sockets(actor, path)``: an open (or refused) socket, closed after the test."""
    clients: list[RoomClient] = []

    async def connect(actor: str, path: str) -> RoomClient:
        client = await open_socket(world.path(path), None if actor == ANONYMOUS else world.tokens[actor])
        clients.append(client)
        return client

    yield connect
    for client in clients:
        with contextlib.suppress(Exception):
            await client.leave()


def leaked(world: World, frames: list[dict], actor: str) -> dict[str, str]:
    text = json.dumps(frames).lower()
    visible = canaries_visible_to(actor)
    return {
        kind: value for kind, value in world.canaries.items() if kind not in visible and value.lower() in text
    }


# --- Coverage ---------------------------------------------------------------------------------------


def test_every_websocket_route_is_in_the_matrix():
    covered = {route_of(row.path) for row in WS_MATRIX}
    assert None not in covered, "a matrix row matches no websocket route"
    missing = [route for route in websocket_routes() if route not in covered]
    assert not missing, f"websocket routes without a row in WS_MATRIX: {missing}"


def test_the_matrix_names_every_actor():
    assert set(ACTORS) == AUTHENTICATED | {ANONYMOUS}


# --- The cells --------------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("row", WS_MATRIX, ids=lambda row: row.label)
async def test_cell(world, sockets, row: WsRow, actor: str):
    client = await sockets(actor, row.path)
    if actor in row.allow:
        assert client.connected, f"{actor} was refused the handshake"
        first = await client.receive(5)
        assert first["type"] == row.first_frame
        await client.expect(row.settled_frame, timeout=5)
        frames = client.frames + await client.drain(0.3)
    else:
        code = await client.closed(5)
        assert code == row.expected_close(actor), f"{actor} closed with {code}"
        frames = client.frames
        assert frames == [], f"a denied socket got frames: {[f['type'] for f in frames]}"
    assert not leaked(world, frames, actor)


# --- Notifications: each user's own, nobody else's ------------------------------------------------


def _ids_of(user) -> set[int]:
    return set(Notification.objects.filter(recipient=user).values_list("pk", flat=True))


@pytest.mark.parametrize("actor", sorted(AUTHENTICATED - {PATIENT_A}))
async def test_nobody_else_receives_a_notification_for_a(world, sockets, actor: str):
    a_socket = await sockets(PATIENT_A, "/ws/notifications/")
    other = await sockets(actor, "/ws/notifications/?last_id=0")
    for client in (a_socket, other):
        await client.expect("connected", timeout=5)
        # Answered once the connect (and the replay) is done: SQLite's shared in-memory test
        # database refuses a write while another thread reads the same table.
        assert (await client.request({"type": "ping", "id": "settled"}, timeout=5))["type"] == "pong"

    # No health data in it: A's notifications are A's, whatever they say.
    sent = await sync_to_async(notify)(world.users[PATIENT_A], "appointment_reminder", title="Matrix check")
    assert (await a_socket.expect("notification", timeout=5))["notification"]["id"] == sent.pk
    received = other.frames + await other.drain(0.5)

    got = {f["notification"]["id"] for f in received if f["type"] == "notification"}
    assert got <= await sync_to_async(_ids_of)(world.users[actor])
    assert sent.pk not in got
    assert not got & await sync_to_async(_ids_of)(world.users[PATIENT_A])
    assert not leaked(world, received, actor)


async def test_a_replays_their_own_notifications(world, sockets):
    """The positive control of the test above: A's own inbox does come through."""
    client = await sockets(PATIENT_A, "/ws/notifications/?last_id=0")
    await client.expect("connected", timeout=5)
    await client.expect("notification", timeout=5)
    received = client.frames + await client.drain(0.5)
    got = {f["notification"]["id"] for f in received if f["type"] == "notification"}
    assert int(world.ids["n.a"]) in got
    assert got <= await sync_to_async(_ids_of)(world.users[PATIENT_A])
