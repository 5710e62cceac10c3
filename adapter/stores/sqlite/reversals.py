"""The ISO 8583 reversal store in SQLite (`adapter.ports.reversals`).

One file in the state dir, STATE/iso8583-reversals.sqlite (moved here from the connector);
the original request is kept as JSON of its data elements.

How the port's rules are kept:
- Rules 1 and 3 (write-ahead, cancellation): `arm` and `disarm`, the two writes of every
  posting, go through the database's group commit (`adapter.infra.group_commit`): queued
  together, written in one BEGIN IMMEDIATE ... COMMIT, each caller woken only after it. An
  `arm` cancelled before its flush is dropped (group commit Rule 3); one cancelled after
  its row was committed (the flush ran, the caller had not resumed) deletes the row at once,
  synchronously, before the cancellation propagates: the 0200 never left. `disarm` is queued
  with `keep=True`: written even if its caller is cancelled. Both are one statement each, so
  they skip the per-write SAVEPOINT.
- With `synchronous="NORMAL"` (the default, as for the payment journal) a commit survives a
  process crash but not a power loss; `"FULL"` adds an fsync per commit. Either way the
  payment journal also holds the posting as ACCEPTED before it is sent, and the resolver
  reverses it after a restart even when this store lost its row.
- The rare writes (`mark_pending`, `count_attempt`, `mark_reversed`) commit at once, each
  on its own: everything runs on the loop thread, between flushes, so no transaction is open.
- Rule 6: every sqlite3 failure surfaces as `ReversalStoreError`.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from adapter.infra.group_commit import LINGER, GroupCommit
from adapter.ports.clock import Clock, system_clock
from adapter.ports.reversals import Reversal, ReversalState, ReversalStoreError
from adapter.stores.sqlite.database import SqliteDatabase

FILENAME = "iso8583-reversals.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS reversals (
    reference TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    original TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    completed_at TEXT
);
CREATE INDEX IF NOT EXISTS reversals_state ON reversals (state);
"""

_SELECT = "SELECT reference, state, original, attempts, completed_at FROM reversals"
_INSERT_SQL = ("INSERT OR IGNORE INTO reversals (reference, state, original, created_at,"
               " updated_at) VALUES (?, ?, ?, ?, ?)")
_DISARM_SQL = "DELETE FROM reversals WHERE reference = ? AND state = ?"

T = TypeVar("T")


def _row(row: tuple[str, str, str, int, str | None]) -> Reversal:
    reference, state, original, attempts, completed = row
    return Reversal(reference, ReversalState(state), json.loads(original), attempts,
                    datetime.fromisoformat(completed) if completed else None)


class SqliteReversalStore:
    def __init__(self, path: Path, *, synchronous: str = "NORMAL", linger: float = LINGER,
                 clock: Clock = system_clock) -> None:
        self._database = SqliteDatabase(path, SCHEMA, synchronous=synchronous, linger=linger)
        self._db = self._database.db
        self._clock = clock
        self._direct_commits = 0
        self.path = path

    @classmethod
    def in_dir(cls, state_dir: Path, *, synchronous: str = "NORMAL", linger: float = LINGER,
               clock: Clock = system_clock) -> SqliteReversalStore:
        return cls(Path(state_dir) / FILENAME, synchronous=synchronous, linger=linger,
                   clock=clock)

    @property
    def writes(self) -> GroupCommit:
        return self._database.writes

    @property
    def commits(self) -> int:
        """Write transactions committed (tests, metrics)."""
        return self._database.writes.commits + self._direct_commits

    @property
    def queued(self) -> int:
        """Writes waiting for the next flush."""
        return self._database.writes.queued

    async def aclose(self) -> None:
        self._database.close()

    def _now(self) -> str:
        return self._clock().isoformat()

    def _open(self) -> None:
        if self._database.closed:
            raise ReversalStoreError("the reversal store is closed")

    async def get(self, reference: str) -> Reversal | None:
        return self._get(reference)

    def _get(self, reference: str) -> Reversal | None:
        row = self._db.execute(_SELECT + " WHERE reference = ?", (reference,)).fetchone()
        return None if row is None else _row(row)

    # -- the two writes of every posting, group-committed (Rules 1 and 3) --------------------

    def _insert(self, reference: str, state: ReversalState, original: str) -> bool:
        now = self._now()
        return self._db.execute(_INSERT_SQL, (reference, state, original, now, now)).rowcount == 1

    async def arm(self, reference: str, original: Mapping[str, str]) -> bool:
        self._open()
        body = json.dumps(dict(original))
        done = self._database.writes.submit(
            lambda: self._insert(reference, ReversalState.ARMED, body), one_statement=True)
        try:
            return await done
        except asyncio.CancelledError:
            if done.done() and not done.cancelled() and done.exception() is None \
                    and done.result():
                # Committed, but the caller will never send it: take the row back now.
                self._write_now(lambda: self._db.execute(
                    _DISARM_SQL, (reference, ReversalState.ARMED)))
            raise
        except sqlite3.Error as exc:
            raise ReversalStoreError(f"the reversal store could not commit: {exc}") from exc

    async def disarm(self, reference: str) -> None:
        self._open()
        try:
            await self._database.writes.run(
                lambda: self._db.execute(_DISARM_SQL, (reference, ReversalState.ARMED)),
                one_statement=True, keep=True)
        except sqlite3.Error as exc:
            raise ReversalStoreError(f"the reversal store could not commit: {exc}") from exc

    # -- the rare writes, each committed at once ------------------------------------------

    def _write_now(self, op: Callable[[], T]) -> T:
        self._open()
        try:
            result = op()
        except sqlite3.Error as exc:
            raise ReversalStoreError(f"the reversal store could not write: {exc}") from exc
        self._direct_commits += 1
        return result

    async def mark_pending(self, reference: str,
                           original: Mapping[str, str] | None = None) -> Reversal | None:
        if original is not None:
            body = json.dumps(dict(original))
            self._write_now(lambda: self._insert(reference, ReversalState.PENDING, body))
        self._write_now(lambda: self._db.execute(
            "UPDATE reversals SET state = ?, updated_at = ? WHERE reference = ? AND state = ?",
            (ReversalState.PENDING, self._now(), reference, ReversalState.ARMED)))
        return self._get(reference)

    async def count_attempt(self, reference: str) -> int:
        self._write_now(lambda: self._db.execute(
            "UPDATE reversals SET attempts = attempts + 1, updated_at = ? WHERE reference = ?",
            (self._now(), reference)))
        found = self._get(reference)
        return 0 if found is None else found.attempts

    async def mark_reversed(self, reference: str) -> None:
        now = self._now()
        self._write_now(lambda: self._db.execute(
            "UPDATE reversals SET state = ?, updated_at = ?, completed_at = ?"
            " WHERE reference = ?", (ReversalState.REVERSED, now, now, reference)))

    async def outstanding(self) -> list[Reversal]:
        rows = self._db.execute(
            _SELECT + " WHERE state IN (?, ?) ORDER BY created_at, rowid",
            (ReversalState.ARMED, ReversalState.PENDING)).fetchall()
        return [_row(r) for r in rows]
