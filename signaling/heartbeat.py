"""One sweeper per process (per event loop) instead of a timer task per socket.

Every ``interval`` seconds it closes this process's sockets whose client went quiet, refreshes the
presence entries of the others in one Redis pipeline (so pings write nothing), and prunes, once per
room, the entries of sockets whose process died. At 5,000 idle sockets that is a handful of Redis
calls per sweep instead of thousands of timers and writes.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import TYPE_CHECKING

from django.conf import settings

from signaling.presence import get_presence

if TYPE_CHECKING:
    from signaling.consumers import ConsultationConsumer

logger = logging.getLogger("telehealth.signaling")


def sweep_interval() -> float:
    return min(settings.WS_HEARTBEAT_SECONDS, settings.WS_IDLE_TIMEOUT_SECONDS / 3)


class Sweeper:
    def __init__(self) -> None:
        self.sockets: set[ConsultationConsumer] = set()
        self.task: asyncio.Task | None = None

    def add(self, consumer: ConsultationConsumer) -> None:
        self.sockets.add(consumer)
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())

    def discard(self, consumer: ConsultationConsumer) -> None:
        self.sockets.discard(consumer)

    async def _run(self) -> None:
        while self.sockets:
            await asyncio.sleep(sweep_interval())
            try:
                await self.sweep()
            except Exception:  # one bad sweep must not end sweeping
                logger.warning("Room sweep failed", exc_info=True)

    async def sweep(self) -> None:
        now = time.monotonic()
        quiet, alive = [], []
        for consumer in list(self.sockets):
            idle = now - consumer.last_frame_at > settings.WS_IDLE_TIMEOUT_SECONDS
            (quiet if idle else alive).append(consumer)
        for consumer in quiet:
            logger.info("Closing idle socket of user %s in room %s", consumer.user.pk, consumer.room_id)
            await consumer.close_idle()
        presence = get_presence()
        try:
            await presence.put_many(
                [(c.room_id, c.channel_name, c.presence_entry()) for c in alive if not c.cleaned_up]
            )
        except Exception:
            logger.warning("Presence refresh failed", exc_info=True)
        for consumer in alive:  # left while the refresh was on its way: don't leave a ghost
            if consumer.cleaned_up:
                await presence.remove(consumer.room_id, consumer.channel_name)
        rooms = {c.room_id: c for c in alive if not c.cleaned_up}
        for consumer in rooms.values():
            try:
                await consumer.prune_stale()
            except Exception:
                logger.warning("Presence pruning failed in room %s", consumer.room_id, exc_info=True)


_sweepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Sweeper] = weakref.WeakKeyDictionary()


def get_sweeper() -> Sweeper:
    loop = asyncio.get_running_loop()
    sweeper = _sweepers.get(loop)
    if sweeper is None:
        sweeper = _sweepers[loop] = Sweeper()
    return sweeper
