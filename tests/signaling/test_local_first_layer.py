"""``LocalFirstRedisChannelLayer``: sockets of one process get messages straight from memory, the
others through Redis; nothing is delivered twice and order holds. Two layer instances stand for two
server processes."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels.exceptions import ChannelFull
from django.conf import settings

from signaling.layers import LocalFirstRedisChannelLayer

pytestmark = pytest.mark.redis


@pytest.fixture
async def processes():
    prefix = f"test-layer-{uuid.uuid4().hex[:8]}"
    config = {"hosts": [{"address": settings.REDIS_URL, "socket_timeout": 30}], "prefix": prefix}
    here, there = LocalFirstRedisChannelLayer(**config), LocalFirstRedisChannelLayer(**config)
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
