"""The rate-limit state port: one GCRA "theoretical arrival time" per key.

GCRA (ITU-T I.371 section 4.4.2) keeps, per key, the time TAT at which the key's budget is
fully rested again. A call at `now` with emission interval T and capacity C is allowed when
max(TAT, now) + T - now <= C; it then moves TAT to max(TAT, now) + T.

Invariants every implementation keeps (tests/contract/test_rate_limits.py runs against each):
- Rule 1: `acquire` is atomic per key: of concurrent calls, from one process or from every
  process sharing the backend, no more are allowed than the rule allows.
- Rule 2: an allowed call returns 0.0 and advances the key; a refused call returns the seconds
  until the same call would be allowed (> 0) and changes nothing.
- Rule 3: time is the caller's `now` (seconds of a wall clock every process shares); the
  backend reads no clock of its own, so refills are tested by moving `now`.
- Rule 4: a key whose TAT has passed holds no information and may be forgotten: the state is
  bounded by the keys active within one capacity.
"""

from __future__ import annotations

from typing import Protocol


class AcquireNow(Protocol):
    """What a store that answers from this process's memory may offer besides `acquire`: the
    same call without a coroutine, which the limiter then uses on every call (no await on
    the way into every call of every edge)."""

    def __call__(self, key: str, *, now: float, interval: float, capacity: float) -> float:
        ...


class RateLimitStore(Protocol):
    async def acquire(self, key: str, *, now: float, interval: float,
                      capacity: float) -> float:
        """0.0 if allowed (the key advanced), else seconds to wait (nothing changed)."""
        ...

    async def aclose(self) -> None: ...
