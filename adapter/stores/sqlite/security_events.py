"""The security-event log in SQLite (`adapter.ports.security_events`), its own file
(STATE/security-events.sqlite) so a flood of events never queues behind payment writes.

AUTOINCREMENT: a seq is never reused, even after the newest row is deleted (Rule 1). Each
append is one group-committed write and returns once it is durable.
"""

from __future__ import annotations

from pathlib import Path

from adapter.infra.group_commit import LINGER
from adapter.model.security_events import SecurityEvent
from adapter.stores.sqlite.database import SqliteDatabase

FILENAME = "security-events.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS security_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    signal TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL
);
"""


class SqliteSecurityEventLog:
    def __init__(self, path: Path, *, synchronous: str = "NORMAL",
                 linger: float = LINGER) -> None:
        self._database = SqliteDatabase(path, SCHEMA, synchronous=synchronous, linger=linger)
        self._db = self._database.db

    @classmethod
    def in_dir(cls, folder: Path, *, synchronous: str = "NORMAL",
               linger: float = LINGER) -> SqliteSecurityEventLog:
        return cls(Path(folder) / FILENAME, synchronous=synchronous, linger=linger)

    async def append(self, event: SecurityEvent) -> SecurityEvent:
        body = event.model_dump_json(exclude={"seq"})

        def write() -> int:
            cur = self._db.execute(
                "INSERT INTO security_events (signal, subject, body) VALUES (?, ?, ?)",
                (event.signal.value, event.subject, body))
            assert cur.lastrowid is not None
            return cur.lastrowid

        seq = await self._database.writes.run(write)
        return event.model_copy(update={"seq": seq})

    async def since(self, seq: int, limit: int) -> list[SecurityEvent]:
        rows = self._db.execute(
            "SELECT seq, body FROM security_events WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit)).fetchall()
        return [SecurityEvent.model_validate_json(body).model_copy(update={"seq": s})
                for s, body in rows]

    async def last_seq(self) -> int:
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM security_events").fetchone()
        return int(row[0])

    async def aclose(self) -> None:
        self._database.close()
