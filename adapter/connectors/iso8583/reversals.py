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
- Rule 4 (group commit): `arm` and `disarm`, the two writes of every posting, are queued and
  written together: the first one queued schedules one flush (paced: at once, or at most
  `linger` after the previous one; see `adapter.infra.group_commit`), which writes every
  queued row in one BEGIN IMMEDIATE ... COMMIT and only then wakes the callers. So
  `await arm(...)` returns only once its row is committed (Rule 1 holds), and
  `await disarm(...)` once the row is gone. All SQLite work stays on the loop thread: a flush
  is tens of microseconds, a thread hop per request would cost more.
- Rule 5 (cancellation): an `arm` cancelled before its flush is dropped from the batch: never
  written, and the caller never sends. An `arm` cancelled after its row was committed (the
  flush ran, the caller had not resumed yet) deletes the row at once, synchronously: the 0200
  never left. A cancelled `disarm` is still written by the flush: the reply was definite.
  The other writes (`mark_pending`, `count_attempt`, `mark_reversed`) are rare and commit
  immediately, each on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from adapter.connectors.iso8583.codec import Message
from adapter.infra.checkpointer import BackgroundCheckpointer
from adapter.infra.group_commit import LINGER, FlushPacer

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


_ARM_SQL = ("INSERT OR IGNORE INTO reversals(reference, state, original, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?)")
_DISARM_SQL = "DELETE FROM reversals WHERE reference = ? AND state = ?"


@dataclass(frozen=True, slots=True)
class _Write:
    """One queued write: an ARMED row to insert (`original` set) or one to delete."""

    reference: str
    original: str | None  # the request as JSON for an arm; None for a disarm
    done: asyncio.Future[bool]


class ReversalStore:
    def __init__(self, path: Path, *, synchronous: str = "NORMAL",
                 linger: float = LINGER) -> None:
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
        self._queue: list[_Write] = []
        # Looked up at each run, so a test can wrap an instance's _flush (crash injection).
        self._pacer = FlushPacer(lambda: self._flush(), linger)
        self._closed = False
        self.commits = 0  # write transactions committed (tests, metrics)

    @classmethod
    def in_dir(cls, state_dir: Path, *, synchronous: str = "NORMAL",
               linger: float = LINGER) -> ReversalStore:
        return cls(Path(state_dir) / FILENAME, synchronous=synchronous, linger=linger)

    def close(self) -> None:
        """Write what is still queued, then close."""
        if not self._closed:
            self._pacer.run_now()
            self._closed = True
            self._db.close()
            self._checkpointer.stop()

    @property
    def queued(self) -> int:
        """Writes waiting for the next flush."""
        return len(self._queue)

    def get(self, reference: str) -> Reversal | None:
        row = self._db.execute(
            "SELECT reference, state, original, attempts, completed_at FROM reversals"
            " WHERE reference = ?", (reference,)).fetchone()
        return None if row is None else _row(row)

    # -- the two writes of every posting, group-committed (Rules 1, 4, 5) --------------------

    async def arm(self, reference: str, original: Message) -> bool:
        """Record the request before it is sent; returns once the row is committed. False if
        the reference already has a row. Raises sqlite3.Error if it could not be written."""
        done = self._enqueue(reference, json.dumps(original))
        try:
            return await done
        except asyncio.CancelledError:
            if done.done() and not done.cancelled() and done.exception() is None \
                    and done.result():
                # Committed, but the caller will never send it: take the row back now.
                self._write_now(_DISARM_SQL, (reference, ReversalState.ARMED))
            raise

    async def disarm(self, reference: str) -> None:
        """The request got a definite reply (or certainly did not leave): nothing to reverse.
        Returns once the row is deleted; cancelling the wait does not cancel the delete."""
        await self._enqueue(reference, None)

    def _enqueue(self, reference: str, original: str | None) -> asyncio.Future[bool]:
        if self._closed:
            raise sqlite3.ProgrammingError("the reversal store is closed")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[bool] = loop.create_future()
        self._queue.append(_Write(reference, original, done))
        self._pacer.request()  # everyone queued until the flush shares its transaction
        return done

    def _flush(self) -> None:
        """One transaction for every queued write, then wake the writers."""
        batch, self._queue = self._queue, []
        # An arm whose caller was cancelled before now is never written (Rule 5).
        batch = [w for w in batch if w.original is None or not w.done.cancelled()]
        if not batch:
            return
        now = _now()
        results: list[bool] = []
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            for w in batch:
                if w.original is None:
                    db.execute(_DISARM_SQL, (w.reference, ReversalState.ARMED))
                    results.append(True)
                else:
                    cur = db.execute(_ARM_SQL, (w.reference, ReversalState.ARMED, w.original,
                                                now, now))
                    results.append(cur.rowcount == 1)
            db.execute("COMMIT")
        except Exception as exc:  # every writer must wake up, whatever went wrong
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            for w in batch:
                if not w.done.done():
                    w.done.set_exception(sqlite3.OperationalError(
                        f"the reversal store could not commit: {exc}"))
            return
        self.commits += 1
        for w, result in zip(batch, results, strict=True):
            if not w.done.done():
                w.done.set_result(result)

    def _write_now(self, sql: str, params: tuple[object, ...]) -> None:
        self._db.execute(sql, params)
        self.commits += 1

    # -- the rare writes, each committed at once ------------------------------------------

    def mark_pending(self, reference: str, original: Message | None = None) -> Reversal | None:
        """The request's outcome is unknown: it must be reversed (inserted if `original` is
        given and there is no row). None if there is no row (it was disarmed meanwhile)."""
        now = _now()
        if original is not None:
            self._write_now(_ARM_SQL, (reference, ReversalState.PENDING, json.dumps(original),
                                       now, now))
        self._write_now(
            "UPDATE reversals SET state = ?, updated_at = ? WHERE reference = ? AND state = ?",
            (ReversalState.PENDING, now, reference, ReversalState.ARMED))
        return self.get(reference)

    def count_attempt(self, reference: str) -> int:
        self._write_now("UPDATE reversals SET attempts = attempts + 1, updated_at = ?"
                        " WHERE reference = ?", (_now(), reference))
        found = self.get(reference)
        return 0 if found is None else found.attempts

    def mark_reversed(self, reference: str) -> None:
        now = _now()
        self._write_now(
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
