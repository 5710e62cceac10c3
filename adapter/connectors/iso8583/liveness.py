"""Liveness of the ISO 8583 link: is the core answering on the session we hold?

Owns: the link's liveness signals and the verdict drawn from them, sans-IO (an injected clock,
no sockets, no tasks): when a byte was last received, how the last 0800/301 echo went, and the
age of the oldest request in flight (given by the caller, from the mux). A connected TCP
stream proves nothing: a stopped core (SIGSTOP, a hung process) keeps its socket open and its
kernel keeps acknowledging, so only answers count.

Verdicts, first matching rule wins:

    rule  condition                                                          verdict
    1     the last echo went unanswered or was refused                      ECHO_FAILED
    2     nothing received for more than `timeout` AND the oldest request
          in flight was registered more than `timeout` ago                  STALLED
    3     otherwise                                                          ALIVE

Invariants:
- Rule 1: ECHO_FAILED lasts until an echo is answered with field 39 = 00 (or a new session
  signs on); a late reply to the failed echo does not clear it.
- Rule 2: a link that owes nothing is never STALLED, however quiet (an idle link is probed
  instead, Rule 4); a request just sent on a quiet link is not STALLED either: it must itself
  have waited the whole `timeout` with nothing at all received.
- Rule 3: any received byte (a reply, an echo answer, the core's own 0800) is a sign of life.
- Rule 4 (probes): an echo is due `echo_interval` after the last sign of life or echo, so an
  idle link is found dead within `echo_interval + timeout`; while a reply is owed it is due
  `timeout / 2` after the later of the last sign of life and the oldest request's
  registration, so a single slow request on a live core gets the link probed (and answered)
  before Rule 2 could call it STALLED.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class Verdict(StrEnum):
    ALIVE = "alive"
    STALLED = "stalled"
    ECHO_FAILED = "echo failed"


class Liveness:
    def __init__(self, *, timeout: float, echo_interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.echo_interval = echo_interval
        self._clock = clock
        self.last_received = clock()
        self._last_probe = self.last_received
        self.echo_failures = 0  # consecutive

    def signed_on(self) -> None:
        """A new session: everything learned about the previous one is void."""
        self.last_received = self._last_probe = self._clock()
        self.echo_failures = 0

    def received(self) -> None:
        self.last_received = self._clock()

    def echo_answered(self) -> None:
        self.echo_failures = 0
        self._last_probe = self._clock()

    def echo_failed(self) -> None:
        self.echo_failures += 1
        self._last_probe = self._clock()

    def silence(self) -> float:
        """Seconds since the last byte was received."""
        return self._clock() - self.last_received

    def verdict(self, oldest_in_flight: Callable[[], float | None]) -> Verdict:
        """`oldest_in_flight` is asked only when the link has been silent long enough to
        matter, so the common case (bytes arriving) costs one clock read."""
        if self.echo_failures:
            return Verdict.ECHO_FAILED
        now = self._clock()
        if now - self.last_received <= self.timeout:
            return Verdict.ALIVE
        oldest = oldest_in_flight()
        if oldest is not None and now - oldest > self.timeout:
            return Verdict.STALLED
        return Verdict.ALIVE

    def stalled_in(self, oldest_in_flight: float | None) -> float | None:
        """Seconds until Rule 2 makes the verdict STALLED if nothing arrives meanwhile (just
        past the moment: the rule asks for *more* than `timeout`); None while nothing is
        owed or once the verdict is no longer ALIVE (no change is due by time alone)."""
        if oldest_in_flight is None or self.verdict(lambda: oldest_in_flight) is not \
                Verdict.ALIVE:
            return None
        left = max(self.last_received, oldest_in_flight) + self.timeout - self._clock()
        return max(left, 0.0) + 1e-3

    def probe_in(self, oldest_in_flight: float | None) -> float:
        """Seconds until the next echo is due (0 or less: now), Rule 4."""
        now = self._clock()
        due = max(self.last_received, self._last_probe) + self.echo_interval
        if oldest_in_flight is not None:
            due = min(due, max(self.last_received, self._last_probe, oldest_in_flight)
                      + self.timeout / 2)
        return due - now
