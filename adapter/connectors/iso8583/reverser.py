"""The reverser: every posting whose outcome is unknown is undone with 0420/0421 until 0430.

Owns: which references are in flight in this process, turning "no reply" into a PENDING row,
sending reversal advices (0420 first, 0421 on repeats, ISO 8583:1987 MTI x420/x421) with
field 90 built from the original, retrying them in the background (also those found in the
store at start-up), and `resolve`. The rows themselves live in the reversal store (`reversals`:
arm, disarm, mark_pending, count_attempt, mark_reversed, outstanding, get).

A row's life, as driven from here:

    row state   event                                   next
    (none)      resolve                                 PENDING (a fencing original, STAN 000000)
    (none)      no reply, without write-ahead           PENDING (the request as sent)
    ARMED       no reply / resolve / found not in flight PENDING
    PENDING     0430 with field 39 = 00                 REVERSED (final)
    PENDING     no reply, refused, or link not usable   PENDING (retried after `reversal_retry`)

Invariants:
- Rule 1: `resolve` returns REVERSED only after the core acknowledged a 0420/0421 with a 0430
  (39 = 00); until then the row stays PENDING and is retried, also after a restart.
- Rule 2: an ARMED row whose 0200 is still in flight in this process is never taken for an
  orphan (`sending` marks it from before arming until after disarming or PENDING).
- Rule 3: one reversal per reference at a time (a lock per reference); the first advice is
  0420, every later one 0421; an attempt is counted only when the link admits it, so a
  reversal that never left is not later sent as a repeat.
- Rule 4: a reversed reference is never sent again: the core fences it, and `sending` refuses
  a reference already in flight.
- Rule 5: a PENDING row is driven to 0430 by whichever process sharing the store gets to it
  (the store is shared on PostgreSQL): the loop looks at the store every `reversal_scan`
  seconds even with nothing owed here, so the reversals of a process that died are picked
  up by the others. Two processes reversing one reference at once is harmless: the core
  reverses a reference once and acknowledges every repeat (0421).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType

from adapter.connectors.iso8583 import mapping
from adapter.connectors.iso8583.codec import Message
from adapter.connectors.iso8583.exceptions import UNANSWERED, NotSent
from adapter.connectors.iso8583.options import IsoOptions
from adapter.connectors.iso8583.session import IsoSession
from adapter.connectors.iso8583.spec import Mti, ResponseCode
from adapter.model.errors import DuplicateRequest
from adapter.ports.core import CoreBooking, CoreBookingState, CoreOutcomeUnknown, CorePosting
from adapter.ports.reversals import ReversalState, ReversalStore

log = logging.getLogger("adapter.connectors.iso8583")

ReversalCallback = Callable[[str], Awaitable[None] | None]


class _InFlight:
    """`with reverser.sending(ref):`: the reference is in `live` for the block (Rules 2 and 4)."""

    __slots__ = ("_live", "_reference")

    def __init__(self, live: set[str], reference: str) -> None:
        self._live, self._reference = live, reference

    def __enter__(self) -> None:
        if self._reference in self._live:
            raise DuplicateRequest("this reference is already in flight to the core")
        self._live.add(self._reference)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._live.discard(self._reference)


class Reverser:
    def __init__(
        self,
        options: IsoOptions,
        session: IsoSession,
        store: ReversalStore,
        *,
        on_reversed: ReversalCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.options = options
        self._session = session
        self.store = store
        self.on_reversed = on_reversed
        self._clock = clock
        self._wake = asyncio.Event()
        self._locks: dict[str, asyncio.Lock] = {}
        self._live: set[str] = set()  # references whose 0200 is in flight here (Rule 2)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="iso8583-reversals")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        self._wake.set()

    # -- the posting path's side (Rules 2, 4) ------------------------------------------------

    def sending(self, reference: str) -> _InFlight:
        """Mark `reference` in flight here for the duration: DuplicateRequest if it is."""
        return _InFlight(self._live, reference)

    async def owed(self, reference: str, sent: Message) -> None:
        """`sent` got no reply: it must be reversed (the row is written PENDING now, with the
        request as sent when nothing was written ahead)."""
        await self.store.mark_pending(reference, None if self.options.write_ahead else sent)
        self.wake()

    # -- resolving ---------------------------------------------------------------------------

    async def resolve(self, posting: CorePosting, *, timeout: float) -> CoreBooking:
        deadline = self._clock() + timeout
        record = await self.store.get(posting.reference)
        if record is None:
            # Never sent by this adapter's store (or lost before arming): fence it anyway, so
            # a late original can never book (the core tombstones an unknown reversal).
            original = mapping.financial_request(posting, "000000", self.options.terminal_id,
                                                 _now())
            await self.store.mark_pending(posting.reference, original)
        elif record.state is ReversalState.ARMED:
            await self.store.mark_pending(posting.reference)
        while True:
            if await self._reverse_once(posting.reference, deadline):
                return CoreBooking(reference=posting.reference, state=CoreBookingState.REVERSED)
            if self._clock() >= deadline:
                raise CoreOutcomeUnknown("the reversal is not acknowledged yet; it is retried")
            # A retry cadence, not a synchronisation: the core is asked again after it.
            await asyncio.sleep(min(self.options.reversal_retry,
                                    max(0.0, deadline - self._clock())))

    async def _reverse_once(self, reference: str, deadline: float | None = None) -> bool:
        """One 0420 (0421 on repeats) for `reference`; True once it is REVERSED."""
        lock = self._locks.setdefault(reference, asyncio.Lock())
        async with lock:
            record = await self.store.get(reference)
            if record is None:
                return False
            if record.state is ReversalState.REVERSED:
                return True
            timeout = self.options.reversal_timeout
            if deadline is not None:
                timeout = min(timeout, deadline - self._clock())
            if timeout <= 0:
                return False
            try:
                pending = self._session.admit(timeout)  # Rule 3: counted once admitted
                if pending is not None:
                    await pending
            except NotSent:
                return False
            attempt = await self.store.count_attempt(reference)
            msg = mapping.reversal_advice(record.original, self._session.stans.next(), _now(),
                                          repeat=attempt > 1)
            try:
                reply = await self._session.request(msg, timeout)
            except UNANSWERED as exc:
                log.warning("iso8583 reversal %s attempt %d unanswered (%s)",
                            reference, attempt, type(exc).__name__)
                return False
            code = reply.get("39")
            if code != ResponseCode.APPROVED:
                log.warning("iso8583 reversal %s refused with %s; retried later", reference, code)
                return False
            await self.store.mark_reversed(reference)
            log.info("iso8583 posting %s reversed after %d attempt(s)", reference, attempt)
        self._locks.pop(reference, None)
        await self._notify(reference)
        return True

    async def _notify(self, reference: str) -> None:
        if self.on_reversed is None:
            return
        try:
            result = self.on_reversed(reference)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("on_reversed hook failed for %s", reference)

    async def _loop(self) -> None:
        """Drive every outstanding reversal (including those found at start-up) to 0430."""
        while True:
            await self._session.wait_up()
            outstanding = await self.store.outstanding()
            for record in outstanding:
                if record.state is ReversalState.ARMED and record.reference in self._live:
                    continue
                if record.state is ReversalState.ARMED:
                    await self.store.mark_pending(record.reference)
                with contextlib.suppress(Exception):
                    await self._reverse_once(record.reference)
            self._wake.clear()
            # Rule 5: idle, the store is still looked at every `reversal_scan` seconds.
            idle = not await self.store.outstanding() or not outstanding
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.options.reversal_scan if idle
                                           else self.options.reversal_retry):
                    await self._wake.wait()


def log_late_reply(message: Message, reason: str) -> None:
    """The mux's handler for replies that match nobody."""
    if message.get("t") == Mti.FINANCIAL_RESPONSE and message.get("39") == ResponseCode.APPROVED:
        # A late approval: the posting is already PENDING reversal (Rule 1), which will undo
        # it; nothing else to do but make that visible.
        log.warning("iso8583 late approval for %s: its reversal undoes it",
                    message.get("37", "?"))


def _now() -> datetime:
    return datetime.now(UTC)
