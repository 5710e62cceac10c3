"""The event-outbox port: the durable, ordered log of transaction events.

Events are appended only by `PaymentJournal.record`, in the transaction that moves their
payment (`adapter.ports.journal`, Rule 2): this port reads.

Invariants the implementations keep:
- Rule 1: `seq` values are positive and only grow; a seq is never reused.
- Rule 2: `since(seq, limit)` returns the events with a greater seq, in seq order, at most
  `limit` of them, each carrying its seq.
- Rule 3: `last_seq()` is the greatest seq written so far (0 for an empty outbox).
"""

from __future__ import annotations

from typing import Protocol

from adapter.model.events import TransactionEvent


class EventOutbox(Protocol):
    async def since(self, seq: int, limit: int) -> list[TransactionEvent]: ...

    async def last_seq(self) -> int: ...
