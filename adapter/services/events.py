"""The event source: live fan-out of transaction events, backed by the durable outbox.

Invariants:
- Rule 1: an event is published only after the journal committed it (it has a seq).
- Rule 2: `stream(since)` yields each event with seq > since exactly once and in seq order:
  it subscribes first, then replays the outbox, then switches to live events, dropping any
  live event it already replayed.
- Rule 3: a subscriber that falls `queue_size` events behind is cut off with the canonical
  SLOW_CONSUMER error (model.errors.SlowConsumer) carrying the seq to resume from, instead of
  holding memory.
- Rule 4 (several processes on one database): after `follow(wakeups)` live events come from
  the outbox table only, read after each wake-up (an append by any process, announced by
  LISTEN/NOTIFY, or by this process's own `publish`) and at least every `FEED_INTERVAL`
  seconds, in seq order: an event booked on one process reaches a watcher on another, and
  a lost notification delays an event, never drops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from adapter.model.errors import SlowConsumer
from adapter.model.events import TransactionEvent
from adapter.ports.outbox import EventOutbox, OutboxWakeups

log = logging.getLogger("adapter.events")

FEED_INTERVAL = 1.0
FEED_BATCH = 500


class _Subscription:
    def __init__(self, size: int) -> None:
        self.queue: asyncio.Queue[TransactionEvent | None] = asyncio.Queue(size)
        self.overflowed = False

    def offer(self, event: TransactionEvent) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            self.queue.get_nowait()
            self.queue.put_nowait(None)


class EventBus:
    def __init__(self, outbox: EventOutbox, *, queue_size: int = 1000) -> None:
        self._outbox = outbox
        self._queue_size = queue_size
        self._subs: set[_Subscription] = set()

    _wakeups: OutboxWakeups | None = None
    _feed: asyncio.Task[None] | None = None

    def publish(self, event: TransactionEvent) -> None:
        if self._wakeups is not None:  # Rule 4: the feed reads it from the table
            self._wakeups.poke()
            return
        self._fan_out(event)

    def _fan_out(self, event: TransactionEvent) -> None:
        for sub in tuple(self._subs):
            sub.offer(event)

    async def follow(self, wakeups: OutboxWakeups, *, interval: float = FEED_INTERVAL) -> None:
        """Feed live events from the outbox from now on (Rule 4)."""
        start = await self._outbox.last_seq()
        self._wakeups = wakeups
        self._feed = asyncio.get_running_loop().create_task(
            self._follow(wakeups, start, interval), name="outbox-feed")

    async def _follow(self, wakeups: OutboxWakeups, last: int, interval: float) -> None:
        while True:
            try:
                batch = await self._outbox.since(last, FEED_BATCH)
            except Exception:
                log.exception("reading the outbox failed; trying again")
                batch = []
            for event in batch:
                last = event.seq
                self._fan_out(event)
            if len(batch) < FEED_BATCH:
                await wakeups.wait(interval)

    async def aclose(self) -> None:
        feed, self._feed = self._feed, None
        if feed is not None:
            feed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feed

    async def head(self) -> int:
        """The seq of the newest event: a stream from here sees only what happens next."""
        return await self._outbox.last_seq()

    async def stream(
        self, since: int, accept: Callable[[TransactionEvent], bool] = lambda e: True
    ) -> AsyncIterator[TransactionEvent]:
        sub = _Subscription(self._queue_size)
        self._subs.add(sub)
        try:
            last = since
            while True:
                batch = await self._outbox.since(last, 500)
                for event in batch:
                    last = event.seq
                    if accept(event):
                        yield event
                if len(batch) < 500:
                    break
            while True:
                live = await sub.queue.get()
                if live is None:
                    raise SlowConsumer(resume_cursor=str(last))
                if live.seq <= last:
                    continue
                if live.seq > last + 1:
                    # Published out of order or missed: fill the gap from the outbox.
                    for event in await self._outbox.since(last, live.seq - last):
                        last = event.seq
                        if accept(event):
                            yield event
                    if live.seq <= last:
                        continue
                last = live.seq
                if accept(live):
                    yield live
        finally:
            self._subs.discard(sub)
