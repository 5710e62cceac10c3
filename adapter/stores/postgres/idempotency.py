"""Idempotency keys on PostgreSQL (`adapter.ports.idempotency`), table `idempotency_keys`.

The key is created and completed inside the journal's statements (`journal.py`); the port's
own operations here are each one autocommitted statement. Rule 2 holds across connections
and processes: `relock` is one conditional UPDATE, and of two concurrent ones the second
waits for the first's row lock, re-reads the row (READ COMMITTED re-checks the WHERE on the
new version), finds the lock live and updates nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from adapter.ports.idempotency import IdempotencyRecord, KeyState
from adapter.stores.postgres.database import PostgresDatabase

COLUMNS = ("caller_id, key, fingerprint, state, payment_id::text, error_code, error_message,"
           " created_at, locked_until, expires_at")
SELECT_SQL = f"SELECT {COLUMNS} FROM idempotency_keys WHERE caller_id = %s AND key = %s"


def record_of(row: tuple[Any, ...]) -> IdempotencyRecord:
    return IdempotencyRecord(
        caller_id=row[0], key=row[1], fingerprint=row[2], state=KeyState(row[3]),
        payment_id=row[4], error_code=row[5], error_message=row[6],
        created_at=row[7], locked_until=row[8], expires_at=row[9])


class PostgresIdempotencyKeys:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def get(self, caller_id: str, key: str) -> IdempotencyRecord | None:
        async with self._db.pool.connection() as conn:
            cur = await conn.execute(SELECT_SQL, (caller_id, key))
            row = await cur.fetchone()
        return None if row is None else record_of(row)

    async def release(self, caller_id: str, key: str) -> None:
        async with self._db.pool.connection() as conn:
            await conn.execute("DELETE FROM idempotency_keys WHERE caller_id = %s AND key = %s",
                               (caller_id, key))

    async def relock(self, caller_id: str, key: str, *, now: datetime,
                     locked_until: datetime) -> bool:
        async with self._db.pool.connection() as conn:
            cur = await conn.execute(
                "UPDATE idempotency_keys SET locked_until = %s WHERE caller_id = %s"
                " AND key = %s AND state = %s AND locked_until <= %s",
                (locked_until, caller_id, key, KeyState.IN_PROGRESS.value, now))
            return cur.rowcount == 1

    async def purge_expired(self, now: datetime) -> int:
        async with self._db.pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM idempotency_keys WHERE expires_at <= %s AND state = %s",
                (now, KeyState.COMPLETED.value))
            return cur.rowcount
