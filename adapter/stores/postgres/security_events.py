"""The security-event log on PostgreSQL (`adapter.ports.security_events`), table
`security_events` (migration 0004), shared by every process on the database.

    log = PostgresSecurityEventLog(db)                  # over a shared PostgresDatabase

Rule 1: an identity seq, drawn under this schema's event-log advisory lock taken SHARED until
the append commits; Rule 2: `since` and `last_seq` take the lock EXCLUSIVE before they read,
so a reader that sees seq N has seen every event below N and none below it is still to come
(the event outbox's scheme, `outbox.py`). Each append is one statement, durable on return.
"""

from __future__ import annotations

from typing import Any

from adapter.model.security_events import SecurityEvent
from adapter.stores.postgres.database import PostgresDatabase

# ('secv', this schema): apart from the outbox's and the customers' audit keys.
_KEY = "1936024438, hashtext(current_schema())"
_APPEND = f"""
WITH appending AS (SELECT pg_advisory_xact_lock_shared({_KEY}))
INSERT INTO security_events (signal, subject, body)
SELECT %s, %s, %s::jsonb FROM appending
RETURNING seq
"""
_READ_LOCK = f"SELECT pg_advisory_xact_lock({_KEY})"


class PostgresSecurityEventLog:
    def __init__(self, database: PostgresDatabase, *, owns_database: bool = False) -> None:
        self.database = database
        self._owns = owns_database

    @classmethod
    async def open(cls, url: str, **options: Any) -> PostgresSecurityEventLog:
        return cls(await PostgresDatabase.open(url, **options), owns_database=True)

    async def append(self, event: SecurityEvent) -> SecurityEvent:
        body = event.model_dump_json(exclude={"seq"})
        async with self.database.pool.connection() as conn:
            cur = await conn.execute(_APPEND, (event.signal.value, event.subject, body))
            row = await cur.fetchone()
        assert row is not None
        return event.model_copy(update={"seq": int(row[0])})

    async def since(self, seq: int, limit: int) -> list[SecurityEvent]:
        if limit <= 0:
            return []
        async with self.database.pool.connection() as conn, conn.transaction():
            await conn.execute(_READ_LOCK)
            cur = await conn.execute(
                "SELECT seq, body::text FROM security_events WHERE seq > %s ORDER BY seq"
                " LIMIT %s", (seq, limit))
            rows = await cur.fetchall()
        return [SecurityEvent.model_validate_json(body).model_copy(update={"seq": s})
                for s, body in rows]

    async def last_seq(self) -> int:
        async with self.database.pool.connection() as conn, conn.transaction():
            await conn.execute(_READ_LOCK)
            cur = await conn.execute("SELECT coalesce(max(seq), 0) FROM security_events")
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def aclose(self) -> None:
        if self._owns:
            await self.database.aclose()
