"""Idempotency keys in SQLite (`adapter.ports.idempotency`), table `idempotency_keys`.

`insert` and `complete` are the two writes the journal makes inside its own transactions
(`adapter.ports.storage`); the port's methods here are each one autocommitted statement,
atomic on its own (Rule 2's check-and-set is one UPDATE).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from adapter.ports.idempotency import IdempotencyRecord, KeyState, Outcome
from adapter.stores.sqlite.schema import dt, ts

_COLUMNS = ("caller_id, key, fingerprint, state, payment_id, error_code, error_message,"
            " created_at, locked_until, expires_at")


def _record(row: tuple) -> IdempotencyRecord:
    return IdempotencyRecord(
        caller_id=row[0], key=row[1], fingerprint=row[2], state=KeyState(row[3]),
        payment_id=row[4], error_code=row[5], error_message=row[6],
        created_at=dt(row[7]), locked_until=dt(row[8]), expires_at=dt(row[9]),
    )


def select(db: sqlite3.Connection, caller_id: str, key: str) -> IdempotencyRecord | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM idempotency_keys WHERE caller_id = ? AND key = ?",
                     (caller_id, key)).fetchone()
    return _record(row) if row else None


def insert(db: sqlite3.Connection, record: IdempotencyRecord) -> None:
    db.execute(
        "INSERT INTO idempotency_keys VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (record.caller_id, record.key, record.fingerprint, record.state.value,
         record.payment_id, record.error_code, record.error_message,
         ts(record.created_at), ts(record.locked_until), ts(record.expires_at)),
    )


def complete(db: sqlite3.Connection, payment_id: str, outcome: Outcome) -> None:
    db.execute(
        "UPDATE idempotency_keys SET state = ?, error_code = ?, error_message = ?"
        " WHERE payment_id = ?",
        (KeyState.COMPLETED.value, outcome.error_code, outcome.error_message, payment_id),
    )


class SqliteIdempotencyKeys:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    async def get(self, caller_id: str, key: str) -> IdempotencyRecord | None:
        return select(self._db, caller_id, key)

    async def release(self, caller_id: str, key: str) -> None:
        self._db.execute("DELETE FROM idempotency_keys WHERE caller_id = ? AND key = ?",
                         (caller_id, key))

    async def relock(self, caller_id: str, key: str, *, now: datetime,
                     locked_until: datetime) -> bool:
        cur = self._db.execute(
            "UPDATE idempotency_keys SET locked_until = ?"
            " WHERE caller_id = ? AND key = ? AND state = ? AND locked_until <= ?",
            (ts(locked_until), caller_id, key, KeyState.IN_PROGRESS.value, ts(now)),
        )
        return cur.rowcount == 1

    async def purge_expired(self, now: datetime) -> int:
        cur = self._db.execute(
            "DELETE FROM idempotency_keys WHERE expires_at <= ? AND state = ?",
            (ts(now), KeyState.COMPLETED.value),
        )
        return cur.rowcount
