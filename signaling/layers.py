"""Channel layer: Redis between processes, a direct hand-off inside one.

channels-redis sends every message through Redis, even when sender and receiver are sockets of the
same process, as a consultation's two participants often are. A group message then costs four
Redis round trips on the way out and a pop plus a decode on the way in, about 1 ms of CPU per
relayed frame. ``LocalFirstRedisChannelLayer`` hands messages for sockets of this process straight
to their inbox and uses Redis only for the members that live in other processes.

Order is kept: from one sender to one receiver a message always takes the same path (local if both
are in this process, Redis otherwise), and each path is first in, first out. Locally delivered
messages are shared, not copied, between the group's members: handlers must not mutate events.

``group_send_relay`` is ``group_send`` for frames that need not reach a member who joined in another
process a moment ago, before this process heard of it (relayed frames: a client only addresses a
peer it has heard of). It asks Redis who is in the group at most every ``members_cache_seconds``
for groups with a member in this process. Every ``group_add`` and ``group_discard``, after changing
Redis, sends ``layer.members_changed`` to each other process with a member in the group (one message
per process, addressed to any of its channels there). channels-redis delivers all of a process's
channels from one Redis queue, in order, and the layer drops the group's cached members as it pops
that message, before it pops anything sent later to any socket of the process: whatever tells a
socket about the new member (the join announcement, the member's first frame) comes after the drop,
so the next relay reaches the member. The time limit only covers what that message cannot: a
message dropped at capacity, Redis losing data, memberships that outlive ``group_expiry``.
``group_send`` always asks Redis: a sequenced frame committed after a member joined (and read the
room's position) must reach it even if this process has not yet heard of the join.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections import deque
from typing import Any

import redis.asyncio
from channels.exceptions import ChannelFull, StopConsumer
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from redis.exceptions import NoScriptError, RedisError

logger = logging.getLogger("telehealth.signaling")
CANCEL_GRACE_SECONDS = 2

# channels-redis' group insert: add to each channel's sorted set unless it is at capacity.
_GROUP_SEND_LUA = """
local over_capacity = 0
local current_time = ARGV[#ARGV - 1]
local expiry = ARGV[#ARGV]
for i=1,#KEYS do
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
        redis.call('ZADD', KEYS[i], current_time, ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
"""
_GROUP_SEND_SHA = hashlib.sha1(_GROUP_SEND_LUA.encode()).hexdigest()  # noqa: S324 - Redis' script id
# Between layers only: ``receive`` never hands it to a consumer.
MEMBERS_CHANGED = "layer.members_changed"
# To every local socket when a pop from Redis fails: see ``LocalFirstRedisChannelLayer.receive``.
LAYER_FAILED = "layer.failed"


class LocalFirstRedisChannelLayer(RedisChannelLayer):
    # redis-py shields a command from cancellation, so a socket that closes while its receive
    # holds the BZPOPMIN waits for the pop to time out; channels-redis' 5 s made daphne kill such
    # sockets' apps (its 10 s shutdown limit) when Redis was quiet. One pop a second is cheap.
    brpop_timeout = 1

    def __init__(self, *args: Any, members_cache_seconds: float = 2.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.members_cache_seconds = members_cache_seconds
        self._inboxes: dict[str, Inbox] = {}
        self._local_groups: dict[str, set[str]] = {}
        # group -> (monotonic expiry, every member in Redis, ours included)
        self._members: dict[str, tuple[float, list[str]]] = {}
        # A lookup that was under way while its group's cache was dropped must not fill the cache:
        # drops are numbered, and a local group remembers the number of its last drop.
        self._drops = 0
        self._dropped_at: dict[str, int] = {}
        self._told_failed: set[str] = set()  # local channels sent ``LAYER_FAILED``

    def create_pool(self, index: int) -> redis.asyncio.ConnectionPool:
        # redis-py's default pool raises MaxConnectionsError once 100 connections are in use, which
        # a burst of connects or disconnects reaches (every socket's group_add and group_discard is
        # a command in flight): wait for a connection instead (``max_connections``, ``timeout``).
        host = dict(self.hosts[index])
        if "address" not in host:
            return super().create_pool(index)
        return redis.asyncio.BlockingConnectionPool.from_url(host.pop("address"), **host)

    # --- Process-local channels (registered by ``LocalDeliveryMixin``) ----------------------------

    def open_inbox(self, channel: str) -> Inbox:
        inbox = self._inboxes[channel] = Inbox(self.get_capacity(channel))
        return inbox

    def close_inbox(self, channel: str) -> None:
        self._inboxes.pop(channel, None)
        self._told_failed.discard(channel)
        for group, members in list(self._local_groups.items()):
            members.discard(channel)
            if not members:
                self._forget_members(group)
                self._leave_local_group(group)

    # --- Channel layer API --------------------------------------------------------------------------

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        inbox = self._inboxes.get(channel)
        if inbox is None:
            await super().send(channel, message)
        elif inbox.full():
            raise ChannelFull()
        else:
            inbox.put_nowait(message)

    async def receive_single(self, channel: str) -> tuple[Any, dict[str, Any]]:
        # Every receive of the process pops through here, in Redis' order: see the module docstring.
        while True:
            target, message = await super().receive_single(channel)
            if message.get("type") != MEMBERS_CHANGED:
                return target, message
            self._forget_members(message["group"])

    async def receive(self, channel: str) -> dict[str, Any]:
        try:
            return await super().receive(channel)
        except (RedisError, OSError) as error:
            # Messages for any socket of this process may have been lost with Redis, and its groups
            # too if Redis comes back empty; the pop's other waiters would not notice a quick
            # restart. Every local socket hears of it (``LAYER_FAILED``) and can close for its
            # client to reconnect and resume from the database.
            # Once per socket: each waiter's pop fails in turn while Redis is away.
            untold = [name for name in self._inboxes if name not in self._told_failed]
            logger.warning("Channel layer receive failed: %r; telling %d local sockets", error, len(untold))
            for name in untold:
                self._told_failed.add(name)
                self._inboxes[name].put_event({"type": LAYER_FAILED})
            raise

    async def group_add(self, group: str, channel: str) -> None:
        """channels-redis' ``group_add`` (ZADD, EXPIRE) and the member lookup for the change notices
        in one round trip (channels-redis alone makes two). The members read are cached: the join
        announcement that usually follows needs no lookup of its own."""
        assert self.require_valid_group_name(group), "Group name not valid"
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        # Local first: a group_send in between then skips the channel's Redis copy.
        if channel in self._inboxes:
            self._local_groups.setdefault(group, set()).add(channel)
        await self._change_members(group, add=channel)

    async def group_discard(self, group: str, channel: str) -> None:
        assert self.require_valid_group_name(group), "Group name not valid"
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        members = self._local_groups.get(group)
        if members is not None:
            members.discard(channel)
            if not members:
                self._leave_local_group(group)
        await self._change_members(group, remove=channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await self._group_send(group, message, cached=False)

    async def group_send_relay(self, group: str, message: dict[str, Any]) -> None:
        """``group_send`` that may use this process's cached view of the group (module docstring)."""
        await self._group_send(group, message, cached=True)

    async def _group_send(self, group: str, message: dict[str, Any], *, cached: bool) -> None:
        # Local members first, so their latency does not include the Redis round trips below.
        for channel in tuple(self._local_groups.get(group, ())):
            inbox = self._inboxes.get(channel)
            if inbox is None:
                continue
            if inbox.full():
                logger.info("Channel %s of group %s is over capacity", channel, group)
            else:
                inbox.put_nowait(message)
        members = await self._group_members(group, cached=cached)
        remote = [name for name in members if name not in self._inboxes]
        if remote:
            await self._send_remote(group, remote, message)

    # --- Group membership in other processes ------------------------------------------------------

    async def _group_members(self, group: str, *, cached: bool) -> list[str]:
        """Every channel in the group, from the cache when allowed and fresh. Only groups with a
        member in this process are cached: only they hear of changes made elsewhere."""
        if cached and group in self._local_groups:
            entry = self._members.get(group)
            if entry is not None and entry[0] > time.monotonic():
                return entry[1]
        return await self._read_members(group)

    async def _read_members(
        self, group: str, *, add: str | None = None, remove: str | None = None
    ) -> list[str]:
        """One round trip: the change (if any), the expiry of stale members, the member list."""
        started = self._drops
        key = self._group_key(group)
        connection = self.connection(self.consistent_hash(group))
        now = time.time()
        async with connection.pipeline(transaction=False) as pipe:
            if add is not None:
                pipe.zadd(key, {add: now})
                # Everything in the set expires before this: see channels-redis' ``group_add``.
                pipe.expire(key, self.group_expiry)
            if remove is not None:
                pipe.zrem(key, remove)
            pipe.zremrangebyscore(key, min=0, max=int(now) - self.group_expiry)
            pipe.zrange(key, 0, -1)
            *_, raw = await pipe.execute()
        members = [name.decode() for name in raw]
        if group in self._local_groups and self._dropped_at.get(group, 0) <= started:
            self._members[group] = (time.monotonic() + self.members_cache_seconds, members)
        return members

    def _forget_members(self, group: str) -> None:
        self._members.pop(group, None)
        self._drops += 1
        if group in self._local_groups:
            self._dropped_at[group] = self._drops

    def _leave_local_group(self, group: str) -> None:
        del self._local_groups[group]
        self._members.pop(group, None)
        # A lookup under way cannot fill the cache now (the group is not local), and a later
        # ``group_add`` numbers a new drop before its own lookup starts.
        self._dropped_at.pop(group, None)

    async def _change_members(self, group: str, *, add: str | None = None, remove: str | None = None) -> None:
        """Change the group in Redis, then tell the other processes with members (one message
        each) to drop their cached copy; ours is replaced by what the change read."""
        self._forget_members(group)
        members = await self._read_members(group, add=add, remove=remove)
        ours = self.client_prefix + "!"
        by_process: dict[str, str] = {}  # "specific.<process>!" -> one of its channels in the group
        for name in members:
            process = self.non_local_name(name)
            if process != name and not process.endswith(ours):  # only process channels cache
                by_process.setdefault(process, name)
        if by_process:
            message = {"type": MEMBERS_CHANGED, "group": group}
            await self._send_remote(group, list(by_process.values()), message)

    async def _send_remote(self, group: str, channels: list[str], message: dict[str, Any]) -> None:
        """channels-redis' capacity-checked insert, as one cached script per Redis server."""
        by_connection, messages, capacities = self._map_channel_keys_to_connection(channels, message)
        for index, keys in by_connection.items():
            server = self.connection(index)
            payloads, limits = [messages[k] for k in keys], [capacities[k] for k in keys]
            args = [*keys, *payloads, *limits, time.time(), self.expiry]
            try:
                over = await server.evalsha(_GROUP_SEND_SHA, len(keys), *args)
            except NoScriptError:  # first use on this Redis server (or after SCRIPT FLUSH)
                over = await server.eval(_GROUP_SEND_LUA, len(keys), *args)
            if over:
                logger.info("%s of %s channels over capacity in group %s", over, len(channels), group)


class _Failed:
    def __init__(self, error: Exception) -> None:
        self.error = error


class Inbox:
    """One socket's messages from every source, in arrival order: the layer's (handed over here or
    popped from Redis) and the websocket's events, so that its consumer waits on one queue. Layer
    messages are limited to ``capacity``; websocket events are not (daphne queues them without
    limit anyway). One reader, and one writer that waits for room (``put``)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque[tuple[bool, Any]] = deque()
        self._counted = 0
        self._getter: asyncio.Future | None = None
        self._room: asyncio.Future | None = None

    def full(self) -> bool:
        return self._counted >= self.capacity

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, message: dict[str, Any]) -> None:
        """A layer message; raises ``asyncio.QueueFull`` at capacity."""
        if self._counted >= self.capacity:
            raise asyncio.QueueFull
        self._counted += 1
        self._append(True, message)

    async def put(self, message: dict[str, Any]) -> None:
        """A layer message that may wait for room (the rest stay in channels-redis' buffer)."""
        while self._counted >= self.capacity:
            self._room = asyncio.get_running_loop().create_future()
            await self._room
        self.put_nowait(message)

    def put_event(self, event: dict[str, Any]) -> None:
        """A websocket event."""
        self._append(False, event)

    def fail(self, error: Exception) -> None:
        """Make the reader's next ``get`` raise ``error`` (a source broke)."""
        self._append(False, _Failed(error))

    def _append(self, counted: bool, item: Any) -> None:
        self._items.append((counted, item))
        if self._getter is not None and not self._getter.done():
            self._getter.set_result(None)

    def get_nowait(self) -> dict[str, Any]:
        if not self._items:
            raise asyncio.QueueEmpty
        counted, item = self._items.popleft()
        if counted:
            self._counted -= 1
            if self._room is not None and not self._room.done():
                self._room.set_result(None)
        if isinstance(item, _Failed):
            raise item.error
        return item

    async def get(self) -> dict[str, Any]:
        while not self._items:
            self._getter = asyncio.get_running_loop().create_future()
            await self._getter
        return self.get_nowait()


class LocalDeliveryMixin:
    """For ``AsyncConsumer`` subclasses: with ``LocalFirstRedisChannelLayer``, the consumer reads
    its process-local inbox, into which its websocket and its Redis channel are forwarded.
    Otherwise it behaves exactly as Channels' own ``__call__``."""

    async def group_send_relay(self, group: str, message: dict[str, Any]) -> None:
        """Send a relayed frame's event: see ``LocalFirstRedisChannelLayer.group_send_relay``."""
        if isinstance(self.channel_layer, LocalFirstRedisChannelLayer):
            await self.channel_layer.group_send_relay(group, message)
        else:
            await self.channel_layer.group_send(group, message)

    async def __call__(self, scope, receive, send):
        layer = get_channel_layer(self.channel_layer_alias)
        if not isinstance(layer, LocalFirstRedisChannelLayer):
            return await super().__call__(scope, receive, send)
        self.scope = scope
        self.channel_layer = layer
        self.channel_name = await layer.new_channel()
        self.channel_receive = functools.partial(layer.receive, self.channel_name)
        self.base_send = send
        inbox = layer.open_inbox(self.channel_name)
        # Channels waits on all three sources with asyncio.wait and a new task per message; one
        # queue hands a local message to the consumer in one step, which is most of them.
        forwarders = [
            asyncio.ensure_future(_forward(receive, inbox, layer_messages=False)),
            asyncio.ensure_future(_forward(self.channel_receive, inbox, layer_messages=True)),
        ]
        try:
            while True:
                await self.dispatch(await inbox.get())
        except StopConsumer:
            pass
        finally:
            layer.close_inbox(self.channel_name)
            for task in forwarders:
                task.cancel()
            # A Redis pop that redis-py shields from cancellation can take a long time to let go,
            # and daphne kills (and logs) apps that take 10 s to finish: wait a little, not forever.
            await asyncio.wait(forwarders, timeout=CANCEL_GRACE_SECONDS)


async def _forward(source, inbox: Inbox, *, layer_messages: bool) -> None:
    try:
        while True:
            message = await source()
            if layer_messages:
                await inbox.put(message)
            else:
                inbox.put_event(message)
    except Exception as error:
        if layer_messages and isinstance(error, (RedisError, OSError)):
            return  # the layer queued ``LAYER_FAILED`` for the consumer: see its ``receive``
        inbox.fail(error)  # the consumer raises it, as it would have from the source itself
