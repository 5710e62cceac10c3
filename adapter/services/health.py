"""Readiness: is the adapter able to serve? One answer for every edge (REST /readyz, gRPC
health), asked through this service, never straight to the core.

A check that raises or takes longer than `timeout` counts as "not ready": a probe must answer
quickly and never fail with the core's error.
"""

from __future__ import annotations

import asyncio
import logging

from adapter.ports.core import CorePort

log = logging.getLogger("adapter.health")

HEALTH_TIMEOUT = 2.0


class HealthService:
    def __init__(self, core: CorePort, *, timeout: float = HEALTH_TIMEOUT) -> None:
        self._core = core
        self._timeout = timeout

    async def ready(self) -> bool:
        """True when the core answers its health check within the timeout."""
        try:
            return bool(await asyncio.wait_for(self._core.healthy(), self._timeout))
        except Exception as exc:
            log.debug("core health check failed: %r", exc)
            return False
