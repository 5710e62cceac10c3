"""The gate in front of every expensive password hash (scrypt for WS-Security PasswordText,
Argon2id for customers): a flood of wrong passwords must not starve the server.

A wrong PasswordText costs one scrypt (50-70 ms of CPU). On the default thread pool, 5-10
wrong passwords a second from one legacy client cut REST throughput by 62-83 %. The gate:

- Rule 1 (bounded work): at most `workers` hashes run at once, on the gate's own threads,
  never on the event loop's default executor (which DNS look-ups and file I/O share).
- Rule 2 (bounded waiting): at most `max_waiting` checks queue behind them; one more is refused
  at once with RateLimited, before any hashing. A flood therefore costs at most `workers`
  cores, whatever its rate.
- Rule 3 (per-subject throttle): after `max_failures` failed checks for one subject within
  `window` seconds, further checks for that subject are refused without hashing until the
  oldest failure leaves the window. A success clears the subject's failures.
- Rule 4: the clock is injected (monotonic seconds), so throttling is tested without waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from adapter.model.errors import AdapterError, RateLimited

T = TypeVar("T")


def _too_many() -> AdapterError:
    return RateLimited("too many password checks in progress; retry later", retry_after=1.0)


class HashGate:
    def __init__(self, *, workers: int = 1, max_waiting: int = 16, max_failures: int = 5,
                 window: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 name: str = "password-hash",
                 busy: Callable[[], AdapterError] = _too_many) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._busy = busy
        self._slots = workers + max_waiting
        self._in_gate = 0
        self._max_failures = max_failures
        self._window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    @property
    def in_gate(self) -> int:
        """Checks running or waiting now."""
        return self._in_gate

    async def check(self, subject: str, verify: Callable[[], bool]) -> bool:
        """Run `verify` (the hash comparison) under the gate's bounds; its answer, or
        RateLimited without running it."""
        self._refuse_if_throttled(subject)
        ok = await self.run(verify)
        if ok:
            self._failures.pop(subject, None)
        else:
            self._failures.setdefault(subject, deque()).append(self._clock())
        return ok

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on the gate's threads under Rules 1-2 (no per-subject throttle: callers
        with a lockout of their own, such as the customer API, use this directly)."""
        if self._in_gate >= self._slots:
            raise self._busy()
        self._in_gate += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)
        finally:
            self._in_gate -= 1

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Queue `fn` on the gate's threads now, outside the bounds (start-up work)."""
        return self._executor.submit(fn, *args)

    def _refuse_if_throttled(self, subject: str) -> None:
        failures = self._failures.get(subject)
        if not failures:
            return
        now = self._clock()
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        if not failures:
            del self._failures[subject]
            return
        if len(failures) >= self._max_failures:
            retry_after = max(failures[0] + self._window - now, 0.001)
            raise RateLimited("too many failed password checks for this client; retry later",
                              retry_after=retry_after, lockout=True)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
