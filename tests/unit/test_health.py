"""HealthService (services/health.py): ready needs the core and the store (Rule 1), a failing
or slow check is "not ready" (Rule 2), the store's answer is kept for store_ttl by the
injected clock and shared by probes in flight (Rule 3). Fakes stand in for both ports."""

from __future__ import annotations

import asyncio

from adapter.services.health import HealthService, Readiness
from adapter.stores.memory import MemoryStore


class Core:
    def __init__(self, healthy: bool = True) -> None:
        self.is_healthy = healthy

    async def healthy(self) -> bool:
        return self.is_healthy


class Store:
    """A store whose ping counts its calls, fails while `down`, and may be held open."""

    def __init__(self) -> None:
        self.pings = 0
        self.down = False
        self.gate: asyncio.Event | None = None

    async def ping(self) -> None:
        self.pings += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise ConnectionError("server closed the connection")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def service(core: Core, store: Store, clock: Clock, **options: float) -> HealthService:
    return HealthService(core, store, clock=clock, **options)  # type: ignore[arg-type]


def test_ready_needs_the_core_and_the_store_and_names_the_first_that_fails() -> None:
    """Core down: CORE_UNAVAILABLE; store down: STORE_UNAVAILABLE; both down: the core's."""
    assert Readiness(core=True, store=True).error() is None
    assert Readiness(core=False, store=True).error().code == "CORE_UNAVAILABLE"  # type: ignore[union-attr]
    assert Readiness(core=True, store=False).error().code == "STORE_UNAVAILABLE"  # type: ignore[union-attr]
    assert Readiness(core=False, store=False).error().code == "CORE_UNAVAILABLE"  # type: ignore[union-attr]

    async def go() -> list[Readiness]:
        core, store, clock = Core(), Store(), Clock()
        health = service(core, store, clock, store_ttl=0)
        seen = [await health.readiness()]
        store.down = True
        seen.append(await health.readiness())
        core.is_healthy = False
        seen.append(await health.readiness())
        return seen

    assert asyncio.run(go()) == [Readiness(True, True), Readiness(True, False),
                                 Readiness(False, False)]


def test_the_store_answer_is_kept_for_the_ttl_by_the_injected_clock() -> None:
    """Within 1 s of an answer no probe reaches the store, whatever it does meanwhile; at
    1 s the next readiness asks again and sees it down, and again once it is back."""
    async def go() -> list[tuple[bool, int]]:
        store, clock = Store(), Clock()
        health = service(Core(), store, clock, store_ttl=1.0)
        seen = [(await health.ready(), store.pings)]
        store.down = True
        clock.now += 0.999
        seen.append((await health.ready(), store.pings))  # the cached answer
        clock.now += 0.001
        seen.append((await health.ready(), store.pings))  # asked again: down
        store.down = False
        clock.now += 0.5
        seen.append((await health.ready(), store.pings))  # down, still cached
        clock.now += 0.5
        seen.append((await health.ready(), store.pings))
        return seen

    assert asyncio.run(go()) == [(True, 1), (True, 1), (False, 2), (False, 2), (True, 3)]


def test_probes_in_flight_share_one_ping_and_a_slow_store_is_not_ready() -> None:
    """Ten readiness checks while the store's ping is held: one ping; past store_timeout
    all ten are not ready, and the answer is kept like any other."""
    async def go() -> tuple[list[bool], int, bool, int]:
        store, clock = Store(), Clock()
        store.gate = asyncio.Event()  # never set: the ping hangs
        health = service(Core(), store, clock, store_timeout=0.05)
        answers = await asyncio.gather(*(health.ready() for _ in range(10)))
        again = await health.ready()
        return list(answers), store.pings, again, store.pings

    assert asyncio.run(go()) == ([False] * 10, 1, False, 1)


def test_a_closed_memory_store_does_not_answer_its_ping() -> None:
    """The in-memory store's ping (the port the SQL stores also implement) fails once closed."""
    async def go() -> tuple[bool, bool]:
        store = MemoryStore()
        health = HealthService(Core(), store, store_ttl=0)  # type: ignore[arg-type]
        before = await health.ready()
        await store.aclose()
        return before, await health.ready()

    assert asyncio.run(go()) == (True, False)
