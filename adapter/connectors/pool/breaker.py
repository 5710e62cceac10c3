"""A per-node circuit breaker with outlier ejection: closed / open / half-open, on a clock.

Owns one node's admission decision from the outcomes of its calls. It merges Envoy's passive
outlier detection (eject a host after `failures_to_open` consecutive failures, for
`base_ejection * times_ejected`, capped at `max_ejection`) with the classic breaker's
half-open state (a bounded number of probe calls decides re-admission).

    CLOSED ──(failures_to_open consecutive failures)──> OPEN (ejected until open_until)
    OPEN ──(clock >= open_until, seen on the next admission check)──> HALF_OPEN
    HALF_OPEN ──(successes_to_close probe successes)──> CLOSED
    HALF_OPEN ──(one probe failure)──> OPEN (ejected again, for longer)

Invariants:
- Rule 1: time comes only from the injected monotonic `clock`; the breaker never sleeps and
  never schedules anything, so every transition is decided by a call and can be tested from
  a fake clock.
- Rule 2: in HALF_OPEN at most `max_probes` admitted calls are in flight at once; every
  other admission is refused until a probe ends.
- Rule 3: an outcome counts only for the state epoch its call was admitted in (`Ticket`): a
  call admitted while CLOSED that ends after the breaker opened does not extend or shorten
  the ejection, and only probes decide a HALF_OPEN breaker.
- Rule 4: the ejection time grows with each ejection (`times_ejected`), and the count is
  forgotten once the node has stayed CLOSED for `max_ejection` (so a node that failed once a
  week ago is not punished like one that flaps).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

Clock = Callable[[], float]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True)
class BreakerOptions:
    failures_to_open: int = 5
    base_ejection: float = 1.0
    max_ejection: float = 30.0
    max_probes: int = 1
    successes_to_close: int = 1

    def __post_init__(self) -> None:
        if self.failures_to_open < 1 or self.max_probes < 1 or self.successes_to_close < 1:
            raise ValueError("failures_to_open, max_probes and successes_to_close must be >= 1")
        if not 0 < self.base_ejection <= self.max_ejection:
            raise ValueError("0 < base_ejection <= max_ejection")


@dataclass(frozen=True, slots=True)
class Ticket:
    """One admitted call: the epoch it was admitted in and whether it is a probe."""

    epoch: int
    probe: bool


class Breaker:
    def __init__(self, options: BreakerOptions | None = None, *,
                 clock: Clock = time.monotonic) -> None:
        self.options = options or BreakerOptions()
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._epoch = 0
        self._consecutive_failures = 0
        self._probe_successes = 0
        self._probes_in_flight = 0
        self._open_until = 0.0
        self._closed_since = clock()
        self.times_ejected = 0
        self.transitions: list[tuple[BreakerState, BreakerState]] = []  # tests, status

    # -- reading ------------------------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        """The current state; an OPEN breaker whose ejection is over reads as HALF_OPEN."""
        self._advance()
        return self._state

    @property
    def open_until(self) -> float:
        return self._open_until

    def would_admit(self) -> bool:
        """True if `admit` would succeed now (no side effect other than OPEN -> HALF_OPEN)."""
        self._advance()
        if self._state is BreakerState.CLOSED:
            return True
        if self._state is BreakerState.HALF_OPEN:
            return self._probes_in_flight < self.options.max_probes
        return False

    # -- admission and outcomes ------------------------------------------------------------

    def admit(self) -> Ticket | None:
        """A ticket for one call, or None if the breaker refuses it (Rule 2)."""
        if not self.would_admit():
            return None
        if self._state is BreakerState.HALF_OPEN:
            self._probes_in_flight += 1
            return Ticket(self._epoch, probe=True)
        return Ticket(self._epoch, probe=False)

    def success(self, ticket: Ticket) -> None:
        self._end(ticket)
        if ticket.epoch != self._epoch:
            return  # Rule 3
        if self._state is BreakerState.CLOSED:
            self._consecutive_failures = 0
        elif self._state is BreakerState.HALF_OPEN and ticket.probe:
            self._probe_successes += 1
            if self._probe_successes >= self.options.successes_to_close:
                self._to(BreakerState.CLOSED)

    def failure(self, ticket: Ticket) -> None:
        self._end(ticket)
        if ticket.epoch != self._epoch:
            return  # Rule 3
        if self._state is BreakerState.CLOSED:
            self._consecutive_failures += 1
            if self._consecutive_failures >= self.options.failures_to_open:
                self._eject()
        elif self._state is BreakerState.HALF_OPEN and ticket.probe:
            self._eject()

    def release(self, ticket: Ticket) -> None:
        """The call ended without saying anything about the node (e.g. cancelled)."""
        self._end(ticket)

    # -- transitions ---------------------------------------------------------------------------

    def _end(self, ticket: Ticket) -> None:
        if ticket.probe and ticket.epoch == self._epoch:
            self._probes_in_flight = max(0, self._probes_in_flight - 1)

    def _advance(self) -> None:
        if self._state is BreakerState.OPEN and self._clock() >= self._open_until:
            self._to(BreakerState.HALF_OPEN)

    def _eject(self) -> None:
        now = self._clock()
        opts = self.options
        if self._state is BreakerState.CLOSED and now - self._closed_since >= opts.max_ejection:
            self.times_ejected = 0  # Rule 4: a long healthy spell forgets old ejections
        self.times_ejected += 1
        self._open_until = now + min(opts.base_ejection * self.times_ejected, opts.max_ejection)
        self._to(BreakerState.OPEN)

    def _to(self, target: BreakerState) -> None:
        self.transitions.append((self._state, target))
        self._state = target
        self._epoch += 1
        self._consecutive_failures = 0
        self._probe_successes = 0
        self._probes_in_flight = 0
        if target is BreakerState.CLOSED:
            self._closed_since = self._clock()
