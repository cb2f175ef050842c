"""Who is in which room, shared by every server process.

One entry per socket (``channel_name``) with the user, role, status (waiting/joined), media state
and ``last_seen``. With ``REDIS_URL`` the entries live in a Redis hash per room, so all processes
see them; without it, in this process's memory. Entries of a process that died stop being
refreshed and are pruned by the survivors once older than the idle timeout.
"""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from typing import Any

from django.conf import settings

Entry = dict[str, Any]
_ROOM_KEY_TTL = 24 * 3600


class MemoryPresence:
    def __init__(self) -> None:
        self.rooms: dict[str, dict[str, Entry]] = {}

    async def put(self, room: str, channel: str, entry: Entry, *, last_seen: float | None = None) -> None:
        await self.put_many([(room, channel, entry)], last_seen=last_seen)

    async def put_many(self, items: list[tuple[str, str, Entry]], *, last_seen: float | None = None) -> None:
        seen = last_seen or time.time()
        for room, channel, entry in items:
            self.rooms.setdefault(room, {})[channel] = {**entry, "last_seen": seen}

    async def enter(self, room: str, channel: str, entry: Entry) -> dict[str, Entry]:
        others = dict(self.rooms.get(room, {}))
        await self.put(room, channel, entry)
        return others

    async def remove(self, room: str, channel: str) -> bool:
        return self.rooms.get(room, {}).pop(channel, None) is not None

    async def entries(self, room: str) -> dict[str, Entry]:
        return dict(self.rooms.get(room, {}))

    def entries_sync(self, room: str) -> dict[str, Entry]:
        return dict(self.rooms.get(room, {}))


class RedisPresence:
    def __init__(self, url: str) -> None:
        self.url = url
        # redis.asyncio clients belong to one event loop; tests run many loops.
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._sync_client = None

    def _client(self):
        import redis.asyncio as redis

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            # A blocking pool: under load callers wait for a connection instead of failing.
            pool = redis.BlockingConnectionPool.from_url(
                self.url, max_connections=64, timeout=10, socket_connect_timeout=3, socket_timeout=5
            )
            client = redis.Redis(connection_pool=pool)
            self._clients[loop] = client
        return client

    @staticmethod
    def _key(room: str) -> str:
        return f"telehealth:presence:{room}"

    async def put(self, room: str, channel: str, entry: Entry, *, last_seen: float | None = None) -> None:
        await self.put_many([(room, channel, entry)], last_seen=last_seen)

    async def put_many(
        self, items: list[tuple[str, str, Entry]], *, last_seen: float | None = None, batch: int = 500
    ) -> None:
        """Write many entries in few round trips (the sweeper's heartbeat for every socket)."""
        client = self._client()
        now = last_seen or time.time()
        for start in range(0, len(items), batch):
            async with client.pipeline(transaction=False) as pipe:
                for room, channel, entry in items[start : start + batch]:
                    key = self._key(room)
                    pipe.hset(key, channel, json.dumps({**entry, "last_seen": now}))
                    pipe.expire(key, _ROOM_KEY_TTL)
                await pipe.execute()

    async def enter(self, room: str, channel: str, entry: Entry) -> dict[str, Entry]:
        """The room's entries as they were, and ours written, in one round trip."""
        key = self._key(room)
        async with self._client().pipeline(transaction=False) as pipe:
            pipe.hgetall(key)
            pipe.hset(key, channel, json.dumps({**entry, "last_seen": time.time()}))
            pipe.expire(key, _ROOM_KEY_TTL)
            raw, *_ = await pipe.execute()
        return {name.decode(): json.loads(value) for name, value in raw.items()}

    async def remove(self, room: str, channel: str) -> bool:
        return bool(await self._client().hdel(self._key(room), channel))

    async def entries(self, room: str) -> dict[str, Entry]:
        raw = await self._client().hgetall(self._key(room))
        return {channel.decode(): json.loads(value) for channel, value in raw.items()}

    def entries_sync(self, room: str) -> dict[str, Entry]:
        """For synchronous callers (views, Celery tasks) that have no event loop to lend."""
        if self._sync_client is None:
            import redis

            self._sync_client = redis.Redis.from_url(self.url, socket_connect_timeout=3, socket_timeout=5)
        raw = self._sync_client.hgetall(self._key(room))
        return {channel.decode(): json.loads(value) for channel, value in raw.items()}


_store: MemoryPresence | RedisPresence | None = None


def get_presence() -> MemoryPresence | RedisPresence:
    global _store
    if _store is None or (isinstance(_store, RedisPresence) and _store.url != settings.REDIS_URL):
        _store = RedisPresence(settings.REDIS_URL) if settings.REDIS_URL else MemoryPresence()
    return _store


def is_stale(entry: Entry, now: float | None = None) -> bool:
    return (now or time.time()) - entry.get("last_seen", 0) > settings.WS_IDLE_TIMEOUT_SECONDS


def participants(entries: dict[str, Entry]) -> list[Entry]:
    """One item per user (a user may have several sockets), joined before waiting."""
    by_user: dict[str, Entry] = {}
    for entry in entries.values():
        if is_stale(entry):
            continue
        current = by_user.get(entry["user_id"])
        if current is None or (current["status"] != "joined" and entry["status"] == "joined"):
            by_user[entry["user_id"]] = entry
    return [
        {key: entry[key] for key in ("user_id", "role", "name", "status", "media")}
        for entry in sorted(by_user.values(), key=lambda e: (e["status"] != "joined", e["role"]))
    ]
