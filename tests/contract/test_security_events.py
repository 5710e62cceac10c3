"""Contract of the security-event log port (`adapter.ports.security_events`), on every
backend: appends get growing seqs, kept across a reopening; `since` pages in order."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from adapter.model.security_events import SecurityEvent, Signal
from adapter.ports.security_events import SecurityEventLog
from tests.contract.conftest import run_with

Opener = Callable[[], SecurityEventLog]
AT = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


def event(subject: str, signal: Signal = Signal.AUTHENTICATION_FAILED) -> SecurityEvent:
    return SecurityEvent(signal=signal, subject_kind="identity", subject=subject, count=10,
                         threshold=10, window_start=AT, window_seconds=60.0, occurred_at=AT)


def test_appends_get_growing_seqs_and_read_back_in_order(open_security_events: Opener) -> None:
    """Rules 1-2: seqs 1, 2, 3; `since` returns the later ones in order, at most `limit`."""
    async def scenario(log: SecurityEventLog) -> tuple[list[int], list[SecurityEvent], int]:
        stored = [await log.append(event(s)) for s in ("legacy", "partner", "stranger")]
        return [e.seq for e in stored], await log.since(1, 1), await log.last_seq()

    seqs, page, last = run_with(open_security_events, scenario)
    assert seqs == [1, 2, 3]
    assert page == [event("partner").model_copy(update={"seq": 2})]
    assert last == 3


def test_seqs_survive_a_reopening(open_security_events: Opener) -> None:
    """Rule 1: after closing and reopening, the next seq follows the last one."""
    async def first(log: SecurityEventLog) -> int:
        return (await log.append(event("a", Signal.LOCKOUT))).seq

    async def second(log: SecurityEventLog) -> tuple[int, list[SecurityEvent]]:
        return (await log.append(event("b"))).seq, await log.since(0, 10)

    assert run_with(open_security_events, first) == 1
    seq, events = run_with(open_security_events, second)
    assert seq == 2
    assert [(e.seq, e.signal, e.subject) for e in events] == [
        (1, Signal.LOCKOUT, "a"), (2, Signal.AUTHENTICATION_FAILED, "b")]
