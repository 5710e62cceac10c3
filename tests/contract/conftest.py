"""Backends for the storage-port contract suites: every suite runs once per backend.

Each fixture gives an opener: calling it opens the port's store (the same data each time,
so a test can close and reopen; two calls give two stores on one database, as two
processes have). PostgreSQL runs in a fresh schema per test (tests/harness/postgres.py):
its openers return a coroutine (a pool is opened on the scenario's event loop), which
`run_with` and `opened` await.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from adapter.ports.nonces import NonceStore
from adapter.ports.reversals import ReversalStore
from adapter.ports.storage import PaymentStorage
from adapter.stores.memory import MemoryNonceStore, MemoryReversalStore, MemoryStore
from adapter.stores.memory.rate_limits import MemoryRateLimitStore
from adapter.stores.memory.security_events import MemorySecurityEventLog
from adapter.stores.postgres import PostgresNonceStore, PostgresReversalStore, PostgresStore
from adapter.stores.postgres.rate_limits import PostgresRateLimitStore
from adapter.stores.postgres.security_events import PostgresSecurityEventLog
from adapter.stores.redis import RedisRateLimitStore
from adapter.stores.sqlite import SqliteNonceStore, SqliteReversalStore, SqliteStore
from adapter.stores.sqlite.security_events import SqliteSecurityEventLog
from tests.harness.postgres import fresh_database_url

BACKENDS = ["memory", "sqlite", "postgres"]
T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
RETENTION = 360.0

S = TypeVar("S", PaymentStorage, ReversalStore, NonceStore)
R = TypeVar("R")


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def database_url() -> Iterator[str]:
    """A fresh PostgreSQL schema's URL (asked for by the postgres parameter only)."""
    with fresh_database_url() as url:
        yield url


def _backend(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """The parameter's name, and for postgres the URL of a fresh schema."""
    name = request.param
    if name != "postgres":
        return name, None
    url = request.getfixturevalue("database_url")
    assert url.startswith("postgresql://")
    return name, url


@pytest.fixture(params=BACKENDS)
def open_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Any]:
    name, url = _backend(request)
    if name == "memory":
        memory = MemoryStore()
        return memory.reopened
    if url is not None:
        return lambda: PostgresStore.open(url, pool_size=4)
    return lambda: SqliteStore(tmp_path / "adapter.db")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=BACKENDS)
def open_reversals(request: pytest.FixtureRequest, tmp_path: Path,
                   clock: Clock) -> Callable[[], Any]:
    name, url = _backend(request)
    if name == "memory":  # one store: what a second opener of "the same data" sees
        shared = MemoryReversalStore(clock=clock)
        return lambda: shared
    if url is not None:
        return lambda: PostgresReversalStore.open(url, clock=clock, pool_size=4)
    return lambda: SqliteReversalStore(tmp_path / "r.sqlite", clock=clock)


@pytest.fixture(params=BACKENDS)
def open_nonces(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Any]:
    name, url = _backend(request)
    if name == "memory":  # one store: what a second opener of "the same data" sees
        shared = MemoryNonceStore(RETENTION)
        return lambda: shared
    if url is not None:
        return lambda: PostgresNonceStore.open(url, retention=RETENTION, pool_size=4)
    return lambda: SqliteNonceStore(tmp_path / "n.sqlite", retention=RETENTION)


async def opened(opener: Callable[[], Any]) -> Any:
    """The store `opener` gives, awaited if it is opened asynchronously (PostgreSQL)."""
    store = opener()
    return await store if inspect.isawaitable(store) else store


def run_with(opener: Callable[[], Any], scenario: Callable[[Any], Awaitable[R]]) -> R:
    """Open a store, run `scenario(store)` on a fresh event loop, close the store."""

    async def main() -> R:
        store = await opened(opener)
        try:
            return await scenario(store)
        finally:
            await store.aclose()

    return asyncio.run(main())


def run_with_two(opener: Callable[[], Any],
                 scenario: Callable[[Any, Any], Awaitable[R]]) -> R:
    """Two stores on the same data (two processes' worth: two connections, two pools),
    `scenario(a, b)` on a fresh event loop, both closed after."""

    async def main() -> R:
        a = await opened(opener)
        try:
            b = await opened(opener)
            try:
                return await scenario(a, b)
            finally:
                await b.aclose()
        finally:
            await a.aclose()

    return asyncio.run(main())


# -- rate-limit state and the security-event log ---------------------------------------------

REDIS_URL = os.environ.get("BANK_ADAPTER_TEST_REDIS", "redis://127.0.0.1:6379/15")


def redis_url_or_skip() -> str:
    """The test Redis; skipped (saying how to enable it) when unreachable, failed in CI."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        message = (f"Redis not reachable at {REDIS_URL} ({type(exc).__name__}): start "
                   "redis-server (or set BANK_ADAPTER_TEST_REDIS) to run the Redis tests")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return REDIS_URL


@pytest.fixture(params=["memory", "redis", "postgres"])
def open_rate_limits(request: pytest.FixtureRequest) -> Callable[[], Any]:
    if request.param == "memory":
        memory = MemoryRateLimitStore()
        return lambda: memory
    if request.param == "postgres":
        url = _backend(request)[1]
        assert url is not None
        return lambda: PostgresRateLimitStore.open(url, pool_size=4)
    url = redis_url_or_skip()
    prefix = f"bank-adapter-test:{uuid.uuid4().hex}:"  # this test's keys only
    return lambda: RedisRateLimitStore(url, prefix=prefix)


@pytest.fixture(params=BACKENDS)
def open_security_events(request: pytest.FixtureRequest,
                         tmp_path: Path) -> Callable[[], Any]:
    name, url = _backend(request)
    if name == "memory":
        memory = MemorySecurityEventLog()
        return lambda: memory
    if url is not None:
        return lambda: PostgresSecurityEventLog.open(url, pool_size=2)
    return lambda: SqliteSecurityEventLog(tmp_path / "security-events.sqlite")
