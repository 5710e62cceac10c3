"""The per-node breaker: every transition driven by an injected clock, no sleeps."""

from __future__ import annotations

import pytest

from adapter.connectors.pool.breaker import Breaker, BreakerOptions, BreakerState

CLOSED, OPEN, HALF = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**options):  # type: ignore[no-untyped-def]
    clock = Clock()
    return Breaker(BreakerOptions(**options), clock=clock), clock


def fail(breaker: Breaker, times: int) -> None:
    for _ in range(times):
        ticket = breaker.admit()
        assert ticket is not None
        breaker.failure(ticket)


def test_opens_after_consecutive_failures_only():
    """Four failures, a success, four failures: still closed; the fifth in a row opens it."""
    breaker, _ = make(failures_to_open=5)
    fail(breaker, 4)
    ticket = breaker.admit()
    assert ticket is not None
    breaker.success(ticket)
    fail(breaker, 4)
    assert breaker.state is CLOSED
    fail(breaker, 1)
    assert breaker.state is OPEN
    assert breaker.admit() is None
    assert breaker.transitions == [(CLOSED, OPEN)]


def test_open_turns_half_open_when_the_ejection_ends():
    """Open for base_ejection seconds exactly: refused just before, half-open at the time."""
    breaker, clock = make(failures_to_open=1, base_ejection=2.0)
    fail(breaker, 1)
    clock.now += 1.999
    assert breaker.state is OPEN and breaker.admit() is None
    clock.now += 0.001
    assert breaker.state is HALF


def test_half_open_admits_a_bounded_number_of_probes():
    """max_probes=2: two probes in flight, the third refused until one ends."""
    breaker, clock = make(failures_to_open=1, base_ejection=1.0, max_probes=2,
                          successes_to_close=3)
    fail(breaker, 1)
    clock.now += 1.0
    first, second = breaker.admit(), breaker.admit()
    assert first is not None and first.probe and second is not None
    assert breaker.admit() is None
    breaker.success(first)
    third = breaker.admit()
    assert third is not None and breaker.state is HALF
    breaker.success(second)
    breaker.success(third)
    assert breaker.state is CLOSED
    assert breaker.transitions == [(CLOSED, OPEN), (OPEN, HALF), (HALF, CLOSED)]


def test_probe_failure_reopens_for_longer():
    """Each ejection lasts base * times ejected: 1 s, then 2 s, then 3 s, capped at max."""
    breaker, clock = make(failures_to_open=1, base_ejection=1.0, max_ejection=2.5)
    fail(breaker, 1)
    assert breaker.open_until == pytest.approx(clock.now + 1.0)
    clock.now += 1.0
    fail(breaker, 1)  # the probe fails
    assert breaker.state is OPEN and breaker.times_ejected == 2
    assert breaker.open_until == pytest.approx(clock.now + 2.0)
    clock.now += 2.0
    fail(breaker, 1)
    assert breaker.open_until == pytest.approx(clock.now + 2.5)  # capped
    assert breaker.transitions == [(CLOSED, OPEN), (OPEN, HALF), (HALF, OPEN),
                                   (OPEN, HALF), (HALF, OPEN)]


def test_outcome_from_before_a_transition_is_ignored():
    """A call admitted while closed that fails after the breaker opened changes nothing; a
    late success cannot close a half-open breaker either."""
    breaker, clock = make(failures_to_open=2, base_ejection=1.0)
    early = breaker.admit()
    fail(breaker, 2)
    assert breaker.state is OPEN
    until = breaker.open_until
    assert early is not None
    breaker.failure(early)
    assert breaker.open_until == until and breaker.times_ejected == 1
    clock.now += 1.0
    assert breaker.state is HALF
    breaker.success(early)
    assert breaker.state is HALF


def test_a_long_healthy_spell_forgets_earlier_ejections():
    """Closed for max_ejection seconds resets the back-off: the next ejection is base again."""
    breaker, clock = make(failures_to_open=1, base_ejection=1.0, max_ejection=10.0)
    fail(breaker, 1)
    clock.now += 1.0
    ticket = breaker.admit()
    assert ticket is not None
    breaker.success(ticket)
    assert breaker.state is CLOSED
    clock.now += 10.0
    fail(breaker, 1)
    assert breaker.times_ejected == 1
    assert breaker.open_until == pytest.approx(clock.now + 1.0)


def test_release_frees_a_probe_without_a_verdict():
    """A cancelled probe frees its slot and leaves the breaker half-open."""
    breaker, clock = make(failures_to_open=1, max_probes=1)
    fail(breaker, 1)
    clock.now += 1.0
    probe = breaker.admit()
    assert probe is not None and breaker.admit() is None
    breaker.release(probe)
    assert breaker.state is HALF and breaker.admit() is not None


def test_refused_options():
    """Nonsense options are refused with a message."""
    with pytest.raises(ValueError, match="must be >= 1"):
        BreakerOptions(failures_to_open=0)
    with pytest.raises(ValueError, match="base_ejection"):
        BreakerOptions(base_ejection=5, max_ejection=1)
