"""WS-Security nonces in SQLite (`adapter.ports.nonces`), for processes that share them.

A row per accepted (username, nonce), kept as a SHA-256 digest (the nonce itself is never
stored) with the time it was accepted. `add` is one group-committed write: delete the rows
past retention, then INSERT OR IGNORE the new digest; the primary key makes a repeat, from
this process or another one on the same file, a no-op, so it returns True at most once
(Rules 1 and 4). Rows are kept exactly `retention` seconds (Rule 2). The disk is the only
bound, so Rule 3 (refuse when full) applies only as a failed write: it raises, it never
accepts.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from adapter.infra.group_commit import LINGER
from adapter.stores.sqlite.database import SqliteDatabase

FILENAME = "wss-nonces.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS wss_nonces (
    digest BLOB PRIMARY KEY,
    seen_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS wss_nonces_seen_at ON wss_nonces (seen_at);
"""


class SqliteNonceStore:
    def __init__(self, path: Path, *, retention: float, synchronous: str = "NORMAL",
                 linger: float = LINGER) -> None:
        if retention <= 0:
            raise ValueError("retention must be > 0")
        self._retention = retention
        self._database = SqliteDatabase(path, SCHEMA, synchronous=synchronous, linger=linger)
        self._db = self._database.db

    @property
    def retention(self) -> float:
        return self._retention

    async def add(self, username: str, nonce: bytes, *, now: float) -> bool:
        digest = hashlib.sha256(username.encode() + b"\0" + nonce).digest()
        return await self._database.writes.run(lambda: self._add(digest, now))

    def _add(self, digest: bytes, now: float) -> bool:
        self._db.execute("DELETE FROM wss_nonces WHERE seen_at < ?", (now - self._retention,))
        cur = self._db.execute("INSERT OR IGNORE INTO wss_nonces VALUES (?, ?)", (digest, now))
        return cur.rowcount == 1

    async def aclose(self) -> None:
        self._database.close()
