"""Group commit of the adapter's journal writes: one transaction per paced flush, and each
write's own outcome."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from adapter.infra.group_commit import GroupCommit


def _db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    return db


def _insert(db: sqlite3.Connection, key: str) -> str:
    db.execute("INSERT INTO t VALUES (?)", (key,))
    return key


def _keys(db: sqlite3.Connection) -> list[str]:
    return [r[0] for r in db.execute("SELECT k FROM t ORDER BY k")]


def test_writes_of_one_loop_turn_share_one_commit(tmp_path: Path) -> None:
    """Fifty writes queued together are committed by one transaction, in order."""
    db = _db(tmp_path / "a.db")
    writes = GroupCommit(db)

    async def main() -> list[str]:
        return await asyncio.gather(
            *(writes.run(lambda i=i: _insert(db, f"k{i:02d}")) for i in range(50)))

    assert asyncio.run(main()) == [f"k{i:02d}" for i in range(50)]
    assert writes.commits == 1
    assert _keys(sqlite3.connect(tmp_path / "a.db")) == [f"k{i:02d}" for i in range(50)]


def test_a_failing_write_is_undone_alone(tmp_path: Path) -> None:
    """A write that raises gets its exception; the others of the batch are committed."""
    db = _db(tmp_path / "a.db")
    writes = GroupCommit(db)

    def duplicate_then_fail() -> None:
        _insert(db, "b")
        raise ValueError("refused")

    async def main() -> list[Any]:
        return await asyncio.gather(
            writes.run(lambda: _insert(db, "a")), writes.run(duplicate_then_fail),
            writes.run(lambda: _insert(db, "c")), return_exceptions=True)

    first, failed, third = asyncio.run(main())
    assert (first, third) == ("a", "c")
    assert isinstance(failed, ValueError) and str(failed) == "refused"
    assert _keys(db) == ["a", "c"] and writes.commits == 1


def test_a_write_cancelled_before_the_flush_is_not_run(tmp_path: Path) -> None:
    """Cancelling a caller before its batch is flushed leaves no trace of its write."""
    db = _db(tmp_path / "a.db")
    writes = GroupCommit(db)

    async def main() -> None:
        doomed = asyncio.ensure_future(writes.run(lambda: _insert(db, "doomed")))
        kept = asyncio.ensure_future(writes.run(lambda: _insert(db, "kept")))
        await asyncio.sleep(0)  # both are queued; the flush is scheduled, not yet run
        doomed.cancel()
        assert await kept == "kept"
        with pytest.raises(asyncio.CancelledError):
            await doomed

    asyncio.run(main())
    assert _keys(db) == ["kept"]


class _FailingCommit:
    """A connection whose COMMIT fails, as a full disk would make it."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT":
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.execute(sql, *args)


def test_a_failed_commit_fails_every_write_and_keeps_nothing(tmp_path: Path) -> None:
    """If the COMMIT fails, each caller gets the error and no row of the batch is kept."""
    db = _db(tmp_path / "a.db")
    writes = GroupCommit(_FailingCommit(db))  # type: ignore[arg-type]

    async def main() -> list[Any]:
        return await asyncio.gather(writes.run(lambda: _insert(db, "a")),
                                    writes.run(lambda: _insert(db, "b")),
                                    return_exceptions=True)

    results = asyncio.run(main())
    assert [type(r) for r in results] == [sqlite3.OperationalError] * 2
    assert _keys(db) == [] and writes.commits == 0


def test_a_flush_within_linger_of_the_last_waits_and_takes_everything_queued(
        tmp_path: Path) -> None:
    """Pacing: the first write commits at once; writes queued less than `linger` after that
    commit wait (over many loop turns) and are then committed together, in one transaction."""
    db = _db(tmp_path / "a.db")
    writes = GroupCommit(db, linger=3600.0)  # never elapses within the test

    async def main() -> None:
        assert await writes.run(lambda: _insert(db, "first")) == "first"
        assert writes.commits == 1
        waiting = [asyncio.ensure_future(writes.run(lambda i=i: _insert(db, f"w{i}")))
                   for i in range(3)]
        for _ in range(5):
            await asyncio.sleep(0)  # loop turns, not time: the linger has not passed
        assert not any(w.done() for w in waiting) and writes.commits == 1
        assert _keys(sqlite3.connect(tmp_path / "a.db")) == ["first"]
        writes.drain()
        assert await asyncio.gather(*waiting) == ["w0", "w1", "w2"]
        assert writes.commits == 2

    asyncio.run(main())
    assert _keys(sqlite3.connect(tmp_path / "a.db")) == ["first", "w0", "w1", "w2"]


def test_no_linger_commits_each_turns_writes_at_once(tmp_path: Path) -> None:
    """linger=0 is the plain "one flush per loop turn" behaviour: no write ever waits."""
    db = _db(tmp_path / "a.db")
    writes = GroupCommit(db, linger=0.0)

    async def main() -> None:
        for i in range(3):
            assert await writes.run(lambda i=i: _insert(db, f"k{i}")) == f"k{i}"
        assert writes.commits == 3

    asyncio.run(main())


def test_a_negative_linger_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="linger must be >= 0"):
        GroupCommit(_db(tmp_path / "a.db"), linger=-0.001)


def test_a_kept_write_is_committed_although_its_caller_was_cancelled(tmp_path: Path) -> None:
    """Rule 3's exception: `keep=True` runs the write even when its caller is cancelled
    before the flush (a definite reply must still be recorded)."""
    db = _db(tmp_path / "a.db")
    writes = GroupCommit(db)

    async def main() -> None:
        kept = asyncio.ensure_future(writes.run(lambda: _insert(db, "kept"), keep=True))
        dropped = asyncio.ensure_future(writes.run(lambda: _insert(db, "dropped")))
        await asyncio.sleep(0)  # both are queued; the flush is scheduled, not yet run
        assert writes.queued == 2
        kept.cancel()
        dropped.cancel()
        for task in (kept, dropped):
            with pytest.raises(asyncio.CancelledError):
                await task
        assert await writes.run(lambda: _insert(db, "after")) == "after"

    asyncio.run(main())
    assert _keys(sqlite3.connect(tmp_path / "a.db")) == ["after", "kept"]


def test_a_failing_one_statement_write_is_undone_alone_without_a_savepoint(
        tmp_path: Path) -> None:
    """A one-statement write that violates a constraint fails alone: SQLite undoes the
    statement, and the batch's other writes commit."""
    db = _db(tmp_path / "a.db")
    writes = GroupCommit(db)

    async def main() -> list[Any]:
        return await asyncio.gather(
            writes.run(lambda: _insert(db, "a"), one_statement=True),
            writes.run(lambda: _insert(db, "a"), one_statement=True),
            writes.run(lambda: _insert(db, "b"), one_statement=True), return_exceptions=True)

    first, duplicate, third = asyncio.run(main())
    assert (first, third) == ("a", "b")
    assert isinstance(duplicate, sqlite3.IntegrityError)
    assert _keys(db) == ["a", "b"] and writes.commits == 1
