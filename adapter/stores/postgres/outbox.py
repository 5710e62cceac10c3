"""The event outbox on PostgreSQL (`adapter.ports.outbox`), table `outbox`.

Events are appended by the journal's `record` statement (`journal.py`); the seq is an
identity column (never reused: Rule 1). Seqs are drawn in one order and committed in another:
without care, a reader could see N+1 while N is still being committed, move its cursor past
N, and never see N. So a transaction-level advisory lock on this schema's outbox orders the
two sides:
- a writer takes it SHARED just before it draws its seq and holds it until its commit
  (`APPEND_LOCK`): writers never wait for each other, so PostgreSQL still commits them
  together (one WAL flush for many);
- a reader (`since`, `last_seq`) takes it EXCLUSIVE, in a transaction, before it reads: that
  waits for every writer holding a drawn seq to commit, and the read's snapshot, taken after,
  sees all of them. Later writers draw greater seqs. So a reader that sees seq N has seen
  every committed seq below N, and none below N is still to come (Rule 2 for consumers that
  poll with a cursor). A reader holds it for one indexed read: writers wait at most that.
"""

from __future__ import annotations

from adapter.model.events import TransactionEvent
from adapter.stores.postgres.database import PostgresDatabase

# Two-int advisory key ('outb', this schema): a key space apart from the migrations' bigint
# lock, and one outbox per schema (the tests run one schema each on one server).
_KEY = "1869968482, hashtext(current_schema())"
APPEND_LOCK = f"pg_advisory_xact_lock_shared({_KEY})"
READ_LOCK = f"SELECT pg_advisory_xact_lock({_KEY})"


class PostgresEventOutbox:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def since(self, seq: int, limit: int) -> list[TransactionEvent]:
        if limit <= 0:
            return []
        async with self._db.pool.connection() as conn, conn.transaction():
            await conn.execute(READ_LOCK)
            cur = await conn.execute(
                "SELECT seq, body::text FROM outbox WHERE seq > %s ORDER BY seq LIMIT %s",
                (seq, limit))
            rows = await cur.fetchall()
        return [TransactionEvent.model_validate_json(body).model_copy(update={"seq": s})
                for s, body in rows]

    async def last_seq(self) -> int:
        async with self._db.pool.connection() as conn, conn.transaction():
            await conn.execute(READ_LOCK)
            cur = await conn.execute("SELECT coalesce(max(seq), 0) FROM outbox")
            row = await cur.fetchone()
        return int(row[0]) if row else 0
