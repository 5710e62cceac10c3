"""The persistent store of reversals: what must be undone survives a restart.

Owns one small SQLite file in the adapter's state dir. A row per posting reference (field 37):

    ARMED ──> (row deleted)          the 0200 got a definite reply (approved or refused)
      │
      └──> PENDING ──> REVERSED      no reply: 0420/0421 until the core answers 0430

Invariants:
- Rule 1 (write-ahead): a row is ARMED, committed, BEFORE the 0200 leaves. A crash at any point
  after that leaves a row, and every ARMED or PENDING row found at start-up is reversed: money
  is never left half done. With `synchronous="NORMAL"` (the default, as for the adapter's
  journal) a commit survives a process crash but not a power loss; `"FULL"` adds an fsync per
  commit. Either way the payment journal also holds the posting as ACCEPTED before it is sent,
  and the resolver reverses it after a restart even when this store lost its row.
- Rule 2: REVERSED is final and kept, so `resolve` answers REVERSED after a restart without
  asking the core again.
- Rule 3: the original request's data elements (the fields 0420 repeats, and field 90's
  MTI, STAN and transmission time) are stored with the row, as sent.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from adapter.connectors.iso8583.codec import Message
from adapter.stores.checkpointer import BackgroundCheckpointer

FILENAME = "iso8583-reversals.sqlite"


class ReversalState(StrEnum):
    ARMED = "armed"
    PENDING = "pending"
    REVERSED = "reversed"


@dataclass(frozen=True)
class Reversal:
    reference: str
    state: ReversalState
    original: Message
    attempts: int
    completed_at: datetime | None


def _now() -> str:
    return datetime.now(UTC).isoformat()


class ReversalStore:
    def __init__(self, path: Path, *, synchronous: str = "NORMAL") -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be NORMAL or FULL")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        BackgroundCheckpointer.disable_auto(self._db)
        self._checkpointer = BackgroundCheckpointer(path).start()
        self._db.execute(
            """CREATE TABLE IF NOT EXISTS reversals (
                   reference TEXT PRIMARY KEY,
                   state TEXT NOT NULL,
                   original TEXT NOT NULL,
                   attempts INTEGER NOT NULL DEFAULT 0,
                   created_at TEXT NOT NULL,
                   updated_at TEXT NOT NULL,
                   completed_at TEXT)"""
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS reversals_state ON reversals(state)")

    @classmethod
    def in_dir(cls, state_dir: Path, *, synchronous: str = "NORMAL") -> ReversalStore:
        return cls(Path(state_dir) / FILENAME, synchronous=synchronous)

    def close(self) -> None:
        self._db.close()
        self._checkpointer.stop()

    def get(self, reference: str) -> Reversal | None:
        row = self._db.execute(
            "SELECT reference, state, original, attempts, completed_at FROM reversals"
            " WHERE reference = ?", (reference,)).fetchone()
        return None if row is None else _row(row)

    def arm(self, reference: str, original: Message) -> bool:
        """Record the request before it is sent. False if the reference already has a row."""
        now = _now()
        cur = self._db.execute(
            "INSERT OR IGNORE INTO reversals(reference, state, original, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (reference, ReversalState.ARMED, json.dumps(original), now, now))
        return cur.rowcount == 1

    def disarm(self, reference: str) -> None:
        """The request got a definite reply: nothing to reverse."""
        self._db.execute("DELETE FROM reversals WHERE reference = ? AND state = ?",
                         (reference, ReversalState.ARMED))

    def mark_pending(self, reference: str, original: Message | None = None) -> Reversal:
        """The request's outcome is unknown: it must be reversed (inserted if absent)."""
        now = _now()
        if original is not None:
            self._db.execute(
                "INSERT OR IGNORE INTO reversals(reference, state, original, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?)",
                (reference, ReversalState.PENDING, json.dumps(original), now, now))
        self._db.execute(
            "UPDATE reversals SET state = ?, updated_at = ? WHERE reference = ? AND state = ?",
            (ReversalState.PENDING, now, reference, ReversalState.ARMED))
        found = self.get(reference)
        assert found is not None
        return found

    def count_attempt(self, reference: str) -> int:
        self._db.execute("UPDATE reversals SET attempts = attempts + 1, updated_at = ?"
                         " WHERE reference = ?", (_now(), reference))
        found = self.get(reference)
        return 0 if found is None else found.attempts

    def mark_reversed(self, reference: str) -> None:
        now = _now()
        self._db.execute(
            "UPDATE reversals SET state = ?, updated_at = ?, completed_at = ? WHERE reference = ?",
            (ReversalState.REVERSED, now, now, reference))

    def outstanding(self) -> list[Reversal]:
        """Rows still to reverse: PENDING, and ARMED ones (at start-up: their answer is lost)."""
        rows = self._db.execute(
            "SELECT reference, state, original, attempts, completed_at FROM reversals"
            " WHERE state IN (?, ?) ORDER BY created_at",
            (ReversalState.ARMED, ReversalState.PENDING)).fetchall()
        return [_row(r) for r in rows]


def _row(row: tuple[str, str, str, int, str | None]) -> Reversal:
    reference, state, original, attempts, completed = row
    return Reversal(reference, ReversalState(state), json.loads(original), attempts,
                    datetime.fromisoformat(completed) if completed else None)
