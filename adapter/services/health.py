"""Is the core usable? One answer for every front-end's readiness (gRPC health, REST /readyz).

A check that raises or takes longer than `timeout` counts as "not usable": a probe must answer
quickly and never fail with the core's error.
"""

from __future__ import annotations

import asyncio
import logging

from adapter.ports.core import CorePort

log = logging.getLogger("adapter.health")

HEALTH_TIMEOUT = 2.0


async def core_usable(core: CorePort, timeout: float = HEALTH_TIMEOUT) -> bool:
    try:
        return bool(await asyncio.wait_for(core.healthy(), timeout))
    except Exception as exc:
        log.debug("core health check failed: %r", exc)
        return False
