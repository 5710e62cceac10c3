"""Backends for the storage-port contract suites: every suite runs once per backend.

Each fixture gives an opener: calling it opens the port's store (the same data each time,
so a test can close and reopen). A new backend (PostgreSQL) is one more entry in `params`
and one more branch in the fixture.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from adapter.ports.nonces import NonceStore
from adapter.ports.reversals import ReversalStore
from adapter.ports.storage import PaymentStorage
from adapter.stores.memory import MemoryNonceStore, MemoryReversalStore, MemoryStore
from adapter.stores.sqlite import SqliteNonceStore, SqliteReversalStore, SqliteStore

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
