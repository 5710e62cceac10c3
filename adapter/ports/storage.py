"""The payment storage: the idempotency keys, the journal and the outbox of ONE database.

Two of the adapter's atomicity rules span concepts, so the three ports come from one
backend, sharing its transactions. Who owns which transaction:
- a key is created together with its payment: `PaymentJournal.claim` (journal Rule 1);
- a payment's new state, its history row, its outbox event and its key's outcome are
  written together: `PaymentJournal.record` (journal Rule 2).
`IdempotencyKeys` and `EventOutbox` own only single-concept operations. A backend (SQLite,
in-memory, later PostgreSQL) implements all three over one store and closes them together.
"""

from __future__ import annotations

from typing import Protocol

from adapter.ports.idempotency import IdempotencyKeys
from adapter.ports.journal import PaymentJournal
from adapter.ports.outbox import EventOutbox


class PaymentStorage(Protocol):
    @property
    def keys(self) -> IdempotencyKeys: ...

    @property
    def journal(self) -> PaymentJournal: ...

    @property
    def outbox(self) -> EventOutbox: ...

    async def ping(self) -> None:
        """Return once the database answers a trivial query (`SELECT 1`-class), raise if it
        cannot: readiness asks it (services/health.py), so it must stay cheap."""
        ...

    async def aclose(self) -> None:
        """Write whatever is queued, then release the database."""
        ...
