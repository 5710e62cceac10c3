"""ISO 8583 terminal-id claims on PostgreSQL (`adapter.ports.terminals`): a session advisory
lock per terminal id, on a connection of its own held for the claimer's life.

Invariants:
- Rule 1: the lock key is (TERMINAL_LOCK_CLASS, hashtext(schema || ':' || terminal id)), so
  adapters on other schemas of one server do not collide; `pg_try_advisory_lock` never waits.
- Rule 2: `aclose` releases the locks before it returns; the server releases them when the
  connection ends too, so a claimer's death (the kernel closes its socket and the backend
  exits, a moment later) frees its terminal id without any lease to wait for.
"""

from __future__ import annotations

import psycopg

from adapter.stores.postgres.database import PostgresDatabase

# 'iso8' as an int: a key space apart from the migrations' and the outbox's locks.
TERMINAL_LOCK_CLASS = 0x69736F38


class PostgresTerminalClaims:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._mine: set[str] = set()

    async def claim(self, terminal_id: str) -> bool:
        if terminal_id in self._mine:
            return True
        if self._conn is None:
            self._conn = await psycopg.AsyncConnection.connect(self._db.url, autocommit=True)
        cur = await self._conn.execute(
            "SELECT pg_try_advisory_lock(%s, hashtext(current_schema() || ':' || %s))",
            (TERMINAL_LOCK_CLASS, terminal_id))
        row = await cur.fetchone()
        if row is None or not row[0]:
            return False
        self._mine.add(terminal_id)
        return True

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        self._mine.clear()
        if conn is not None:
            # Released before this returns: a closed connection's backend lets its locks go
            # only as it exits, a moment later.
            try:
                await conn.execute("SELECT pg_advisory_unlock_all()")
            finally:
                await conn.close()
