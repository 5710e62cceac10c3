"""The event outbox on PostgreSQL (`adapter.ports.outbox`), table `outbox`.

Events are appended by the journal's `record` statement (`journal.py`). The seq is an
identity column (never reused: Rule 1), and appends are serialised by a transaction-level
advisory lock taken just before the seq is drawn and held until commit (`APPEND_LOCK`): so
seq order is commit order, and a reader that has seen seq N has seen every event below N.
Without it, two concurrent transactions could commit N+1 before N, and a consumer polling
`since(N)` would step over N for good.
"""

from __future__ import annotations

from adapter.model.events import TransactionEvent
from adapter.stores.postgres.database import PostgresDatabase

# Two-int advisory key ('outb', this schema): a key space apart from the migrations' bigint
# lock, and one outbox per schema (the tests run one schema each on one server).
APPEND_LOCK = "pg_advisory_xact_lock(1869968482, hashtext(current_schema()))"


class PostgresEventOutbox:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def since(self, seq: int, limit: int) -> list[TransactionEvent]:
        if limit <= 0:
            return []
        async with self._db.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT seq, body::text FROM outbox WHERE seq > %s ORDER BY seq LIMIT %s",
                (seq, limit))
            rows = await cur.fetchall()
        return [TransactionEvent.model_validate_json(body).model_copy(update={"seq": s})
                for s, body in rows]

    async def last_seq(self) -> int:
        async with self._db.pool.connection() as conn:
            cur = await conn.execute("SELECT coalesce(max(seq), 0) FROM outbox")
            row = await cur.fetchone()
        return int(row[0]) if row else 0
