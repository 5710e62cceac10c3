"""Group commit: the writes queued in one event-loop turn share one SQLite transaction.

A COMMIT is the expensive part of a small write (it appends every dirty page to the WAL);
the adapter makes two per payment. Under load many payments are in flight at once, so
writes queued during the same loop turn are run together: one BEGIN IMMEDIATE, one
SAVEPOINT per write (so a failing write is undone alone and its caller gets its exception),
one COMMIT.

Invariants:
- Rule 1: a caller's `await run(op)` returns only after the transaction holding `op` has
  committed. Nothing a caller does next (calling the core, answering its client) can get
  ahead of its write.
- Rule 2: writes run in the order they were queued.
- Rule 3: a write whose caller was cancelled before the flush is not run at all; one
  cancelled after the flush has been committed (the caller's own recovery applies, as if it
  had been cancelled just after a commit of its own).
- Rule 4: if the COMMIT itself fails, every write of the batch fails with that error and
  nothing of the batch is kept.
Everything runs on the event loop's thread: no thread hop per write.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class GroupCommit:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._queue: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self.commits = 0  # for tests and metrics: how many transactions were written

    async def run(self, op: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.append((op, future))
        if len(self._queue) == 1:
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch, self._queue = self._queue, []
        db = self._db
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for op, future in batch:
                if future.cancelled():  # Rule 3
                    continue
                db.execute("SAVEPOINT write")
                try:
                    result = op()
                except Exception as exc:
                    db.execute("ROLLBACK TO write")
                    db.execute("RELEASE write")
                    outcomes.append((future, None, exc))
                else:
                    db.execute("RELEASE write")
                    outcomes.append((future, result, None))
            db.execute("COMMIT")
            self.commits += 1
        except BaseException as exc:  # Rule 4
            if db.in_transaction:
                db.execute("ROLLBACK")
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, result, error in outcomes:
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)
