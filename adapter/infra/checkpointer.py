"""WAL checkpoints off the event loop.

SQLite in WAL mode copies the log back into the database ("checkpoint") by default inside
whichever COMMIT crosses 1000 pages: that commit then writes and fsyncs megabytes while the
event loop waits. Measured on the adapter's journal, that was half of its cost per payment.
The connection that serves requests therefore turns automatic checkpoints off
(`PRAGMA wal_autocheckpoint=0`) and this thread, on its own connection, runs a PASSIVE
checkpoint every `interval` seconds: PASSIVE never blocks writers, and the thread releases
the GIL while SQLite does its I/O.

Invariant: a checkpoint never changes what a reader sees; it only bounds the WAL's size.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class BackgroundCheckpointer:
    def __init__(self, path: Path, *, interval: float = 0.5) -> None:
        self._path = path
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"checkpoint:{path.name}",
                                        daemon=True)

    @staticmethod
    def disable_auto(db: sqlite3.Connection) -> None:
        """Make `db`, the serving connection, leave checkpoints to this thread."""
        db.execute("PRAGMA wal_autocheckpoint=0")

    def start(self) -> BackgroundCheckpointer:
        self._thread.start()
        return self

    def _run(self) -> None:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout=1000")
        try:
            while not self._stop.wait(self._interval):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:  # a busy database: the next round catches up
                    log.debug("checkpoint of %s skipped: %s", self._path.name, exc)
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()

    def stop(self) -> None:
        """Stop after one last checkpoint that also truncates the WAL."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
