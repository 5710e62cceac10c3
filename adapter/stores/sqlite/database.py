"""One SQLite database file as every SQLite store opens it: settings, checkpointer, writes.

Why synchronous sqlite3 inside async methods: each write is a few short statements (tens of
microseconds in WAL mode); a thread hop would cost more than the work. A store is used from
one event loop, so one connection suffices and statements are cached by sqlite3. Writes that
callers wait for go through the one group commit (`adapter.infra.group_commit`): those
queued together share a transaction, and each returns only once it is committed.

Settings: WAL (readers never block the writer), checkpointed by a background thread so no
request waits for one (`adapter.infra.checkpointer`); synchronous=NORMAL by default (a
commit survives a process crash; a power loss may lose the last transactions) or FULL (an
fsync per commit: survives a power loss, at a measurable cost per payment; choose it in
production with `--sqlite-synchronous FULL`); foreign keys on; a busy timeout for a second
process.

Invariant: `close()` commits every queued write before the connection is closed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from adapter.infra.checkpointer import BackgroundCheckpointer
from adapter.infra.group_commit import LINGER, GroupCommit

SYNCHRONOUS = ("NORMAL", "FULL")


class SqliteDatabase:
    def __init__(self, path: Path, schema: str, *, synchronous: str = "NORMAL",
                 linger: float = LINGER) -> None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError("synchronous must be NORMAL or FULL")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={synchronous}")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(schema)
        BackgroundCheckpointer.disable_auto(self.db)
        self._checkpointer = BackgroundCheckpointer(path).start()
        self.writes = GroupCommit(self.db, linger=linger)
        self.closed = False

    def ping(self) -> None:
        """Read the file's header (the schema version): a closed connection or an unreadable
        file raises. In WAL mode a reader never waits for the writer."""
        self.db.execute("PRAGMA schema_version").fetchone()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.writes.drain()
        self.db.close()
        self._checkpointer.stop()
