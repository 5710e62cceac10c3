"""Rate limits per caller and operation, the same on every protocol.

Built on the `limits` package (moving-window counters; in memory for one process, in Redis
when several processes or replicas share the budget), rather than a hand-written bucket: it
already does atomic moving windows in Redis with one Lua script per hit.

Invariants:
- Rule 1: a limit is "N per period" per (identity, operation); the identity is the principal
  (a certificate caller's id, later a customer's id), never a network address, so callers
  behind one proxy do not share a budget.
- Rule 2: a refused hit consumes nothing and carries `retry_after`, the seconds until the
  oldest hit in the window expires (REST Retry-After, gRPC RetryInfo, SOAP fault detail).
- Rule 3: an operation without a configured limit is not limited; the storage being
  unreachable fails open (logged), because refusing every payment when Redis is down would
  turn a cache outage into a bank outage.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from adapter.model.errors import RateLimited

log = logging.getLogger("adapter.ratelimit")

DEFAULT_LIMITS = "transfer=50/second;bill_payment=50/second;read=200/second;watch=10/minute"


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after: float = 0.0


def parse_limits(text: str) -> dict[str, RateLimitItem]:
    """`op=N/period;op=N/period` -> limit items; ValueError naming the bad part."""
    out: dict[str, RateLimitItem] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        op, sep, rule = part.partition("=")
        if not sep or not op.strip():
            raise ValueError(f"rate limit {part!r}: expected operation=N/period")
        try:
            out[op.strip()] = parse(rule.strip())
        except ValueError:
            raise ValueError(f"rate limit {part!r}: {rule.strip()!r} is not N/period "
                             "(for example 50/second, 1000/minute)") from None
    return out


def storage_for(url: str | None) -> Storage:
    """None or "memory": this process only; redis://host:port/db: shared by every process."""
    if url is None or url == "memory":
        return MemoryStorage()
    if url.startswith(("redis://", "rediss://")):
        return RedisStorage("async+" + url, implementation="redispy")
    raise ValueError(f"rate limit storage {url!r}: use 'memory' or a redis:// URL")


class RateLimiter:
    def __init__(self, limits: Mapping[str, RateLimitItem], storage: Storage | None = None,
                 *, namespace: str = "bank-adapter") -> None:
        self._limits = dict(limits)
        self._storage = storage or MemoryStorage()
        self._strategy = MovingWindowRateLimiter(self._storage)
        self._namespace = namespace

    async def hit(self, identity: str, operation: str) -> RateDecision:
        item = self._limits.get(operation)
        if item is None:
            return RateDecision(True)
        try:
            if await self._strategy.hit(item, self._namespace, operation, identity):
                return RateDecision(True)
            stats = await self._strategy.get_window_stats(item, self._namespace, operation,
                                                          identity)
        except Exception as exc:  # Rule 3: fail open on a storage outage
            log.warning("rate limit storage unusable, not limiting: %r", exc)
            return RateDecision(True)
        return RateDecision(False, max(stats.reset_time - time.time(), 0.001))

    async def check(self, identity: str, operation: str) -> None:
        """Raise RateLimited when `identity` is over its budget for `operation`."""
        decision = await self.hit(identity, operation)
        if not decision.allowed:
            raise RateLimited(
                f"too many {operation} requests from this client; retry in "
                f"{math.ceil(decision.retry_after)} s", retry_after=decision.retry_after)

    async def reset(self) -> None:
        await self._storage.reset()
