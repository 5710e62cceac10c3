"""Intrusion signals (services/intrusion.py): counts per source and identity in fixed windows
on an injected clock, one security event per threshold crossed per window, bounded state."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from adapter.model.errors import Forbidden, RateLimited, Unauthenticated, ValidationError
from adapter.model.security_events import Signal
from adapter.services.customers.errors import CustomerLocked, InvalidCredentials
from adapter.services.intrusion import OVERFLOW, IntrusionMonitor, signal_for
from adapter.stores.memory.security_events import MemorySecurityEventLog

T0 = 1_764_000_000.0  # a multiple of 60: the start of a window


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def test_a_threshold_raises_one_event_per_window_per_subject() -> None:
    """3 failures from one source within the window: one event at the 3rd, none at the 4th
    or 5th; the next window counts afresh and raises again at its 3rd."""
    async def go() -> list[tuple[str, str, int, datetime]]:
        clock, log = Clock(), MemorySecurityEventLog()
        seen: list[Signal] = []
        monitor = IntrusionMonitor({Signal.AUTHENTICATION_FAILED: 3}, 60, log, clock=clock,
                                   on_signal=seen.append)
        for _ in range(5):
            monitor.record(Signal.AUTHENTICATION_FAILED, source="10.0.0.9")
            clock.now += 1
        clock.now = T0 + 60
        for _ in range(3):
            monitor.record(Signal.AUTHENTICATION_FAILED, source="10.0.0.9")
        await monitor.flush()
        assert len(seen) == 8
        return [(e.subject_kind, e.subject, e.count, e.window_start)
                for e in await log.since(0, 10)]

    assert asyncio.run(go()) == [
        ("source", "10.0.0.9", 3, datetime.fromtimestamp(T0, UTC)),
        ("source", "10.0.0.9", 3, datetime.fromtimestamp(T0 + 60, UTC))]


def test_flush_returns_when_the_appends_are_done_before_their_callbacks_ran() -> None:
    """An append task that has finished but whose done callback (which takes it out of the
    pending set) has not run yet: flush still returns. On Python 3.12 a gather of finished
    tasks does not yield to the loop, so waiting for the callbacks spun forever (a hung stop
    and a hung test); on 3.11 the wait below ends in TimeoutError if flush relies on them."""
    async def go() -> int:
        log = MemorySecurityEventLog()
        monitor = IntrusionMonitor({Signal.RATE_LIMITED: 1}, 60, log, clock=Clock())
        monitor.record(Signal.RATE_LIMITED, source="10.0.0.1")
        await monitor.flush()

        async def appended() -> None:
            return None

        finished = asyncio.get_running_loop().create_task(appended())
        await finished
        # As record() leaves it, minus the callback that has not had its turn yet.
        monitor._pending.add(finished)  # type: ignore[arg-type]
        await asyncio.wait_for(monitor.flush(), 5)
        return len(await log.since(0, 10))

    assert asyncio.run(go()) == 1


def test_source_and_identity_are_counted_separately() -> None:
    """Two identities from one address: the address reaches 2, neither identity does."""
    async def go() -> list[tuple[str, str]]:
        log = MemorySecurityEventLog()
        monitor = IntrusionMonitor({Signal.RATE_LIMITED: 2}, 60, log, clock=Clock())
        monitor.record(Signal.RATE_LIMITED, source="10.0.0.1", identity="partner")
        monitor.record(Signal.RATE_LIMITED, source="10.0.0.1", identity="legacy")
        await monitor.flush()
        return [(e.subject_kind, e.subject) for e in await log.since(0, 10)]

    assert asyncio.run(go()) == [("source", "10.0.0.1")]


def test_state_is_bounded_and_a_flood_from_many_sources_still_raises() -> None:
    """Rule 3: with room for 4 counters, 100 addresses failing once each are counted under
    "(overflow)" past the 4th, which crosses the threshold."""
    async def go() -> list[str]:
        log = MemorySecurityEventLog()
        monitor = IntrusionMonitor({Signal.TLS_HANDSHAKE_FAILED: 10}, 60, log, clock=Clock(),
                                   max_subjects=4)
        for i in range(100):
            monitor.record(Signal.TLS_HANDSHAKE_FAILED, source=f"10.0.{i}.1")
        await monitor.flush()
        assert len(monitor._counts) == 5
        return [e.subject for e in await log.since(0, 10)]

    assert asyncio.run(go()) == [OVERFLOW]


def test_errors_map_to_their_signals() -> None:
    """Lockouts before rate limits; FORBIDDEN counts only before a principal is known (a
    certificate the clients file does not know); other refusals are no signal."""
    assert signal_for(RateLimited(lockout=True), has_principal=True) is Signal.LOCKOUT
    assert signal_for(CustomerLocked(), has_principal=False) is Signal.LOCKOUT
    assert signal_for(RateLimited(), has_principal=True) is Signal.RATE_LIMITED
    assert signal_for(Unauthenticated(), has_principal=True) is Signal.AUTHENTICATION_FAILED
    assert signal_for(InvalidCredentials(), has_principal=False) is \
        Signal.AUTHENTICATION_FAILED
    assert signal_for(Forbidden(), has_principal=False) is Signal.CERTIFICATE_REFUSED
    assert signal_for(Forbidden(), has_principal=True) is None
    assert signal_for(ValidationError(), has_principal=True) is None
