"""Rate-limit state in this process's memory (`adapter.ports.rate_limits`), bounded.

One TAT per key in a dict kept in order of last use (a key is moved to the end when it
advances). `acquire` does not yield, so check and update are one step on the event loop
(Rule 1 within one process). At `max_keys`, keys whose TAT has passed are dropped first
(Rule 4: they hold nothing); if the table is still full, the least recently used key goes,
which can only give that key a rested budget again, never refuse anyone wrongly. Keys are
(authenticated principal, operation) pairs, so the table holds a few per registered caller.
"""

from __future__ import annotations

MAX_KEYS = 100_000


class MemoryRateLimitStore:
    def __init__(self, *, max_keys: int = MAX_KEYS) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be >= 1")
        self._max = max_keys
        self._tat: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._tat)

    async def acquire(self, key: str, *, now: float, interval: float,
                      capacity: float) -> float:
        return self.acquire_now(key, now=now, interval=interval, capacity=capacity)

    def acquire_now(self, key: str, *, now: float, interval: float,
                    capacity: float) -> float:
        """`acquire` without the coroutine (ports.rate_limits: a store that does no I/O)."""
        tat = self._tat.get(key, now)
        start = tat if tat > now else now
        new_tat = start + interval
        over = new_tat - now - capacity
        if over > 1e-9:  # float slack: N calls of P/N each fit in P exactly
            return over
        self._tat.pop(key, None)
        if len(self._tat) >= self._max:
            self._make_room(now)
        self._tat[key] = new_tat
        return 0.0

    def _make_room(self, now: float) -> None:
        for stale in [k for k, t in self._tat.items() if t <= now]:
            del self._tat[stale]
        while len(self._tat) >= self._max:
            del self._tat[next(iter(self._tat))]

    async def aclose(self) -> None:
        self._tat.clear()
