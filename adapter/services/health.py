"""Readiness: is the adapter able to serve? One answer for every edge (REST /readyz, gRPC
health, the plain health listener), asked through this service, never straight to the core
or the database.

Invariants:
- Rule 1: ready means both the core and the payment store answer: the core its health check
  (`CorePort.healthy`), the store a trivial query (`PaymentStorage.ping`, `SELECT 1`-class).
  Without its store the adapter can accept nothing: every payment is journalled first.
- Rule 2: a check that raises or takes longer than its timeout counts as "not ready": a
  probe must answer quickly and never fail with the core's or the database's error.
- Rule 3: the store's answer is kept for `store_ttl` seconds (by the injected monotonic
  `clock`), and probes that arrive while one is in flight share it, so however often the
  edges ask, the database sees at most about one probe per `store_ttl`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from adapter.model.errors import CoreUnavailable, ServerError, StoreUnavailable
from adapter.ports.core import CorePort

log = logging.getLogger("adapter.health")

HEALTH_TIMEOUT = 2.0
STORE_TIMEOUT = 1.0  # a SELECT 1 that takes longer than this is a database in trouble
STORE_TTL = 1.0


class Pingable(Protocol):
    async def ping(self) -> None: ...


@dataclass(frozen=True)
class Readiness:
    core: bool
    store: bool

    @property
    def ready(self) -> bool:
        return self.core and self.store

    def error(self) -> ServerError | None:
        """What an edge answers while not ready (the core first: it is the usual cause)."""
        if not self.core:
            return CoreUnavailable("the core banking system is not usable; retry later")
        if not self.store:
            return StoreUnavailable("the adapter's database is not answering; retry later")
        return None


class HealthService:
    def __init__(self, core: CorePort, store: Pingable, *, timeout: float = HEALTH_TIMEOUT,
                 store_timeout: float = STORE_TIMEOUT, store_ttl: float = STORE_TTL,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._core = core
        self._store = store
        self._timeout = timeout
        self._store_timeout = store_timeout
        self._store_ttl = store_ttl
        self._clock = clock
        self._store_answer: tuple[float, bool] | None = None  # (when, answer): Rule 3
        self._store_probe: asyncio.Future[bool] | None = None

    async def ready(self) -> bool:
        """True when the core and the store both answer in time (Rule 1)."""
        return (await self.readiness()).ready

    async def readiness(self) -> Readiness:
        core, store = await asyncio.gather(self._core_ready(), self._store_ready())
        return Readiness(core=core, store=store)

    async def _core_ready(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self._core.healthy(), self._timeout))
        except Exception as exc:
            log.debug("core health check failed: %r", exc)
            return False

    async def _store_ready(self) -> bool:
        answer = self._store_answer
        if answer is not None and self._clock() - answer[0] < self._store_ttl:
            return answer[1]
        if self._store_probe is None:
            self._store_probe = asyncio.ensure_future(self._probe_store())
        # Shielded: a probe whose asker gave up still answers the ones sharing it.
        return await asyncio.shield(self._store_probe)

    async def _probe_store(self) -> bool:
        try:
            await asyncio.wait_for(self._store.ping(), self._store_timeout)
            ok = True
        except Exception as exc:
            log.debug("store health check failed: %r", exc)
            ok = False
        self._store_answer = (self._clock(), ok)
        self._store_probe = None
        return ok
