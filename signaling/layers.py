"""Channel layer: Redis between processes, a direct hand-off inside one.

channels-redis sends every message through Redis, even when sender and receiver are sockets of the
same process, as a consultation's two participants often are. A group message then costs four
Redis round trips on the way out and a pop plus a decode on the way in, about 1 ms of CPU per
relayed frame. ``LocalFirstRedisChannelLayer`` hands messages for sockets of this process straight
to their inbox and uses Redis only for the members that live in other processes.

Order is kept: from one sender to one receiver a message always takes the same path (local if both
are in this process, Redis otherwise), and each path is first in, first out. Locally delivered
messages are shared, not copied, between the group's members: handlers must not mutate events.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from typing import Any

from channels.exceptions import ChannelFull, StopConsumer
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from redis.exceptions import NoScriptError

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


class LocalFirstRedisChannelLayer(RedisChannelLayer):
    # redis-py shields a command from cancellation, so a socket that closes while its receive
    # holds the BZPOPMIN waits for the pop to time out; channels-redis' 5 s made daphne kill such
    # sockets' apps (its 10 s shutdown limit) when Redis was quiet. One pop a second is cheap.
    brpop_timeout = 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._inboxes: dict[str, asyncio.Queue] = {}
        self._local_groups: dict[str, set[str]] = {}

    # --- Process-local channels (registered by ``LocalDeliveryMixin``) ----------------------------

    def open_inbox(self, channel: str) -> asyncio.Queue:
        inbox = self._inboxes[channel] = asyncio.Queue(maxsize=self.get_capacity(channel))
        return inbox

    def close_inbox(self, channel: str) -> None:
        self._inboxes.pop(channel, None)
        for group, members in list(self._local_groups.items()):
            members.discard(channel)
            if not members:
                del self._local_groups[group]

    # --- Channel layer API --------------------------------------------------------------------------

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        inbox = self._inboxes.get(channel)
        if inbox is None:
            await super().send(channel, message)
        elif inbox.full():
            raise ChannelFull()
        else:
            inbox.put_nowait(message)

    async def group_add(self, group: str, channel: str) -> None:
        # Local first: a group_send in between then skips the channel's Redis copy.
        if channel in self._inboxes:
            self._local_groups.setdefault(group, set()).add(channel)
        await super().group_add(group, channel)

    async def group_discard(self, group: str, channel: str) -> None:
        await super().group_discard(group, channel)
        members = self._local_groups.get(group)
        if members is not None:
            members.discard(channel)
            if not members:
                del self._local_groups[group]

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        # Local members first, so their latency does not include the Redis round trips below.
        for channel in tuple(self._local_groups.get(group, ())):
            inbox = self._inboxes.get(channel)
            if inbox is None:
                continue
            if inbox.full():
                logger.info("Channel %s of group %s is over capacity", channel, group)
            else:
                inbox.put_nowait(message)
        # The members in other processes: one round trip (channels-redis makes two) ...
        key = self._group_key(group)
        connection = self.connection(self.consistent_hash(group))
        async with connection.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(key, min=0, max=int(time.time()) - self.group_expiry)
            pipe.zrange(key, 0, -1)
            _, members = await pipe.execute()
        remote = [name for name in (m.decode() for m in members) if name not in self._inboxes]
        if not remote:
            return
        # ... then channels-redis' capacity-checked insert, as one cached script per Redis server.
        by_connection, messages, capacities = self._map_channel_keys_to_connection(remote, message)
        for index, keys in by_connection.items():
            server = self.connection(index)
            payloads, limits = [messages[k] for k in keys], [capacities[k] for k in keys]
            args = [*keys, *payloads, *limits, time.time(), self.expiry]
            try:
                over = await server.evalsha(_GROUP_SEND_SHA, len(keys), *args)
            except NoScriptError:  # first use on this Redis server (or after SCRIPT FLUSH)
                over = await server.eval(_GROUP_SEND_LUA, len(keys), *args)
            if over:
                logger.info("%s of %s channels over capacity in group %s", over, len(remote), group)


class LocalDeliveryMixin:
    """For ``AsyncConsumer`` subclasses: with ``LocalFirstRedisChannelLayer``, the consumer also
    listens on its process-local inbox. Otherwise it behaves exactly as Channels' own ``__call__``."""

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
        sources = [receive, self.channel_receive, inbox.get]
        waiting = [asyncio.ensure_future(source()) for source in sources]
        try:
            while True:  # Channels' await_many_dispatch, but see the finally clause
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                for index, task in enumerate(waiting):
                    if task.done():
                        await self.dispatch(task.result())
                        waiting[index] = asyncio.ensure_future(sources[index]())
        except StopConsumer:
            pass
        finally:
            layer.close_inbox(self.channel_name)
            for task in waiting:
                task.cancel()
            # A Redis pop that redis-py shields from cancellation can take a long time to let go,
            # and daphne kills (and logs) apps that take 10 s to finish: wait a little, not forever.
            await asyncio.wait(waiting, timeout=CANCEL_GRACE_SECONDS)
