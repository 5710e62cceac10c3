"""The in-doubt resolver: a background task that settles payments left without an outcome.

It runs at start-up (a crash may have left ACCEPTED or IN_DOUBT payments behind) and then
whenever a payment stays in doubt, at most every `interval` seconds. It also purges expired
idempotency keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from adapter.ports.clock import Clock, system_clock
from adapter.ports.idempotency import IdempotencyKeys
from adapter.ports.journal import PaymentJournal
from adapter.services.payments import PaymentService

log = logging.getLogger("adapter.resolver")


class Resolver:
    def __init__(self, payments: PaymentService, journal: PaymentJournal,
                 keys: IdempotencyKeys, *, interval: float = 5.0, grace: float = 30.0,
                 clock: Clock = system_clock) -> None:
        self._payments = payments
        self._journal = journal
        self._keys = keys
        self._clock = clock
        self._interval = interval
        # A payment ACCEPTED less than `grace` seconds ago may still be running in this or
        # another process: leave it to its owner. IN_DOUBT payments have no owner left.
        self._grace = timedelta(seconds=grace)
        self._task: asyncio.Task[None] | None = None

    async def run_once(self, *, include_recent: bool = False) -> int:
        now = self._clock()
        cutoff = now if include_recent else now - self._grace
        settled = 0
        for payment in await self._journal.unresolved(cutoff):
            if self._payments.is_running(payment.payment_id):
                continue
            result = await self._payments.settle(payment)
            if result.status.is_final:
                settled += 1
        await self._keys.purge_expired(self._clock())
        return settled

    async def _loop(self) -> None:
        wake = self._payments.in_doubt_found
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("resolver pass failed")
            wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self._interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="in-doubt-resolver")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
