"""Rate limits per caller identity and operation: one step of the call pipeline, the same on
every protocol.

A GCRA (adapter.model.rates, adapter.ports.rate_limits) per (principal, operation): N calls at
once from a rested budget, then one every period / N. The state is a port: this process's
memory by default, the adapter's PostgreSQL database (`--rate-limit-storage database`) or Redis
(`--rate-limit-storage redis://...`): with either of the last two every adapter process on the
same database or server spends one budget. Why not the `limits` package: its storages read
`time.time()` themselves (no clock hook), so a refill can only be tested by sleeping; a GCRA
is one comparison and one stored time per key, on an injected clock.

Invariants:
- Rule 1: the identity is the authenticated principal's id (a certificate caller, later a
  customer "customer:..."), never a network address, so callers behind one proxy do not share
  a budget; the operation is the canonical one (`read`, `transfer`, ...), so a caller's
  transfers over REST, SOAP and gRPC share one budget.
- Rule 2: a refused call consumes nothing and is RATE_LIMITED with `retry_after`, the seconds
  until the same call would be allowed (REST Retry-After, gRPC RetryInfo, SOAP detail).
- Rule 3: the storage failing (Redis or the database down, slow, refusing) fails open, logged
  at most once a minute and counted (`storage_errors`): refusing every payment while a cache
  is down would turn a cache outage into a bank outage.
- Rule 4: an operation's own rule wins over the default; `none` means unlimited.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from adapter.model.errors import RateLimited
from adapter.model.rates import Rate, parse_operation_rate, parse_rate
from adapter.ports.rate_limits import AcquireNow, RateLimitStore

log = logging.getLogger("adapter.ratelimit")

WallClock = Callable[[], float]  # seconds since the epoch, shared by every process


@dataclass(frozen=True)
class RatePolicy:
    """The default rate and each operation's own (Rule 4)."""

    default: Rate | None
    operations: Mapping[str, Rate | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, default: str, operations: tuple[str, ...] | list[str] = ()) -> RatePolicy:
        """From the settings' texts; ValueError naming the bad one."""
        return cls(parse_rate(default), dict(parse_operation_rate(o) for o in operations))

    @property
    def limits_anything(self) -> bool:
        """Some operation has a rate (the default, or a rule that is not `none`)."""
        return self.default is not None or any(r is not None for r in self.operations.values())

    def rate_for(self, operation: str) -> Rate | None:
        if operation in self.operations:
            return self.operations[operation]
        return self.default


class RateLimiter:
    def __init__(self, policy: RatePolicy, store: RateLimitStore, *,
                 clock: WallClock = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._store = store
        self._clock = clock
        self._monotonic = monotonic
        self._acquire_now: AcquireNow | None = getattr(store, "acquire_now", None)
        self.storage_errors = 0
        self._last_warning: float | None = None

    def check(self, identity: str, operation: str) -> Awaitable[None] | None:
        """Raise RateLimited when `identity` is over its budget for `operation` (Rule 2).
        A store in this process's memory answers at once (None: allowed); one that does I/O
        is awaited (the awaitable raises or returns)."""
        rate = self.policy.rate_for(operation)
        if rate is None:
            return None
        key = f"{operation}:{identity}"
        if self._acquire_now is None:
            return self._check_awaiting(key, operation, rate)
        try:
            wait = self._acquire_now(key, now=self._clock(), interval=rate.interval,
                                     capacity=rate.capacity)
        except Exception as exc:  # Rule 3: fail open on any storage failure
            self._storage_failed(exc)
            return None
        self._judge(wait, operation, rate)
        return None

    async def _check_awaiting(self, key: str, operation: str, rate: Rate) -> None:
        try:
            wait = await self._store.acquire(key, now=self._clock(), interval=rate.interval,
                                             capacity=rate.capacity)
        except Exception as exc:  # Rule 3
            self._storage_failed(exc)
            return
        self._judge(wait, operation, rate)

    @staticmethod
    def _judge(wait: float, operation: str, rate: Rate) -> None:
        if wait > 0:
            raise RateLimited(
                f"too many {operation} requests from this client (limit {rate}); retry in "
                f"{math.ceil(wait)} s", retry_after=wait)

    def _storage_failed(self, exc: Exception) -> None:
        self.storage_errors += 1
        now = self._monotonic()
        if self._last_warning is None or now - self._last_warning >= 60:
            self._last_warning = now
            log.warning("rate-limit storage unusable, not limiting (%d failures so far): %s",
                        self.storage_errors, type(exc).__name__)

    async def aclose(self) -> None:
        await self._store.aclose()

