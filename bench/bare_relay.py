"""Baseline for ``bench/signaling.py``: the least a signaling relay can do, with ``websockets``.

Rooms of sockets keyed by the URL path. On connect the server sends ``{"type": "hello"}``; then
every text frame is relayed to the other socket(s) of the room, except:

* ``{"type": "ping", "id": ...}`` is answered with ``{"type": "pong", "id": ...}``;
* ``{"type": "chat_message", "id": ...}`` is answered with an ``ack`` (so a sender can keep a
  window of unacknowledged messages, like with the real server) and relayed. With ``--store`` the
  message is first inserted into a table of the given database (one INSERT in autocommit on a
  pool of ``--store-threads`` connections), to show what storing costs without Django.

No authentication, no validation, no presence, no channel layer, no compression (the bench turns
permessage-deflate off on both servers: daphne does not negotiate it).

    python bench/bare_relay.py --port 8765 [--store postgresql://...|sqlite:///path]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sqlite3
import threading

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

SUBPROTOCOL = "telehealth.v1"
HELLO = json.dumps({"type": "hello"})
TABLE = "bench_bare_chat"


class PostgresStore:
    def __init__(self, url: str, size: int) -> None:
        from psycopg_pool import AsyncConnectionPool

        self.pool = AsyncConnectionPool(
            url, min_size=size, max_size=size, kwargs={"autocommit": True}, open=False
        )

    async def open(self) -> None:
        await self.pool.open(wait=True)
        async with self.pool.connection() as conn:
            await conn.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, room text NOT NULL,"
                " client_id text NOT NULL, body text NOT NULL, created_at timestamptz DEFAULT now())"
            )

    async def insert(self, room: str, client_id: str, body: str) -> int:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(
                f"INSERT INTO {TABLE} (room, client_id, body) VALUES (%s, %s, %s) RETURNING id",  # noqa: S608 - constant table
                (room, client_id, body),
            )
            return (await cursor.fetchone())[0]


class SqliteStore:
    """SQLite serialises writes anyway: one connection behind a lock, used from worker threads."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=20)
        self.lock = threading.Lock()

    async def open(self) -> None:
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY, room TEXT, client_id TEXT,"
            " body TEXT, created_at TEXT DEFAULT CURRENT_TIMESTAMP)"
        )

    def _insert(self, room: str, client_id: str, body: str) -> int:
        with self.lock:
            cursor = self.conn.execute(
                f"INSERT INTO {TABLE} (room, client_id, body) VALUES (?, ?, ?)",  # noqa: S608 - constant table
                (room, client_id, body),
            )
            return cursor.lastrowid

    async def insert(self, room: str, client_id: str, body: str) -> int:
        return await asyncio.to_thread(self._insert, room, client_id, body)


class Relay:
    def __init__(self, store: PostgresStore | SqliteStore | None) -> None:
        self.store = store
        self.rooms: dict[str, set[ServerConnection]] = {}

    async def handler(self, ws: ServerConnection) -> None:
        room = ws.request.path
        members = self.rooms.setdefault(room, set())
        members.add(ws)
        try:
            await ws.send(HELLO)
            async for message in ws:
                if not isinstance(message, str):
                    continue
                try:
                    frame = json.loads(message)
                    kind = frame.get("type")
                except (ValueError, AttributeError):
                    continue
                if kind == "ping":
                    await ws.send(json.dumps({"type": "pong", "id": frame.get("id")}))
                    continue
                if kind == "chat_message":
                    extra = ""
                    if self.store is not None:
                        server_id = await self.store.insert(room, str(frame.get("id")), message)
                        extra = f',"server_id":{server_id}'
                    await ws.send(
                        f'{{"type":"ack","for":"chat_message","id":{json.dumps(frame.get("id"))}{extra}}}'
                    )
                broadcast([m for m in members if m is not ws], message)
        except ConnectionClosed:  # the bench aborts its sockets instead of closing them
            pass
        finally:
            members.discard(ws)
            if not members:
                self.rooms.pop(room, None)


def make_store(spec: str | None, threads: int) -> PostgresStore | SqliteStore | None:
    if not spec:
        return None
    if spec.startswith("sqlite:///"):
        return SqliteStore(spec.removeprefix("sqlite:///"))
    return PostgresStore(spec, threads)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store", help="postgresql://... or sqlite:///path: store chat messages first")
    parser.add_argument("--backlog", type=int, default=100, help="listen backlog (asyncio's default: 100)")
    parser.add_argument("--store-threads", type=int, default=8, help="database connections (PostgreSQL)")
    args = parser.parse_args()

    store = make_store(args.store, args.store_threads)
    if store is not None:
        await store.open()
    relay = Relay(store)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set_result, None)
    async with serve(
        relay.handler,
        args.host,
        args.port,
        subprotocols=[SUBPROTOCOL],
        compression=None,
        ping_interval=20,
        ping_timeout=30,
        close_timeout=1,  # on shutdown, do not wait for peers the bench has already dropped
        max_queue=64,
        backlog=args.backlog,
    ):
        print(f"bare relay listening on {args.host}:{args.port} store={bool(store)}", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main())
