"""The ISO 8583 reversal store on PostgreSQL (`adapter.ports.reversals`), table
`iso8583_reversals`, one `scope` per connector (a core node in a pool has its own, as it has
its own SQLite file there).

    store = PostgresReversalStore(db, scope="")          # over a shared PostgresDatabase
    store = await PostgresReversalStore.open(url)         # or with a database of its own

How the port's rules are kept:
- Rule 1: `arm` is one INSERT ... ON CONFLICT DO NOTHING, autocommitted: True only once the
  row is committed, False when the reference has a row in any state, whichever process
  wrote it.
- Rule 3: an `arm` whose caller is cancelled runs to its end and, if it inserted, deletes
  its ARMED row before the cancellation propagates; a cancelled `disarm` still runs to its
  end (`database.finish_or_undo`).
- Rules 2, 4, 5: as on SQLite (REVERSED is kept; disarm deletes only ARMED; `outstanding`
  is ordered by the identity column `id`, the order rows were written).
- Rule 6: every database failure, and any write after `aclose`, is `ReversalStoreError`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import psycopg
from psycopg_pool import PoolClosed, PoolTimeout

from adapter.ports.clock import Clock, system_clock
from adapter.ports.reversals import Reversal, ReversalState, ReversalStoreError
from adapter.stores.postgres.database import PostgresDatabase, finish_or_undo

T = TypeVar("T")

_SELECT = ("SELECT reference, state, original::text, attempts, completed_at"
           " FROM iso8583_reversals")
_INSERT = ("INSERT INTO iso8583_reversals (scope, reference, state, original, created_at,"
           " updated_at) VALUES (%s, %s, %s, %s::jsonb, %s, %s) ON CONFLICT DO NOTHING")
_DISARM = "DELETE FROM iso8583_reversals WHERE scope = %s AND reference = %s AND state = %s"
_FAILURES = (psycopg.Error, PoolClosed, PoolTimeout)


def _row(row: tuple[Any, ...]) -> Reversal:
    reference, state, original, attempts, completed = row
    return Reversal(reference, ReversalState(state), json.loads(original), attempts, completed)


class PostgresReversalStore:
    def __init__(self, database: PostgresDatabase, *, scope: str = "",
                 clock: Clock = system_clock, owns_database: bool = False) -> None:
        self.database = database
        self.scope = scope
        self._clock = clock
        self._owns = owns_database
        self._closed = False

    @classmethod
    async def open(cls, url: str, *, scope: str = "", clock: Clock = system_clock,
                   **options: Any) -> PostgresReversalStore:
        return cls(await PostgresDatabase.open(url, clock=clock, **options), scope=scope,
                   clock=clock, owns_database=True)

    async def aclose(self) -> None:
        self._closed = True
        if self._owns:
            await self.database.aclose()

    async def _run(self, op: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        if self._closed or self.database.closed:
            raise ReversalStoreError("the reversal store is closed")
        try:
            async with self.database.pool.connection() as conn:
                return await op(conn)
        except _FAILURES as exc:
            raise ReversalStoreError(f"the reversal store could not write: {exc}") from exc

    async def get(self, reference: str) -> Reversal | None:
        async def op(conn: psycopg.AsyncConnection[Any]) -> Reversal | None:
            cur = await conn.execute(_SELECT + " WHERE scope = %s AND reference = %s",
                                     (self.scope, reference))
            row = await cur.fetchone()
            return None if row is None else _row(row)
        return await self._run(op)

    async def _insert(self, reference: str, state: ReversalState,
                      original: Mapping[str, str]) -> bool:
        now = self._clock()
        body = json.dumps(dict(original))

        async def op(conn: psycopg.AsyncConnection[Any]) -> bool:
            cur = await conn.execute(_INSERT, (self.scope, reference, state.value, body, now,
                                               now))
            return cur.rowcount == 1
        return await self._run(op)

    async def arm(self, reference: str, original: Mapping[str, str]) -> bool:
        async def take_back(inserted: bool) -> None:
            if inserted:  # committed, but the caller will never send it (Rule 3)
                await self.disarm(reference)
        return await finish_or_undo(self._insert(reference, ReversalState.ARMED, original),
                                    take_back)

    async def disarm(self, reference: str) -> None:
        async def op(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(_DISARM, (self.scope, reference, ReversalState.ARMED.value))

        async def nothing(_: None) -> None:
            return None
        await finish_or_undo(self._run(op), nothing)

    async def mark_pending(self, reference: str,
                           original: Mapping[str, str] | None = None) -> Reversal | None:
        if original is not None:
            await self._insert(reference, ReversalState.PENDING, original)
        now = self._clock()

        async def op(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(
                "UPDATE iso8583_reversals SET state = %s, updated_at = %s"
                " WHERE scope = %s AND reference = %s AND state = %s",
                (ReversalState.PENDING.value, now, self.scope, reference,
                 ReversalState.ARMED.value))
        await self._run(op)
        return await self.get(reference)

    async def count_attempt(self, reference: str) -> int:
        now = self._clock()

        async def op(conn: psycopg.AsyncConnection[Any]) -> int:
            cur = await conn.execute(
                "UPDATE iso8583_reversals SET attempts = attempts + 1, updated_at = %s"
                " WHERE scope = %s AND reference = %s RETURNING attempts",
                (now, self.scope, reference))
            row = await cur.fetchone()
            return 0 if row is None else int(row[0])
        return await self._run(op)

    async def mark_reversed(self, reference: str) -> None:
        now = self._clock()

        async def op(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(
                "UPDATE iso8583_reversals SET state = %s, updated_at = %s, completed_at = %s"
                " WHERE scope = %s AND reference = %s",
                (ReversalState.REVERSED.value, now, now, self.scope, reference))
        await self._run(op)

    async def outstanding(self) -> list[Reversal]:
        async def op(conn: psycopg.AsyncConnection[Any]) -> list[Reversal]:
            cur = await conn.execute(
                _SELECT + " WHERE scope = %s AND state IN ('armed', 'pending') ORDER BY id",
                (self.scope,))
            return [_row(r) for r in await cur.fetchall()]
        return await self._run(op)
