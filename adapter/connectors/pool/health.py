"""Active health checks: each node is probed on a schedule and its `health` follows.

Owns the verdict `Node.health` (STARTING -> UP / DOWN) from probes: an ISO 8583 0800 echo
(network management code 301) on the node's signed-on session, or a SOAP ping
(GetTransferStatus of a reference no posting has) for a SOAP node.

Invariants:
- Rule 1: a probe that raises or outlasts `timeout` has failed; a probe never moves money.
- Rule 2: UP after `healthy_after` passes in a row, DOWN after `unhealthy_after` failures in
  a row; the very first verdict of a STARTING node is taken from its first probe, so callers
  waiting for readiness at start-up get an answer after one probe.
- Rule 3: while a node's breaker is HALF_OPEN the probe runs as one of its bounded probes
  (`Breaker.admit`), so a node can be re-admitted by health checks alone, without a payment
  being the probe.
- Rule 4: probes of different nodes run concurrently; one stalled node never delays the
  verdict on another by more than `timeout`.
- Rule 5: a failed probe of a node that answered real calls since the previous round does not
  count towards DOWN: the probe lost to congestion (the node, or this process, is busy), not
  to a dead node. A stopped or dead node answers nothing, so it still goes DOWN.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from adapter.connectors.pool.breaker import BreakerState
from adapter.connectors.pool.nodes import Health, Node

log = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class HealthOptions:
    interval: float = 1.0
    timeout: float = 1.0
    healthy_after: int = 1
    unhealthy_after: int = 2

    def __post_init__(self) -> None:
        if self.interval <= 0 or self.timeout <= 0:
            raise ValueError("health check interval and timeout must be > 0")
        if self.healthy_after < 1 or self.unhealthy_after < 1:
            raise ValueError("healthy_after and unhealthy_after must be >= 1")


async def _run_probe(probe: Probe, timeout: float) -> bool:
    try:
        return bool(await asyncio.wait_for(probe(), timeout))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # Rule 1: any failure of the probe is a failed check
        log.debug("health probe raised %s", type(exc).__name__)
        return False


async def check_once(node: Node, probe: Probe, options: HealthOptions) -> bool:
    """One probe of `node`; updates its health (Rule 2) and, if half-open, its breaker."""
    ticket = node.breaker.admit() if node.breaker.state is BreakerState.HALF_OPEN else None
    ok = await _run_probe(probe, options.timeout)
    answered = node.stats.answered != node.answered_at_last_check  # Rule 5
    node.answered_at_last_check = node.stats.answered
    if ticket is not None:
        (node.breaker.success if ok else node.breaker.failure)(ticket)
    before = node.health
    if ok:
        node.failed_checks_in_a_row = 0
        node.passed_checks_in_a_row += 1
        if before is not Health.UP and (before is Health.STARTING
                                        or node.passed_checks_in_a_row >= options.healthy_after):
            node.health = Health.UP
    elif answered and ticket is None:
        node.stats.checks_failed += 1  # Rule 5: counted, but no step towards DOWN
    else:
        node.stats.checks_failed += 1
        node.passed_checks_in_a_row = 0
        node.failed_checks_in_a_row += 1
        if before is not Health.DOWN and (before is Health.STARTING
                                          or node.failed_checks_in_a_row
                                          >= options.unhealthy_after):
            node.health = Health.DOWN
    if node.health is not before:
        log.log(logging.INFO if node.health is Health.UP else logging.WARNING,
                "core node %s is now %s", node.name, node.health.value)
    return ok


async def check_all(nodes: list[Node], probes: dict[str, Probe], options: HealthOptions) -> None:
    """One round: every node probed at once (Rule 4)."""
    await asyncio.gather(*(check_once(n, probes[n.name], options) for n in nodes))
