"""``Inbox``: a socket's one queue for its websocket events and its channel-layer messages."""

from __future__ import annotations

import asyncio

import pytest

from signaling.layers import Inbox


async def test_websocket_events_share_the_inbox_without_using_its_capacity():
    inbox = Inbox(capacity=2)
    inbox.put_event({"type": "websocket.receive", "n": 0})
    inbox.put_nowait({"type": "room.relay", "n": 1})
    inbox.put_event({"type": "websocket.receive", "n": 2})
    inbox.put_nowait({"type": "room.relay", "n": 3})
    assert inbox.full()
    with pytest.raises(asyncio.QueueFull):
        inbox.put_nowait({"type": "room.relay", "n": -1})
    inbox.put_event({"type": "websocket.receive", "n": 4})

    assert [(await inbox.get())["n"] for _ in range(5)] == [0, 1, 2, 3, 4]
    assert not inbox.full()


async def test_messages_from_redis_wait_for_room_in_the_inbox():
    inbox = Inbox(capacity=1)
    inbox.put_nowait({"type": "room.relay", "n": 0})
    waiting = asyncio.create_task(inbox.put({"type": "room.relay", "n": 1}))
    await asyncio.sleep(0.01)
    assert not waiting.done()

    assert (await inbox.get())["n"] == 0
    await asyncio.wait_for(waiting, timeout=1)
    assert (await inbox.get())["n"] == 1


async def test_a_broken_source_reaches_the_reader_after_what_came_before():
    inbox = Inbox(capacity=5)
    inbox.put_event({"type": "websocket.receive"})
    inbox.fail(ConnectionError("Redis went away"))
    assert (await inbox.get())["type"] == "websocket.receive"
    with pytest.raises(ConnectionError):
        await inbox.get()
