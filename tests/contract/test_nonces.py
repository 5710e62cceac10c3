"""Contract of the WS-Security nonce port (`adapter.ports.nonces`), on every backend; then
what each backend adds (the memory store's bound, the SQLite store shared by processes)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from adapter.model.errors import InternalError
from adapter.ports.nonces import NonceStore
from adapter.stores.memory import MemoryNonceStore
from adapter.stores.sqlite import SqliteNonceStore
from tests.contract.conftest import RETENTION, run_with, run_with_two

Opener = Callable[[], NonceStore]
NOW = 1_764_000_000.0


def test_a_nonce_is_accepted_once_per_username(open_nonces: Opener) -> None:
    """Rule 1: True the first time, False for the repeat; another user's same nonce is new."""
    async def scenario(n: NonceStore) -> tuple[bool, ...]:
        return (await n.add("legacy", b"n" * 16, now=NOW),
                await n.add("legacy", b"n" * 16, now=NOW + 1),
                await n.add("other", b"n" * 16, now=NOW + 1),
                await n.add("legacy", b"m" * 16, now=NOW + 1))

    assert run_with(open_nonces, scenario) == (True, False, True, True)


def test_a_nonce_is_remembered_for_the_retention_then_forgotten(open_nonces: Opener) -> None:
    """Rule 2: still a replay `retention` seconds after it was accepted; accepted again once
    the store has had the time to forget it (the token's Created is stale by then)."""
    async def scenario(n: NonceStore) -> tuple[float, bool, bool, bool]:
        first = await n.add("legacy", b"a" * 16, now=NOW)
        at_edge = await n.add("legacy", b"a" * 16, now=NOW + RETENTION)
        much_later = await n.add("legacy", b"a" * 16, now=NOW + 2 * RETENTION)
        return n.retention, first, at_edge, much_later

    assert run_with(open_nonces, scenario) == (RETENTION, True, False, True)


def test_concurrent_adds_of_one_nonce_accept_it_once(open_nonces: Opener) -> None:
    """Rule 4: ten requests racing with one nonce: exactly one passes."""
    async def scenario(n: NonceStore) -> list[bool]:
        return list(await asyncio.gather(*(n.add("legacy", b"r" * 16, now=NOW)
                                           for _ in range(10))))

    assert sorted(run_with(open_nonces, scenario)) == [False] * 9 + [True]


def test_the_memory_store_fails_closed_when_full() -> None:
    """Rule 3: at its bound a new nonce is refused (INTERNAL_ERROR), an old one is kept."""
    async def scenario() -> None:
        n = MemoryNonceStore(RETENTION, max_entries=2)
        assert await n.add("legacy", b"a" * 16, now=NOW)
        assert await n.add("legacy", b"b" * 16, now=NOW)
        with pytest.raises(InternalError):
            await n.add("legacy", b"c" * 16, now=NOW)
        assert await n.add("legacy", b"a" * 16, now=NOW) is False
        assert len(n) == 2

    asyncio.run(scenario())


def test_the_memory_store_drops_whole_buckets_past_retention() -> None:
    """Memory stays bounded: once a bucket is past retention its nonces no longer count."""
    async def scenario() -> tuple[bool, int]:
        n = MemoryNonceStore(360, bucket_seconds=10)
        await n.add("legacy", b"a" * 16, now=1000.0)
        return await n.add("legacy", b"b" * 16, now=1000.0 + 360 + 20), len(n)

    assert asyncio.run(scenario()) == (True, 1)


def test_two_sqlite_stores_on_one_file_share_their_nonces(tmp_path: Path) -> None:
    """Rule 4 across processes: a nonce accepted through one connection is a replay through
    another on the same file."""
    async def scenario() -> tuple[bool, bool]:
        a = SqliteNonceStore(tmp_path / "n.sqlite", retention=RETENTION)
        b = SqliteNonceStore(tmp_path / "n.sqlite", retention=RETENTION)
        try:
            return (await a.add("legacy", b"x" * 16, now=NOW),
                    await b.add("legacy", b"x" * 16, now=NOW + 1))
        finally:
            await a.aclose()
            await b.aclose()

    assert asyncio.run(scenario()) == (True, False)


def test_two_stores_on_one_database_accept_a_nonce_once(open_nonces: Opener) -> None:
    """Rule 4 across processes: two stores on the same data (two connections), each adding
    the same 20 nonces at once: every nonce is accepted exactly once, whichever store sees
    it first."""
    async def scenario(a: NonceStore, b: NonceStore) -> list[int]:
        accepted = []
        for i in range(20):
            nonce = i.to_bytes(16, "big")
            results = await asyncio.gather(*(s.add("legacy", nonce, now=NOW)
                                             for s in (a, b, a, b)))
            accepted.append(sum(results))
        return accepted

    assert run_with_two(open_nonces, scenario) == [1] * 20
