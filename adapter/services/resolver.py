"""The in-doubt resolver: a background task that settles payments left without an outcome.

It runs at start-up (a crash may have left ACCEPTED or IN_DOUBT payments behind) and then
whenever a payment stays in doubt, at most every `interval` seconds. It also purges expired
idempotency keys.

Invariants:
- Rule 1: every process runs a resolver, and each unsettled payment is settled by one of
  them at a time: a pass leases a batch in the journal (`PaymentJournal.lease_unresolved`,
  FOR UPDATE SKIP LOCKED on PostgreSQL) for `lease` seconds, longer than settling a batch
  can take (`settle` is bounded by the resolve timeout; a batch is settled concurrently).
- Rule 2: a lease lapses: the payments leased by a process that died are taken over by
  another process's resolver once `lease` seconds have passed.
- Rule 3: a payment whose first attempt still runs in this process is left to it (the
  others see its key's lock, and ACCEPTED payments younger than `grace` are nobody's yet).
- Rule 4: settling twice is harmless (`PaymentService.settle`): a lease keeps the core from
  being asked twice, it is not what keeps money from moving twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import timedelta

from adapter.ports.clock import Clock, system_clock
from adapter.ports.idempotency import IdempotencyKeys
from adapter.ports.journal import PaymentJournal
from adapter.services.payments import PaymentService

log = logging.getLogger("adapter.resolver")

BATCH = 16


def process_owner() -> str:
    """This process's name on the leases it holds: host, pid and a random part (a pid is
    reused after a restart; a lease of the dead process must not look like ours)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Resolver:
    def __init__(self, payments: PaymentService, journal: PaymentJournal,
                 keys: IdempotencyKeys, *, interval: float = 5.0, grace: float = 30.0,
                 lease: float = 30.0, owner: str | None = None,
                 clock: Clock = system_clock) -> None:
        self._payments = payments
        self._journal = journal
        self._keys = keys
        self._clock = clock
        self._interval = interval
        # A payment ACCEPTED less than `grace` seconds ago may still be running in this or
        # another process: leave it to its owner. IN_DOUBT payments have no owner left.
        self._grace = timedelta(seconds=grace)
        self._lease = timedelta(seconds=lease)
        self.owner = owner or process_owner()
        self._task: asyncio.Task[None] | None = None

    async def run_once(self, *, include_recent: bool = False) -> int:
        settled = 0
        seen: set[str] = set()
        while True:
            now = self._clock()
            cutoff = now if include_recent else now - self._grace
            batch = [p for p in await self._journal.lease_unresolved(
                         cutoff, owner=self.owner, now=now, until=now + self._lease,
                         limit=BATCH + len(seen))
                     if p.payment_id not in seen]
            seen.update(p.payment_id for p in batch)
            todo = [p for p in batch if not self._payments.is_running(p.payment_id)]
            results = await asyncio.gather(*(self._payments.settle(p) for p in todo))
            settled += sum(1 for r in results if r.status.is_final)
            # A full batch may have more behind it; when nothing new came (those seen are
            # still in doubt, leased to us again) the pass ends.
            if len(batch) < BATCH:
                break
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
