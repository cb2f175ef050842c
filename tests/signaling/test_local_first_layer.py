"""``LocalFirstRedisChannelLayer``: sockets of one process get messages straight from memory, the
others through Redis; nothing is delivered twice and order holds. Relayed frames use a cached view of
the other processes' members, which every join or leave elsewhere drops. Two layer instances stand
for two server processes."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from channels.exceptions import ChannelFull
from django.conf import settings

from signaling.layers import LocalFirstRedisChannelLayer

pytestmark = pytest.mark.redis


def two_processes(members_cache_seconds: float):
    prefix = f"test-layer-{uuid.uuid4().hex[:8]}"
    config = {
        "hosts": [{"address": settings.REDIS_URL, "socket_timeout": 30}],
        "prefix": prefix,
        "members_cache_seconds": members_cache_seconds,
    }
    return LocalFirstRedisChannelLayer(**config), LocalFirstRedisChannelLayer(**config)


@pytest.fixture
async def processes():
    # Cached members outlive every test: only a members_changed notice can explain a delivery.
    here, there = two_processes(members_cache_seconds=60)
    yield here, there
    await here.flush()
    for layer in (here, there):
        await layer.close_pools()


@pytest.fixture
async def quickly_expiring_processes():
    here, there = two_processes(members_cache_seconds=1)
    yield here, there
    await here.flush()
    for layer in (here, there):
        await layer.close_pools()


async def socket_in(layer: LocalFirstRedisChannelLayer) -> tuple[str, asyncio.Queue]:
    channel = await layer.new_channel()
    return channel, layer.open_inbox(channel)


async def queued_in_redis(layer: LocalFirstRedisChannelLayer, channel: str) -> int:
    connection = layer.connection(layer.consistent_hash(layer.non_local_name(channel)))
    return await connection.zcard(layer.prefix + layer.non_local_name(channel))


async def nothing_arrives(layer: LocalFirstRedisChannelLayer, channel: str) -> bool:
    try:
        await asyncio.wait_for(layer.receive(channel), timeout=0.3)
    except TimeoutError:
        return True
    return False


async def received(layer: LocalFirstRedisChannelLayer, channel: str) -> dict:
    return await asyncio.wait_for(layer.receive(channel), timeout=3)


async def join_behind_the_layers_back(layer: LocalFirstRedisChannelLayer, group: str, channel: str) -> None:
    """A member that no layer tells anybody about (as after a lost notice)."""
    connection = layer.connection(layer.consistent_hash(group))
    await connection.zadd(layer._group_key(group), {channel: time.time()})


async def test_send_to_a_local_socket_skips_redis(processes):
    here, _ = processes
    channel, inbox = await socket_in(here)
    await here.send(channel, {"type": "room.relay", "n": 1})
    assert inbox.get_nowait() == {"type": "room.relay", "n": 1}
    assert await queued_in_redis(here, channel) == 0


async def test_group_send_reaches_local_and_remote_members_once(processes):
    here, there = processes
    local, local_inbox = await socket_in(here)
    remote = await there.new_channel()  # a socket of the other process, served through Redis
    await here.group_add("room.x", local)
    await there.group_add("room.x", remote)

    await here.connection(0).script_flush()  # the insert script is loaded on first use
    await here.group_send("room.x", {"type": "room.relay", "n": 1})
    await here.group_send("room.x", {"type": "room.relay", "n": 2})

    assert local_inbox.get_nowait()["n"] == 1
    assert local_inbox.get_nowait()["n"] == 2
    assert (await asyncio.wait_for(there.receive(remote), timeout=3))["n"] == 1
    assert (await asyncio.wait_for(there.receive(remote), timeout=3))["n"] == 2
    assert await nothing_arrives(here, local)  # no second copy through Redis
    assert local_inbox.empty()


async def test_remote_senders_still_reach_local_sockets_through_redis(processes):
    here, there = processes
    local, _ = await socket_in(here)
    await here.group_add("room.y", local)
    await there.group_send("room.y", {"type": "room.relay", "n": 7})
    assert (await asyncio.wait_for(here.receive(local), timeout=3))["n"] == 7


async def test_local_order_is_kept(processes):
    here, _ = processes
    channel, inbox = await socket_in(here)
    await here.group_add("room.z", channel)
    for n in range(50):
        await here.group_send("room.z", {"type": "room.relay", "n": n})
    assert [inbox.get_nowait()["n"] for _ in range(50)] == list(range(50))


async def test_a_full_inbox_refuses_sends_and_group_sends_skip_it(processes):
    here, _ = processes
    channel, inbox = await socket_in(here)
    await here.group_add("room.full", channel)
    for n in range(here.capacity):
        await here.send(channel, {"type": "room.relay", "n": n})
    with pytest.raises(ChannelFull):
        await here.send(channel, {"type": "room.relay", "n": -1})
    await here.group_send("room.full", {"type": "room.relay", "n": -2})  # logged, not raised
    assert inbox.qsize() == here.capacity


async def test_closed_inbox_leaves_local_groups(processes):
    here, _ = processes
    channel, _ = await socket_in(here)
    await here.group_add("room.gone", channel)
    here.close_inbox(channel)
    assert "room.gone" not in here._local_groups
    await here.group_discard("room.gone", channel)
    await here.group_send("room.gone", {"type": "room.relay"})
    assert await queued_in_redis(here, channel) == 0


async def test_relay_reaches_a_member_that_joined_elsewhere_once_its_join_is_heard(processes):
    here, there = processes
    local, _ = await socket_in(here)
    await here.group_add("room.j", local)
    await here.group_send_relay("room.j", {"type": "room.relay", "n": 0})  # cached: nobody elsewhere
    joiner, joiner_inbox = await socket_in(there)
    await there.group_add("room.j", joiner)
    await there.group_send_relay("room.j", {"type": "room.relay", "frame": "join"})
    assert (await received(here, local))["frame"] == "join"

    await here.group_send_relay("room.j", {"type": "room.relay", "n": 1})

    assert (await received(there, joiner))["n"] == 1
    assert joiner_inbox.get_nowait()["frame"] == "join"


async def test_relay_reaches_an_unannounced_second_socket_once_anything_later_is_read(processes):
    here, there = processes
    local, _ = await socket_in(here)
    first = await there.new_channel()
    await there.group_add("room.s", first)
    await here.group_add("room.s", local)
    await here.group_send_relay("room.s", {"type": "room.relay", "n": 0})  # cached: {local, first}
    assert (await received(there, first))["n"] == 0

    second = await there.new_channel()  # the same user's second tab: nobody announces it
    await there.group_add("room.s", second)
    await there.send(local, {"type": "test.later"})  # anything the process reads afterwards
    assert (await received(here, local))["type"] == "test.later"
    await here.group_send_relay("room.s", {"type": "room.relay", "n": 1})

    assert (await received(there, second))["n"] == 1
    assert (await received(there, first))["n"] == 1


async def test_cached_relay_still_reaches_local_members_old_and_new(processes):
    here, _ = processes
    first, first_inbox = await socket_in(here)
    await here.group_add("room.l", first)
    await here.group_send_relay("room.l", {"type": "room.relay", "n": 0})
    second, second_inbox = await socket_in(here)
    await here.group_add("room.l", second)

    await here.group_send_relay("room.l", {"type": "room.relay", "n": 1})

    assert [first_inbox.get_nowait()["n"] for _ in range(2)] == [0, 1]
    assert second_inbox.get_nowait()["n"] == 1
    assert await queued_in_redis(here, first) == 0


async def test_relay_stops_reaching_a_member_that_left_elsewhere(processes):
    here, there = processes
    local, _ = await socket_in(here)
    leaver = await there.new_channel()
    await there.group_add("room.d", leaver)
    await here.group_add("room.d", local)
    await here.group_send_relay("room.d", {"type": "room.relay", "n": 0})
    assert (await received(there, leaver))["n"] == 0

    await there.group_discard("room.d", leaver)
    await there.send(local, {"type": "test.later"})
    assert (await received(here, local))["type"] == "test.later"
    await here.group_send_relay("room.d", {"type": "room.relay", "n": 1})

    assert await nothing_arrives(there, leaver)


async def test_cached_members_are_asked_again_after_members_cache_seconds(quickly_expiring_processes):
    here, there = quickly_expiring_processes
    local, _ = await socket_in(here)
    await here.group_add("room.t", local)
    cached_at = time.monotonic()
    await here.group_send_relay("room.t", {"type": "room.relay", "n": 0})
    unannounced = await there.new_channel()
    await join_behind_the_layers_back(there, "room.t", unannounced)

    await here.group_send_relay("room.t", {"type": "room.relay", "n": 1})
    assert await nothing_arrives(there, unannounced)
    await asyncio.sleep(max(0.0, cached_at + 1.05 - time.monotonic()))
    await here.group_send_relay("room.t", {"type": "room.relay", "n": 2})

    assert (await received(there, unannounced))["n"] == 2


async def test_group_send_always_asks_redis(processes):
    here, there = processes
    local, _ = await socket_in(here)
    await here.group_add("room.q", local)
    await here.group_send_relay("room.q", {"type": "room.relay", "n": 0})
    unannounced = await there.new_channel()
    await join_behind_the_layers_back(there, "room.q", unannounced)

    await here.group_send("room.q", {"type": "room.sequenced", "n": 1})

    assert (await received(there, unannounced))["n"] == 1


async def test_a_process_without_members_does_not_cache(processes):
    here, there = processes
    first = await there.new_channel()
    await there.group_add("room.w", first)
    await here.group_send_relay("room.w", {"type": "room.admitted"})  # sent from outside the group
    assert (await received(there, first))["type"] == "room.admitted"
    second = await there.new_channel()
    await join_behind_the_layers_back(there, "room.w", second)  # no notice reaches a non-member

    await here.group_send_relay("room.w", {"type": "room.ended"})

    assert (await received(there, second))["type"] == "room.ended"


async def test_a_lookup_overtaken_by_a_notice_is_not_cached(processes):
    here, there = processes
    local, _ = await socket_in(here)
    await here.group_add("room.r", local)
    here._forget_members("room.r")  # start uncached
    lookup = asyncio.create_task(here.group_send_relay("room.r", {"type": "room.relay", "n": 0}))
    await asyncio.sleep(0)  # the lookup is under way ...
    here._forget_members("room.r")  # ... when a notice is popped
    await lookup
    unannounced = await there.new_channel()
    await join_behind_the_layers_back(there, "room.r", unannounced)

    await here.group_send_relay("room.r", {"type": "room.relay", "n": 1})

    assert (await received(there, unannounced))["n"] == 1


async def test_one_notice_per_process_and_consumers_never_see_it(processes):
    here, there = processes
    first, _ = await socket_in(here)
    second, _ = await socket_in(here)
    await here.group_add("room.n", first)
    await here.group_add("room.n", second)

    await there.group_add("room.n", await there.new_channel())

    assert await queued_in_redis(here, first) == 1  # one Redis queue per process, one notice in it
    assert await nothing_arrives(here, first)
    assert await nothing_arrives(here, second)
    assert await queued_in_redis(here, first) == 0


async def test_joining_caches_the_members_it_read(processes):
    # group_add reads the members in the same round trip as the change: the join announcement that
    # follows it needs no lookup, so it reaches who was there, not who joined unannounced after.
    here, there = processes
    before = await there.new_channel()
    await there.group_add("room.j", before)
    local, _ = await socket_in(here)
    await here.group_add("room.j", local)
    unannounced = await there.new_channel()
    await join_behind_the_layers_back(there, "room.j", unannounced)

    await here.group_send_relay("room.j", {"type": "room.relay", "n": 1})

    assert (await received(there, before))["n"] == 1
    assert await nothing_arrives(there, unannounced)


async def test_a_drop_elsewhere_does_not_keep_a_group_from_caching(processes):
    here, there = processes
    local, _ = await socket_in(here)
    other, _ = await socket_in(here)
    await here.group_add("room.k", local)
    await here.group_add("room.l", other)
    here._forget_members("room.k")
    lookup = asyncio.create_task(here.group_send_relay("room.k", {"type": "room.relay", "n": 0}))
    await asyncio.sleep(0)  # the lookup is under way when another group's cache is dropped
    here._forget_members("room.l")
    await lookup
    unannounced = await there.new_channel()
    await join_behind_the_layers_back(there, "room.k", unannounced)

    await here.group_send_relay("room.k", {"type": "room.relay", "n": 1})

    assert await nothing_arrives(there, unannounced)  # served from the cache the lookup filled


async def test_group_add_and_discard_make_one_round_trip_each(processes):
    here, _ = processes
    local, _ = await socket_in(here)
    pool = here.connection(here.consistent_hash("room.m")).connection_pool
    checkouts = []
    original = pool.get_connection

    async def counting_get_connection(*args, **kwargs):
        checkouts.append(1)  # every command or pipeline takes a connection from the pool
        return await original(*args, **kwargs)

    pool.get_connection = counting_get_connection
    try:
        await here.group_add("room.m", local)
        await here.group_discard("room.m", local)
    finally:
        pool.get_connection = original

    assert len(checkouts) == 2
    assert await here.connection(here.consistent_hash("room.m")).zcard(here._group_key("room.m")) == 0
