"""One PostgreSQL database as every PostgreSQL store uses it: the pool, the schema, the
partitions, and the few rules every statement follows.

    db = await PostgresDatabase.open("postgresql://user@host/db", pool_size=10)
    ...                     # PostgresStore(db), PostgresReversalStore(db), ... share it
    await db.aclose()

`open` migrates the schema (`migrate.py`: refuses a database newer than this code with
`SchemaTooNew`), creates this month's partitions and `ahead` more (`partitions.py`), opens a
psycopg 3 async pool (`psycopg_pool.AsyncConnectionPool`) and starts the maintenance task
that creates partitions ahead again every `maintenance_interval` seconds (hourly), so a
month always exists before its first payment. A failure to reach the server is
`DatabaseUnavailable`, whose text never carries the URL's password.

Invariants:
- Rule 1: connections are in autocommit mode and every write of a port method is ONE
  statement (data-modifying CTEs where several tables change together) or one explicit
  transaction: atomic, and durable when it returns (synchronous_commit as the server says).
- Rule 2: every session runs in UTC, so timestamps read back as the UTC datetimes written.
- Rule 3 (cancellation): `finish_or_undo` lets a write that was sent finish even when its
  caller is cancelled, then undoes it before the cancellation propagates, so a cancelled
  caller leaves nothing behind that it will not act on (the SQLite group commit's Rule 3).
- Rule 4: `aclose` stops the maintenance task and closes the pool; it is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from adapter.infra.logmask import mask_url_password
from adapter.ports.clock import Clock, system_clock
from adapter.stores.postgres import migrate, partitions

log = logging.getLogger("adapter.stores.postgres")

T = TypeVar("T")

SCHEMES = ("postgresql://", "postgres://")
PARTITIONS_AHEAD = 2
MAINTENANCE_INTERVAL = 3600.0
PING_TIMEOUT = 1.0


def redact(url: str) -> str:
    """`postgresql://u:secret@h/db` -> `postgresql://u:***@h/db` (and `password=` params)."""
    return mask_url_password(url)


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached or used; the message names it without a password."""


async def _utc(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.execute("SET TIME ZONE 'UTC'")  # Rule 2


class PostgresDatabase:
    def __init__(self, url: str, pool: AsyncConnectionPool, *, clock: Clock = system_clock,
                 ahead: int = PARTITIONS_AHEAD,
                 maintenance_interval: float = MAINTENANCE_INTERVAL) -> None:
        self.url = url
        self.pool = pool
        self.closed = False
        self._clock = clock
        self._ahead = ahead
        self._interval = maintenance_interval
        self._maintenance: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, url: str, *, pool_size: int = 10, clock: Clock = system_clock,
                   ahead: int = PARTITIONS_AHEAD,
                   maintenance_interval: float = MAINTENANCE_INTERVAL,
                   connect_timeout: float = 10.0) -> PostgresDatabase:
        """Migrate, make partitions, open the pool, start maintenance (see the docstring)."""
        if not url.startswith(SCHEMES):
            raise ValueError("a PostgreSQL URL starts with postgresql://")
        try:
            await asyncio.to_thread(migrate.migrate, url)
            await asyncio.to_thread(partitions.ensure, url, clock(), ahead=ahead)
        except psycopg.Error as exc:
            raise DatabaseUnavailable(_reason(url, exc)) from exc
        pool: AsyncConnectionPool = AsyncConnectionPool(
            url, min_size=1, max_size=pool_size, open=False, configure=_utc,
            kwargs={"autocommit": True}, timeout=connect_timeout, name="bank-adapter")
        try:
            await pool.open(wait=True, timeout=connect_timeout)
        except (PoolTimeout, psycopg.Error) as exc:
            await pool.close()
            raise DatabaseUnavailable(_reason(url, exc)) from exc
        db = cls(url, pool, clock=clock, ahead=ahead, maintenance_interval=maintenance_interval)
        db._maintenance = asyncio.get_running_loop().create_task(
            db._maintain(), name="postgres-partitions")
        return db

    async def ensure_partitions(self, now: datetime | None = None) -> list[str]:
        """Create the missing partitions up to `ahead` months after `now`; their names."""
        return await asyncio.to_thread(partitions.ensure, self.url, now or self._clock(),
                                       ahead=self._ahead)

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                made = await self.ensure_partitions()
            except psycopg.Error as exc:  # retried next round; today's partitions exist
                log.warning("creating partitions ahead failed: %s", _reason(self.url, exc))
                continue
            if made:
                log.info("created partitions %s", ", ".join(made))

    async def ping(self, timeout: float = PING_TIMEOUT) -> None:
        """`SELECT 1` on a pooled connection, waiting at most `timeout` for one: a server
        that is down or unreachable raises (PoolTimeout or psycopg.OperationalError), and
        the pool replaces the broken connection it handed out."""
        async with self.pool.connection(timeout=timeout) as conn:
            await conn.execute("SELECT 1")

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        task, self._maintenance = self._maintenance, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.pool.close()


def _reason(url: str, exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"PostgreSQL at {redact(url)}: {redact(first)}"


async def _until_done(task: asyncio.Future[T]) -> T:
    """The task's result, waited for through any number of cancellations of the waiter."""
    while True:
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                return task.result()


async def finish_or_undo(write: Coroutine[Any, Any, T], undo: Callable[[T], Awaitable[None]]
                         ) -> T:
    """Run `write` to its end even if the caller is cancelled; a cancelled caller then gets
    its CancelledError only after `undo(result)` has run (Rule 3)."""
    task = asyncio.ensure_future(write)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        result = await _until_done(task)
        await _until_done(asyncio.ensure_future(undo(result)))
        raise
