"""HashGate bounds expensive password hashing: bounded work, bounded waiting, and a throttle
per subject after repeated failures (clock injected, no waiting on time)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from adapter.model.errors import RateLimited
from adapter.security.hash_gate import HashGate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_beyond_workers_plus_waiting_is_refused_at_once() -> None:
    """With 1 worker and 2 waiting, the 4th concurrent check is refused before any hashing,
    and the 3 admitted ones all finish once the hash is released."""
    release = threading.Event()
    started = threading.Event()
    ran = []

    def slow() -> bool:
        started.set()
        release.wait(10)
        ran.append(1)
        return True

    async def go() -> tuple[list[object], int]:
        gate = HashGate(workers=1, max_waiting=2)
        admitted = [asyncio.ensure_future(gate.check(f"s{i}", slow)) for i in range(3)]
        await asyncio.sleep(0)  # let the three enter the gate
        assert gate.in_gate == 3
        with pytest.raises(RateLimited) as refused:
            await gate.check("s3", slow)
        assert refused.value.code == "RATE_LIMITED"
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        release.set()
        results = await asyncio.gather(*admitted)
        gate.close()
        return list(results), gate.in_gate

    results, left = asyncio.run(go())
    assert results == [True, True, True]
    assert (len(ran), left) == (3, 0)


def test_repeated_failures_throttle_that_subject_only() -> None:
    """After 3 failures within the window, a 4th check for that subject is refused without
    hashing; another subject is unaffected; when the window passes, checks run again."""
    clock = Clock()
    calls: list[str] = []

    def wrong(who: str):  # type: ignore[no-untyped-def]
        def verify() -> bool:
            calls.append(who)
            return False
        return verify

    async def go() -> None:
        gate = HashGate(max_failures=3, window=60, clock=clock)
        for _ in range(3):
            assert await gate.check("legacy", wrong("legacy")) is False
            clock.now += 1
        with pytest.raises(RateLimited) as refused:
            await gate.check("legacy", wrong("legacy"))
        assert refused.value.retry_after == pytest.approx(57.0)
        assert await gate.check("other", wrong("other")) is False
        clock.now += 57.5  # the first failure leaves the window
        assert await gate.check("legacy", wrong("legacy")) is False
        gate.close()

    asyncio.run(go())
    assert calls == ["legacy"] * 3 + ["other", "legacy"]


def test_a_success_clears_the_failures() -> None:
    clock = Clock()

    async def go() -> None:
        gate = HashGate(max_failures=2, window=60, clock=clock)
        assert await gate.check("u", lambda: False) is False
        assert await gate.check("u", lambda: True) is True
        assert await gate.check("u", lambda: False) is False
        assert await gate.check("u", lambda: False) is False  # 2 failures since the success
        with pytest.raises(RateLimited):
            await gate.check("u", lambda: True)
        gate.close()

    asyncio.run(go())
