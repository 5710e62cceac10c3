"""Rate-limit state in Redis (`adapter.ports.rate_limits`), shared by every adapter process
that names the same server.

One Lua script per call does the whole GCRA step on the server, so check and update are
atomic across processes (Rule 1; Redis runs a script without interleaving another command).
Times cross the wire as microseconds (Lua numbers are doubles: epoch microseconds are exact
up to 2^53, about 285 years; an interval such as 1/3 s keeps its fraction). A thousandth of a
microsecond of slack lets N calls of P/N each fit in P despite rounding. The key expires
when its TAT passes (Rule 4: `PX`), so Redis holds only keys active within one capacity.
The script reads no Redis clock: `now` is the caller's (Rule 3).

Connection and command timeouts are short (`timeout`, 0.25 s by default): the rate limiter
fails open on an error (services/rate_limits.py Rule 3), and a Redis that hangs must cost a
request a quarter of a second, not the whole of its deadline.
"""

from __future__ import annotations

import math
from typing import Any

import redis.asyncio as aioredis

# KEYS[1] the key; ARGV now, interval, capacity in microseconds. Returns 0, or the wait in
# whole microseconds (rounded up, > 0).
_ACQUIRE = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval
local over = new_tat - now - capacity
if over > 0.001 then return math.ceil(over) end
redis.call('SET', KEYS[1], string.format('%.17g', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return 0
"""

PREFIX = "bank-adapter:rl:"


def _us(seconds: float) -> int:
    return math.floor(seconds * 1_000_000)


class RedisRateLimitStore:
    def __init__(self, url: str, *, timeout: float = 0.25, prefix: str = PREFIX) -> None:
        self._redis: Any = aioredis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._script = self._redis.register_script(_ACQUIRE)
        self._prefix = prefix

    async def acquire(self, key: str, *, now: float, interval: float,
                      capacity: float) -> float:
        wait = await self._script(keys=[self._prefix + key], args=[
            _us(now), repr(interval * 1_000_000), repr(capacity * 1_000_000)])
        return int(wait) / 1_000_000

    async def reset(self) -> None:
        """Forget every key of this prefix (tests; an operator lifting all limits at once)."""
        async for key in self._redis.scan_iter(match=self._prefix + "*", count=1000):
            await self._redis.delete(key)

    async def aclose(self) -> None:
        await self._redis.aclose()
