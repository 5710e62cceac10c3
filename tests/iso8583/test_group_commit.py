"""Group commit of the SQLite reversal store (the one `adapter.infra.group_commit`): one
transaction per paced flush, the write-ahead rule kept throughout, also through the connector."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from adapter.model.errors import CoreUnavailable
from adapter.ports.reversals import ReversalState
from adapter.stores.sqlite.reversals import SqliteReversalStore
from tests.iso8583.support import iso_env, run, transfer


def original(reference: str) -> dict[str, str]:
    return {"t": "0200", "3": "400000", "4": "000000000100", "7": "1128000000", "11": "000099",
            "37": reference, "41": "ADAPTER1", "49": "978", "102": "10000001",
            "103": "10000002"}


def committed(path: Path) -> dict[str, str]:
    """Reference -> state as another process would read it: committed rows only."""
    db = sqlite3.connect(path)
    try:
        return dict(db.execute("SELECT reference, state FROM reversals").fetchall())
    finally:
        db.close()


class FailingInserts:
    """Stands in for the store's connection: every INSERT fails like a full disk."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql.startswith("INSERT"):
            raise sqlite3.OperationalError("database or disk is full")
        return self._db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def test_arms_and_disarms_of_one_loop_turn_share_one_commit(tmp_path: Path) -> None:
    """20 arms queued in one loop turn are one transaction, and so are their 20 disarms."""

    async def scenario() -> None:
        store = SqliteReversalStore(tmp_path / "r.sqlite")
        refs = [f"REFGRP{i:06d}" for i in range(20)]
        before = store.commits
        armed = await asyncio.gather(*(store.arm(r, original(r)) for r in refs))
        assert armed == [True] * 20
        assert store.commits == before + 1
        assert committed(store.path) == dict.fromkeys(refs, "armed")
        await asyncio.gather(*(store.disarm(r) for r in refs))
        assert store.commits == before + 2
        assert committed(store.path) == {}
        await store.aclose()

    run(scenario())


def test_second_arm_of_a_reference_is_refused_in_the_same_batch(tmp_path: Path) -> None:
    """Two arms of one reference in one transaction: the first wins, the second is False."""

    async def scenario() -> None:
        store = SqliteReversalStore(tmp_path / "r.sqlite")
        first, second = await asyncio.gather(store.arm("REFTWICE0001", original("REFTWICE0001")),
                                             store.arm("REFTWICE0001", original("REFTWICE0001")))
        assert (first, second) == (True, False)
        assert store.commits == 1
        await store.aclose()

    run(scenario())


def test_arm_cancelled_before_its_flush_is_never_written(tmp_path: Path) -> None:
    """A caller cancelled while its arm waits for the flush leaves no row and no commit."""

    async def scenario() -> None:
        store = SqliteReversalStore(tmp_path / "r.sqlite")
        kept = asyncio.create_task(store.arm("REFKEPT00001", original("REFKEPT00001")))
        gone = asyncio.create_task(store.arm("REFGONE00001", original("REFGONE00001")))
        await asyncio.sleep(0)  # both tasks have queued their rows; the flush has not run
        assert store.queued == 2
        gone.cancel()
        assert await kept is True
        with pytest.raises(asyncio.CancelledError):
            await gone
        assert store.commits == 1
        assert committed(store.path) == {"REFKEPT00001": "armed"}
        await store.aclose()

    run(scenario())


def test_arm_cancelled_after_its_commit_takes_the_row_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller cancelled between the commit and its wake-up deletes its row before it ends."""

    async def scenario() -> None:
        store = SqliteReversalStore(tmp_path / "r.sqlite")
        flush = store.writes._flush
        tasks: list[asyncio.Task[bool]] = []

        def flush_then_cancel() -> None:
            flush()
            if tasks:
                assert committed(store.path) == {"REFLATE00001": "armed"}
                tasks.pop().cancel()

        monkeypatch.setattr(store.writes, "_flush", flush_then_cancel)
        task = asyncio.create_task(store.arm("REFLATE00001", original("REFLATE00001")))
        tasks.append(task)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert committed(store.path) == {}
        await store.aclose()

    run(scenario())


def test_cancelled_disarm_is_still_written(tmp_path: Path) -> None:
    """The reply was definite: a disarm whose caller is cancelled is committed anyway."""

    async def scenario() -> None:
        store = SqliteReversalStore(tmp_path / "r.sqlite")
        await store.arm("REFDIS000001", original("REFDIS000001"))
        task = asyncio.create_task(store.disarm("REFDIS000001"))
        await asyncio.sleep(0)
        assert store.queued == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await store.aclose()  # writes what is queued
        assert committed(store.path) == {}

    run(scenario())


def test_rows_committed_by_a_flush_survive_a_crash_right_after_it(tmp_path: Path) -> None:
    """A process killed just after its group commit (before anything is sent) leaves every
    row ARMED: the next start-up owes a reversal for each."""
    path = tmp_path / "r.sqlite"
    script = f"""
import asyncio, os
from pathlib import Path
from adapter.stores.sqlite.reversals import SqliteReversalStore
from tests.iso8583.test_group_commit import original

async def main():
    store = SqliteReversalStore(Path({str(path)!r}))
    flush = store.writes._flush
    def flush_then_crash():
        flush()
        os._exit(0)  # no cleanup, no close: as a kill -9 right after the COMMIT
    store.writes._flush = flush_then_crash
    await asyncio.gather(*(store.arm(f"REFCRASH{{i:04d}}", original(f"REFCRASH{{i:04d}}"))
                           for i in range(10)))

asyncio.run(main())
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60,
                   cwd=Path(__file__).parents[2])
    async def reopen() -> list[tuple[str, ReversalState]]:
        store = SqliteReversalStore(path)
        try:
            return [(r.reference, r.state) for r in await store.outstanding()]
        finally:
            await store.aclose()

    assert sorted(run(reopen())) == [(f"REFCRASH{i:04d}", ReversalState.ARMED)
                                     for i in range(10)]


def test_concurrent_postings_share_commits_and_every_0200_finds_its_row(
    pki_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """50 postings in one loop turn: one commit arms them all before the first 0200 reaches
    the core, each 0200 finds its ARMED row committed, and each booking is returned only
    after its row is gone."""

    async def scenario() -> None:
        async with iso_env(pki_dir, tmp_path) as env:
            conn = await env.connector()
            start = conn.store.commits
            commits_at_host: list[int] = []
            rows_at_host: list[str | None] = []
            post = env.host._post

            def checked_post(msg: dict[str, str], *, biller: bool) -> dict[str, str]:
                commits_at_host.append(conn.store.commits)
                rows_at_host.append(committed(conn.store.path).get(msg["37"]))
                return post(msg, biller=biller)

            monkeypatch.setattr(env.host, "_post", checked_post)

            async def booked(ref: str) -> str | None:
                await conn.post(transfer(ref, "1.00"), timeout=10)
                return committed(conn.store.path).get(ref, "gone")

            refs = [f"REFCON{i:06d}" for i in range(50)]
            after_return = await asyncio.gather(*(booked(r) for r in refs))

            assert after_return == ["gone"] * 50
            assert rows_at_host == ["armed"] * 50
            assert commits_at_host[0] == start + 1  # all 50 arms in one transaction
            assert conn.store.commits - start < 50  # the disarms were grouped too
            assert env.balance("10000001")[0] == 1_000_000 - 50 * 100

    run(scenario())


def test_postings_cancelled_while_arming_are_never_sent(pki_dir: Path, tmp_path: Path) -> None:
    """Postings cancelled before their group commit leave no row and never reach the core."""

    async def scenario() -> None:
        async with iso_env(pki_dir, tmp_path) as env:
            conn = await env.connector()
            tasks = [asyncio.create_task(conn.post(transfer(f"REFCAN{i:06d}"), timeout=5))
                     for i in range(10)]
            await asyncio.sleep(0)  # every posting has queued its arm; none is committed
            assert conn.store.queued == 10
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(r, asyncio.CancelledError) for r in results)
            # A posting after them goes through: the 0200s the core sees are its only.
            await conn.post(transfer("REFCANAFTER1"), timeout=5)
            assert [m["37"] for m in env.host.received if m["t"] == "0200"] == ["REFCANAFTER1"]
            assert committed(conn.store.path) == {}
            assert env.balance("10000001")[0] == 1_000_000 - 1000

    run(scenario())


def test_postings_cancelled_after_arming_are_never_sent(
    pki_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Postings cancelled between their group commit and sending take their rows back."""

    async def scenario() -> None:
        async with iso_env(pki_dir, tmp_path) as env:
            conn = await env.connector()
            flush = conn.store.writes._flush
            tasks: list[asyncio.Task[Any]] = []

            def flush_then_cancel() -> None:
                flush()
                if tasks:
                    for task in tasks:
                        task.cancel()
                    tasks.clear()

            monkeypatch.setattr(conn.store.writes, "_flush", flush_then_cancel)
            refs = [f"REFCAA{i:06d}" for i in range(10)]
            pending = [asyncio.create_task(conn.post(transfer(r), timeout=5)) for r in refs]
            tasks.extend(pending)
            results = await asyncio.gather(*pending, return_exceptions=True)
            assert all(isinstance(r, asyncio.CancelledError) for r in results)
            assert committed(conn.store.path) == {}
            assert not [m for m in env.host.received if m["t"] == "0200"]
            assert await conn.store.outstanding() == []

    run(scenario())


def test_failed_group_commit_sends_nothing(pki_dir: Path, tmp_path: Path) -> None:
    """An arm that cannot be committed is CoreUnavailable and its 0200 never leaves."""

    async def scenario() -> None:
        async with iso_env(pki_dir, tmp_path) as env:
            conn = await env.connector()
            db = conn.store._db
            conn.store._db = FailingInserts(db)  # type: ignore[assignment]
            results = await asyncio.gather(
                *(conn.post(transfer(f"REFFUL{i:06d}"), timeout=5) for i in range(5)),
                return_exceptions=True)
            assert all(isinstance(r, CoreUnavailable) for r in results)
            conn.store._db = db
            assert not [m for m in env.host.received if m["t"] == "0200"]
            assert committed(conn.store.path) == {}
            assert not db.in_transaction

    run(scenario())
