"""Contract of the rate-limit state port (`adapter.ports.rate_limits`), on every backend
(memory; a real Redis; a real PostgreSQL); then what each backend adds (the memory store's
bound, Redis and PostgreSQL shared by two stores as two processes would share them, the
PostgreSQL store's waits equal to the memory store's, its purge and its unlogged table)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from adapter.ports.rate_limits import RateLimitStore
from adapter.stores.memory.rate_limits import MemoryRateLimitStore
from adapter.stores.postgres.rate_limits import PostgresRateLimitStore
from adapter.stores.redis import RedisRateLimitStore
from tests.contract.conftest import opened, redis_url_or_skip, run_with
from tests.harness.postgres import fresh_database_url

Opener = Callable[[], RateLimitStore]
NOW = 1_764_000_000.0
# 3 per second: an interval of 1/3 s (not a whole number of microseconds), a capacity of 1 s.
THIRD, SECOND = 1 / 3, 1.0


async def _hits(store: RateLimitStore, key: str, now: float, n: int) -> list[float]:
    return [await store.acquire(key, now=now, interval=THIRD, capacity=SECOND)
            for _ in range(n)]


def test_a_rested_key_allows_its_burst_then_refuses_with_the_wait(open_rate_limits: Opener,
                                                                  ) -> None:
    """Rules 1-2: three calls at once are allowed (0.0); the fourth waits a third of a
    second, and asking again at the same instant waits exactly as long (nothing changed)."""
    async def scenario(s: RateLimitStore) -> list[float]:
        return await _hits(s, "transfer:partner", NOW, 5)

    out = run_with(open_rate_limits, scenario)
    assert out[:3] == [0.0, 0.0, 0.0]
    assert out[3] == pytest.approx(THIRD, abs=1e-6)
    assert out[4] == out[3]


def test_time_refills_the_budget_one_interval_at_a_time(open_rate_limits: Opener) -> None:
    """Rule 3: the caller's `now` is the only clock: one interval later exactly one more call
    is allowed; a whole capacity later the full burst is back."""
    async def scenario(s: RateLimitStore) -> tuple[list[float], list[float], list[float]]:
        await _hits(s, "k", NOW, 3)
        one_later = await _hits(s, "k", NOW + THIRD, 2)
        rested = await _hits(s, "k", NOW + THIRD + SECOND, 4)
        return one_later, rested[:3], rested[3:]

    one_later, rested, over = run_with(open_rate_limits, scenario)
    assert one_later[0] == 0.0 and one_later[1] > 0
    assert rested == [0.0, 0.0, 0.0]
    assert over[0] > 0


def test_keys_are_independent(open_rate_limits: Opener) -> None:
    """An exhausted key leaves every other key's budget whole."""
    async def scenario(s: RateLimitStore) -> tuple[list[float], list[float]]:
        spent = await _hits(s, "transfer:partner", NOW, 4)
        other = await _hits(s, "transfer:legacy", NOW, 3)
        return spent, other

    spent, other = run_with(open_rate_limits, scenario)
    assert spent[3] > 0
    assert other == [0.0, 0.0, 0.0]


def test_concurrent_calls_are_allowed_no_more_than_the_burst(open_rate_limits: Opener) -> None:
    """Rule 1: 20 calls at once on one key: exactly 3 are allowed."""
    async def scenario(s: RateLimitStore) -> list[float]:
        return list(await asyncio.gather(*(
            s.acquire("k", now=NOW, interval=THIRD, capacity=SECOND) for _ in range(20))))

    out = run_with(open_rate_limits, scenario)
    assert out.count(0.0) == 3


def test_the_memory_store_is_bounded_and_forgets_rested_keys_first() -> None:
    """Rule 4: at its bound the memory store drops keys whose budget is rested again, then
    the least recently used one; it never holds more than `max_keys`."""
    async def scenario() -> tuple[int, float]:
        store = MemoryRateLimitStore(max_keys=3)
        for key in ("a", "b"):
            await store.acquire(key, now=NOW, interval=THIRD, capacity=SECOND)
        await store.acquire("c", now=NOW + 5, interval=THIRD, capacity=SECOND)
        # a and b are rested at NOW + 5: d makes room by dropping them, not c.
        await store.acquire("d", now=NOW + 5, interval=THIRD, capacity=SECOND)
        await _hits(store, "c", NOW + 5, 2)
        size = len(store)
        wait = await store.acquire("c", now=NOW + 5, interval=THIRD, capacity=SECOND)
        return size, wait

    size, wait = asyncio.run(scenario())
    assert size == 2
    assert wait > 0  # c kept its spending: 3 calls made, the fourth waits


def test_two_redis_stores_share_one_budget() -> None:
    """What one process spends, the other cannot: 3 calls in all over two connections."""
    url = redis_url_or_skip()
    prefix = f"bank-adapter-test:{uuid.uuid4().hex}:"

    async def scenario() -> list[float]:
        one, two = RedisRateLimitStore(url, prefix=prefix), RedisRateLimitStore(url, prefix=prefix)
        try:
            out = await _hits(one, "k", NOW, 2)
            out += await _hits(two, "k", NOW, 2)
            return out
        finally:
            await one.aclose()
            await two.aclose()

    out = asyncio.run(scenario())
    assert out[:3] == [0.0, 0.0, 0.0]
    assert out[3] > 0


def test_an_unreachable_redis_raises_quickly() -> None:
    """A Redis that is not there raises (the limiter fails open on it) within its timeout."""
    async def scenario() -> type[BaseException]:
        store = RedisRateLimitStore("redis://127.0.0.1:1/0", timeout=0.5)
        try:
            await store.acquire("k", now=NOW, interval=THIRD, capacity=SECOND)
        except Exception as exc:
            return type(exc)
        finally:
            await store.aclose()
        raise AssertionError("acquire succeeded without a server")

    assert issubclass(asyncio.run(asyncio.wait_for(scenario(), 5)), Exception)


# -- PostgreSQL: what two processes on one database see ---------------------------------------

def _postgres(url: str, **options: float) -> Any:
    return PostgresRateLimitStore.open(url, pool_size=4, **options)


def test_two_postgres_stores_racing_on_one_key_admit_exactly_the_budget() -> None:
    """Rule 1 across processes: two stores (two pools of 4 connections, as two workers have)
    send 60 calls each at once on one key that does not exist yet (its first inserts race,
    and more of them than the budget holds), 5 per 5 s: exactly 5 are admitted in all; every
    refusal waits exactly what the memory store answers after 5 calls. Three intervals later
    exactly 3 more pass."""
    interval, capacity = 1.0, 5.0

    async def burst(stores: list[PostgresRateLimitStore], now: float) -> list[float]:
        return list(await asyncio.gather(*(
            s.acquire("transfer:partner", now=now, interval=interval, capacity=capacity)
            for _ in range(60) for s in stores)))

    async def scenario(url: str) -> tuple[list[float], list[float], list[float]]:
        one, two = await opened(lambda: _postgres(url)), await opened(lambda: _postgres(url))
        try:
            first = await burst([one, two], NOW)
            later = await burst([one, two], NOW + 3 * interval)
        finally:
            await one.aclose()
            await two.aclose()
        memory = MemoryRateLimitStore()
        expected = [await memory.acquire("k", now=NOW, interval=interval, capacity=capacity)
                    for _ in range(6)]
        return first, later, expected

    with fresh_database_url() as url:
        first, later, expected = asyncio.run(scenario(url))
    assert first.count(0.0) == 5
    assert set(w for w in first if w) == {expected[5]}
    assert expected[5] == pytest.approx(1.0)
    assert later.count(0.0) == 3
    assert all(w > 0 for w in later if w)


def test_postgres_answers_the_memory_stores_waits_to_the_last_bit() -> None:
    """Rule 2: the same calls, at the same instants, on both stores: the same answers,
    compared with == (the PostgreSQL store computes the wait by the memory store's formula
    from the TAT it locked, and float8 is the same double)."""
    steps = [(NOW, 5), (NOW + THIRD / 2, 2), (NOW + 0.9, 3), (NOW + 7.25, 6), (NOW + 7.3, 1)]

    async def answers(store: RateLimitStore) -> list[float]:
        out = []
        for now, n in steps:
            out += [await store.acquire("k", now=now, interval=THIRD, capacity=SECOND)
                    for _ in range(n)]
        return out

    async def scenario(url: str) -> tuple[list[float], list[float]]:
        pg = await opened(lambda: _postgres(url))
        try:
            return await answers(pg), await answers(MemoryRateLimitStore())
        finally:
            await pg.aclose()

    with fresh_database_url() as url:
        on_postgres, in_memory = asyncio.run(scenario(url))
    assert on_postgres == in_memory
    assert on_postgres.count(0.0) == 8 and len(on_postgres) == 17  # 3 + 0 + 2 + 3 + 0


def test_postgres_purges_rested_rows_at_most_once_per_period() -> None:
    """Rule 4: rows whose TAT passed more than `purge_every` seconds ago are deleted by the
    first acquire of each period, and only then: a key still within its budget is kept."""
    async def scenario(url: str) -> list[int]:
        store = await opened(lambda: _postgres(url, purge_every=60.0))
        try:
            counts = []
            for i in range(5):
                await store.acquire(f"read:caller{i}", now=NOW, interval=THIRD,
                                    capacity=SECOND)
            counts.append(await store.rows())  # 5: the first acquire purged an empty table
            await store.acquire("read:late", now=NOW + 59, interval=THIRD, capacity=SECOND)
            counts.append(await store.rows())  # 6: within the period, no purge
            await store.acquire("read:caller0", now=NOW + 70, interval=THIRD,
                                capacity=SECOND)
            # TATs of NOW + 1/3 are more than 60 s past at NOW + 70: caller1-4 go;
            # late (TAT NOW + 59 1/3) stays, caller0 is spent again.
            counts.append(await store.rows())
            return counts
        finally:
            await store.aclose()

    with fresh_database_url() as url:
        assert asyncio.run(scenario(url)) == [5, 6, 2]


def test_the_postgres_budgets_table_is_unlogged() -> None:
    """Budgets need no crash durability: the table writes no WAL (relpersistence 'u')."""
    import psycopg

    async def scenario(url: str) -> None:
        store = await opened(lambda: _postgres(url))
        await store.aclose()

    with fresh_database_url() as url:
        asyncio.run(scenario(url))
        with psycopg.connect(url) as con:
            row = con.execute("SELECT relpersistence FROM pg_class WHERE oid ="
                              " 'rate_limit_budgets'::regclass").fetchone()
    assert row == ("u",)
