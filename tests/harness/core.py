"""The `core_sim` fixture: a real CoreSim (real sockets, real mutual TLS, port 0) per test.

The core runs on its own event loop (uvloop) in a background thread, so synchronous tests and
tests with their own event loop can both talk to it. Each test gets a fresh, seeded ledger
file; `faults` starts clean and may be changed from the test's thread at any time.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from core_sim.faults import FaultSettings
from core_sim.ledger import Ledger
from core_sim.server import CoreSim, CoreSimConfig

T = TypeVar("T")


@dataclass
class RunningCore:
    sim: CoreSim
    loop: asyncio.AbstractEventLoop
    pki_dir: Path

    @property
    def soap_url(self) -> str:
        return self.sim.soap_url

    @property
    def soap_port(self) -> int:
        assert self.sim.soap_port is not None
        return self.sim.soap_port

    @property
    def iso_port(self) -> int | None:
        return self.sim.iso_port

    @property
    def host(self) -> str:
        return self.sim.config.host

    @property
    def ledger(self) -> Ledger:
        return self.sim.ledger

    @property
    def faults(self) -> FaultSettings:
        return self.sim.faults

    def call(self, fn: Callable[[], Coroutine[Any, Any, T]], timeout: float = 10) -> T:
        """Run a coroutine on the core's loop (e.g. to reach the ISO host) and wait for it."""
        future: Future[T] = asyncio.run_coroutine_threadsafe(fn(), self.loop)
        return future.result(timeout)


class _CoreThread(threading.Thread):
    def __init__(self, config: CoreSimConfig) -> None:
        super().__init__(name="core_sim", daemon=True)
        self.config = config
        self.started_core: Future[tuple[CoreSim, asyncio.AbstractEventLoop]] = Future()
        self._stop_event: asyncio.Event | None = None

    def run(self) -> None:
        try:
            import uvloop

            loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
        except ImportError:  # pragma: no cover
            loop_factory = None
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(self._main())

    async def _main(self) -> None:
        try:
            sim = CoreSim(self.config)
            await sim.start()
        except BaseException as exc:
            self.started_core.set_exception(exc)
            return
        self._stop_event = asyncio.Event()
        self.started_core.set_result((sim, asyncio.get_running_loop()))
        try:
            await self._stop_event.wait()
        finally:
            await sim.stop()

    def stop(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._stop_event is not None:
            loop.call_soon_threadsafe(self._stop_event.set)
        self.join(timeout=15)
        assert not self.is_alive(), "core_sim did not stop within 15 s"


@contextmanager
def running_core(pki_dir: Path, db_path: Path) -> Iterator[RunningCore]:
    """A started CoreSim on 127.0.0.1, ports 0, a seeded ledger at `db_path`, no faults.

    For fixtures of any scope: a module may share one core and assert on balance deltas."""
    config = CoreSimConfig(db_path=db_path, pki_dir=pki_dir, soap_port=0,
                           iso_port=0, faults=FaultSettings())
    thread = _CoreThread(config)
    thread.start()
    sim, loop = thread.started_core.result(timeout=15)
    try:
        yield RunningCore(sim=sim, loop=loop, pki_dir=pki_dir)
    finally:
        thread.stop(loop)


@pytest.fixture
def core_sim(pki_dir: Path, tmp_path: Path) -> Iterator[RunningCore]:
    """A started CoreSim on 127.0.0.1, ports 0, a fresh seeded ledger, no faults."""
    with running_core(pki_dir, tmp_path / "core.db") as core:
        yield core
