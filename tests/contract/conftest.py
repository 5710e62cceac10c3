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
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from adapter.ports.nonces import NonceStore
from adapter.ports.reversals import ReversalStore
from adapter.ports.storage import PaymentStorage
from adapter.stores.memory import MemoryNonceStore, MemoryReversalStore, MemoryStore
from adapter.stores.postgres import PostgresNonceStore, PostgresReversalStore, PostgresStore
from adapter.stores.sqlite import SqliteNonceStore, SqliteReversalStore, SqliteStore
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
    """A fresh PostgreSQL schema's URL (asked for by the postgres parameter only). It reads
    no `request.param`: the parameter belongs to the opener fixture, not to this one."""
    with fresh_database_url() as url:
        yield url


def _backend(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    name = request.param
    return name, request.getfixturevalue("database_url") if name == "postgres" else None


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
