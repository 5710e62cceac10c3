"""The event outbox in SQLite (`adapter.ports.outbox`), table `outbox`.

`append` is the write the journal makes inside `record`'s transaction; AUTOINCREMENT makes
SQLite never reuse a seq, even after the newest row is deleted (Rule 1).
"""

from __future__ import annotations

import sqlite3

from adapter.model.events import TransactionEvent


def append(db: sqlite3.Connection, event: TransactionEvent) -> TransactionEvent:
    """Insert the event; it comes back with its seq."""
    cur = db.execute("INSERT INTO outbox (payment_id, body) VALUES (?, ?)",
                     (event.payment_id, event.model_dump_json()))
    assert cur.lastrowid is not None
    return event.model_copy(update={"seq": cur.lastrowid})


class SqliteEventOutbox:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    async def since(self, seq: int, limit: int) -> list[TransactionEvent]:
        rows = self._db.execute(
            "SELECT seq, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()
        return [
            TransactionEvent.model_validate_json(body).model_copy(update={"seq": s})
            for s, body in rows
        ]

    async def last_seq(self) -> int:
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()
        return int(row[0])
