"""Outbox wake-ups on PostgreSQL (`adapter.ports.outbox.OutboxWakeups`): LISTEN/NOTIFY.

The journal's `record` statement that appends an event also calls `pg_notify(CHANNEL, seq)`
(`journal.py`); PostgreSQL delivers a notification only when its transaction commits, so a
wake-up never arrives before its event can be read. This module holds one connection of its
own in LISTEN on the channel (outside the pool: a pooled connection is handed to others) and
turns each notification into a wake-up.

Invariants:
- Rule 1: the channel is per schema (`ba_outbox_<schema>`), so adapters on other schemas of
  one server (the tests' schemas) do not wake each other.
- Rule 2: a dropped listening connection is opened again after `RECONNECT_DELAY`; while it is
  down `wait` still returns at its timeout, so followers fall back to polling the table and
  miss nothing (the outbox is the truth, the notification only a hint).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg
from psycopg import sql

from adapter.stores.memory.wakeups import MemoryOutboxWakeups
from adapter.stores.postgres.database import PostgresDatabase, redact

log = logging.getLogger("adapter.stores.postgres")

CHANNEL_SQL = "'ba_outbox_' || current_schema()"
RECONNECT_DELAY = 1.0


class PostgresOutboxWakeups(MemoryOutboxWakeups):
    """The in-process wake-up (`poke`, `wait`), also set by every NOTIFY on the channel."""

    def __init__(self, db: PostgresDatabase) -> None:
        super().__init__()
        self._db = db
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()  # set while LISTEN is in force (tests wait on it)

    @classmethod
    async def start(cls, db: PostgresDatabase) -> PostgresOutboxWakeups:
        wakeups = cls(db)
        wakeups._task = asyncio.get_running_loop().create_task(
            wakeups._listen(), name="postgres-outbox-listen")
        return wakeups

    async def _listen(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        self._db.url, autocommit=True) as conn:
                    cur = await conn.execute(f"SELECT {CHANNEL_SQL}")
                    row = await cur.fetchone()
                    assert row is not None
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(row[0])))
                    self.listening.set()
                    # Appends made while we were not listening: followers read the table.
                    self._event.set()
                    async for _ in conn.notifies():
                        self._event.set()
            except psycopg.Error as exc:
                log.warning("outbox LISTEN connection lost (%s); polling until it is back",
                            redact(str(exc).strip().splitlines()[0] if str(exc) else
                                   type(exc).__name__))
            self.listening.clear()
            await asyncio.sleep(RECONNECT_DELAY)  # Rule 2: a reconnect pace

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
