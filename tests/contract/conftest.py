"""Backends for the storage-port contract suites: every suite runs once per backend.

Each fixture gives an opener: calling it opens the port's store (the same data each time,
so a test can close and reopen). A new backend (PostgreSQL) is one more entry in `params`
and one more branch in the fixture.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from adapter.ports.nonces import NonceStore
from adapter.ports.rate_limits import RateLimitStore
from adapter.ports.reversals import ReversalStore
from adapter.ports.security_events import SecurityEventLog
from adapter.ports.storage import PaymentStorage
from adapter.stores.memory import MemoryNonceStore, MemoryReversalStore, MemoryStore
from adapter.stores.memory.rate_limits import MemoryRateLimitStore
from adapter.stores.memory.security_events import MemorySecurityEventLog
from adapter.stores.redis import RedisRateLimitStore
from adapter.stores.sqlite import SqliteNonceStore, SqliteReversalStore, SqliteStore
from adapter.stores.sqlite.security_events import SqliteSecurityEventLog

BACKENDS = ["memory", "sqlite"]
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


@pytest.fixture(params=BACKENDS)
def open_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], PaymentStorage]:
    if request.param == "memory":
        memory = MemoryStore()
        return memory.reopened
    return lambda: SqliteStore(tmp_path / "adapter.db")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=BACKENDS)
def open_reversals(request: pytest.FixtureRequest, tmp_path: Path,
                   clock: Clock) -> Callable[[], ReversalStore]:
    if request.param == "memory":
        return lambda: MemoryReversalStore(clock=clock)
    return lambda: SqliteReversalStore(tmp_path / "r.sqlite", clock=clock)


@pytest.fixture(params=BACKENDS)
def open_nonces(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], NonceStore]:
    if request.param == "memory":
        return lambda: MemoryNonceStore(RETENTION)
    return lambda: SqliteNonceStore(tmp_path / "n.sqlite", retention=RETENTION)


def run_with(opener: Callable[[], Any], scenario: Callable[[Any], Awaitable[R]]) -> R:
    """Open a store, run `scenario(store)` on a fresh event loop, close the store."""

    async def main() -> R:
        store = opener()
        try:
            return await scenario(store)
        finally:
            await store.aclose()

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


@pytest.fixture(params=["memory", "redis"])
def open_rate_limits(request: pytest.FixtureRequest) -> Callable[[], RateLimitStore]:
    if request.param == "memory":
        memory = MemoryRateLimitStore()
        return lambda: memory
    url = redis_url_or_skip()
    prefix = f"bank-adapter-test:{uuid.uuid4().hex}:"  # this test's keys only
    return lambda: RedisRateLimitStore(url, prefix=prefix)


@pytest.fixture(params=BACKENDS)
def open_security_events(request: pytest.FixtureRequest,
                         tmp_path: Path) -> Callable[[], SecurityEventLog]:
    if request.param == "memory":
        memory = MemorySecurityEventLog()
        return lambda: memory
    return lambda: SqliteSecurityEventLog(tmp_path / "security-events.sqlite")
