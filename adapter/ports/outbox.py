"""The event-outbox port: the durable, ordered log of transaction events.

Events are appended only by `PaymentJournal.record`, in the transaction that moves their
payment (`adapter.ports.journal`, Rule 2): this port reads.

Invariants the implementations keep:
- Rule 1: `seq` values are positive and only grow; a seq is never reused.
- Rule 2: `since(seq, limit)` returns the events with a greater seq, in seq order, at most
  `limit` of them, each carrying its seq.
- Rule 3: `last_seq()` is the greatest seq written so far (0 for an empty outbox).
(Rule 4 is `OutboxWakeups`', below.)
"""

from __future__ import annotations

from typing import Protocol

from adapter.model.events import TransactionEvent


class EventOutbox(Protocol):
    async def since(self, seq: int, limit: int) -> list[TransactionEvent]: ...

    async def last_seq(self) -> int: ...


class OutboxWakeups(Protocol):
    """Word that the outbox may have grown, from whichever process appended to it (a backend
    several processes share: PostgreSQL LISTEN/NOTIFY). A hint only, never the event: the
    outbox stays the truth, and a lost hint costs at most one `wait` timeout.

    - Rule 4: `wait(timeout)` returns once an append was announced (by any process, or by
      `poke` in this one) since the previous `wait` returned, or after `timeout` seconds.
    """

    def poke(self) -> None:
        """Announce an append made by this process."""
        ...

    async def wait(self, timeout: float) -> None: ...

    async def aclose(self) -> None: ...
