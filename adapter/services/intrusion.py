"""Intrusion signals: counting what hostile callers leave behind, and saying so once a
threshold is crossed.

Counted (model.security_events.Signal), each per source address and per identity where the
edge knows them: failed TLS handshakes on the HTTPS listener (a certificate that failed
verification is also `certificate_refused`), certificates of our CA whose CN the clients file
does not know (`certificate_refused`), UNAUTHENTICATED answers (WS-Security, tokens),
RATE_LIMITED answers, and checks refused because their subject is locked out (the password
gate's throttle, a customer's lock).

Invariants:
- Rule 1 (windows): counts are kept in fixed windows of `window` seconds aligned to the epoch
  (window k covers [k*window, (k+1)*window)), on an injected wall clock.
- Rule 2 (once per window): when a subject's count of one signal reaches its threshold within
  a window, exactly one SecurityEvent is appended to the security-event log (and logged at
  warning); more signals in that window add nothing but counts.
- Rule 3 (bounded): at most `max_subjects` (signal, subject) counters are held; when full,
  counters of past windows are dropped, and a subject that still finds no room is counted
  under the subject "(overflow)", so a flood from many addresses still crosses a threshold.
- Rule 4: recording never blocks or fails the request that caused it: `record` is
  synchronous, the append runs as a task (at most `max_pending` at once; beyond that an
  event is logged and counted as dropped, not appended).
- Rule 5: `recorded` counts every signal since start, whatever its threshold; each `record`
  wakes `wait_recorded`'s waiters, so a caller waits for a signal, not for a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from adapter.model.errors import AdapterError, Forbidden, RateLimited, Unauthenticated
from adapter.model.security_events import SecurityEvent, Signal, SubjectKind
from adapter.ports.security_events import SecurityEventLog
from adapter.services.pipeline import Call

log = logging.getLogger("adapter.security")

OVERFLOW = "(overflow)"
LOCKOUT_CODES = frozenset({"CUSTOMER_LOCKED"})


@dataclass
class _Count:
    window: int
    count: int = 0


class IntrusionMonitor:
    def __init__(self, thresholds: Mapping[Signal, int], window: float,
                 events: SecurityEventLog, *, clock: Callable[[], float] = time.time,
                 max_subjects: int = 10_000, max_pending: int = 100,
                 on_signal: Callable[[Signal], None] | None = None,
                 on_event: Callable[[SecurityEvent], None] | None = None) -> None:
        if window <= 0:
            raise ValueError("window must be > 0")
        self._thresholds = dict(thresholds)
        self._window = window
        self._events = events
        self._clock = clock
        self._max = max_subjects
        self._max_pending = max_pending
        self._on_signal = on_signal
        self._on_event = on_event
        self._counts: dict[tuple[Signal, SubjectKind, str], _Count] = {}
        self._pending: set[asyncio.Task[SecurityEvent]] = set()
        self.dropped = 0
        self.recorded: Counter[Signal] = Counter()  # Rule 5
        self._recorded_changed = asyncio.Event()

    @staticmethod
    def thresholds_from(texts: tuple[str, ...] | list[str]) -> dict[Signal, int]:
        """`signal=N` texts (the settings' form, already checked) -> thresholds."""
        out: dict[Signal, int] = {}
        for text in texts:
            signal, _, count = text.partition("=")
            out[Signal(signal.strip())] = int(count)
        return out

    # -- recording -----------------------------------------------------------------------

    def record(self, signal: Signal, *, source: str | None = None,
               identity: str | None = None) -> None:
        """Count one signal for its source address and its identity (Rules 1-3, 5)."""
        if self._on_signal is not None:
            self._on_signal(signal)
        self.recorded[signal] += 1
        changed, self._recorded_changed = self._recorded_changed, asyncio.Event()
        changed.set()
        threshold = self._thresholds.get(signal)
        if threshold is None:
            return
        now = self._clock()
        window = math.floor(now / self._window)
        if source and source != "-":
            self._count(signal, "source", source, window, threshold)
        if identity:
            self._count(signal, "identity", identity, window, threshold)

    def _count(self, signal: Signal, kind: SubjectKind, subject: str, window: int,
               threshold: int) -> None:
        key = (signal, kind, subject)
        counter = self._counts.get(key)
        if counter is None:
            if len(self._counts) >= self._max:
                self._forget_before(window)
            if len(self._counts) >= self._max:
                key = (signal, kind, OVERFLOW)
                subject = OVERFLOW
                counter = self._counts.get(key)
            if counter is None:
                counter = self._counts[key] = _Count(window)
        if counter.window != window:
            counter.window, counter.count = window, 0
        counter.count += 1
        if counter.count == threshold:
            self._raise_event(signal, kind, subject, window, counter.count, threshold)

    def _forget_before(self, window: int) -> None:
        for key in [k for k, c in self._counts.items() if c.window < window]:
            del self._counts[key]

    def _raise_event(self, signal: Signal, kind: SubjectKind, subject: str, window: int,
                     count: int, threshold: int) -> None:
        event = SecurityEvent(
            signal=signal, subject_kind=kind, subject=subject, count=count,
            threshold=threshold,
            window_start=datetime.fromtimestamp(window * self._window, UTC),
            window_seconds=self._window,
            occurred_at=datetime.fromtimestamp(self._clock(), UTC))
        log.warning("security event: %s from %s %s: %d within %g s (threshold %d)",
                    signal.value, kind, subject, count, self._window, threshold)
        if self._on_event is not None:
            self._on_event(event)
        if len(self._pending) >= self._max_pending:
            self.dropped += 1
            log.error("security event not stored (%d appends pending): %s %s %s",
                      len(self._pending), signal.value, kind, subject)
            return
        task = asyncio.get_running_loop().create_task(self._append(event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _append(self, event: SecurityEvent) -> SecurityEvent:
        try:
            return await self._events.append(event)
        except Exception:
            self.dropped += 1
            log.exception("security event not stored: %s", event.signal.value)
            raise

    async def wait_recorded(self, signal: Signal, count: int, timeout: float) -> bool:
        """Wait until `signal` was recorded at least `count` times since start (Rule 5);
        False if not within `timeout` (operators' tools, tests)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self.recorded[signal] < count:
                    await self._recorded_changed.wait()
        return self.recorded[signal] >= count

    async def flush(self) -> None:
        """Wait until every event raised so far is appended (tests; stopping)."""
        while self._pending:
            batch = tuple(self._pending)
            await asyncio.gather(*batch, return_exceptions=True)
            # Taken out here, not left to the done callbacks: those run later on the loop,
            # and on Python 3.12 a gather of finished tasks returns without yielding to it,
            # so this loop would spin forever and never let them run.
            self._pending.difference_update(batch)

    # -- the sources ---------------------------------------------------------------------

    def observe(self, call: Call, error: AdapterError | None) -> None:
        """The call pipeline's observer: the signal a finished call's error stands for. The
        identity is the principal, or before one is known the certificate's CN."""
        if error is None:
            return
        principal = call.principal
        signal = signal_for(error, has_principal=principal is not None)
        if signal is None:
            return
        identity = principal.id if principal is not None else call.credentials.certificate_cn
        self.record(signal, source=call.peer, identity=identity)

    def handshake_failed(self, peer: str, exc: BaseException) -> None:
        """The HTTPS listener's handshake-failure hook (frontends/https.py)."""
        self.record(Signal.TLS_HANDSHAKE_FAILED, source=peer)
        if _certificate_refused(exc):
            self.record(Signal.CERTIFICATE_REFUSED, source=peer)


def signal_for(error: AdapterError, *, has_principal: bool) -> Signal | None:
    """Which signal an error is, if any. FORBIDDEN before a principal is known is a
    certificate of our CA that the clients file does not know."""
    if error.code in LOCKOUT_CODES or (isinstance(error, RateLimited) and error.lockout):
        return Signal.LOCKOUT
    if isinstance(error, RateLimited):
        return Signal.RATE_LIMITED
    if isinstance(error, Unauthenticated):
        return Signal.AUTHENTICATION_FAILED
    if isinstance(error, Forbidden) and not has_principal:
        return Signal.CERTIFICATE_REFUSED
    return None


def _certificate_refused(exc: BaseException) -> bool:
    """A certificate was presented and failed verification (unknown CA, expired, revoked,
    wrong purpose): OpenSSL's CERTIFICATE_VERIFY_FAILED on our side."""
    import ssl

    return isinstance(exc, ssl.SSLCertVerificationError) or (
        isinstance(exc, ssl.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(exc))
