"""The payment-journal port: each payment's current state and its status history.

The journal is the adapter's write-ahead log: a payment is journalled ACCEPTED, with its core
reference, before its posting leaves for the core (see `adapter.services.payments`, Rule 2).

The journal owns the two transactions that span concepts (`adapter.ports.storage`):
- Rule 1: `claim` writes the idempotency key (IN_PROGRESS) together with the new payment and
  its first two history rows (RECEIVED, then ACCEPTED), or writes nothing: the key exists
  already, and the existing record is returned.
- Rule 2: `record` writes the payment's new state, its history row, the key's outcome (if
  given) and the outbox event (if the new status has one) in ONE transaction; a reader never
  sees a booked payment without its event, or a completed key without its payment.
- Rule 3 (optimistic concurrency): `record` applies only if the stored status is still
  `expected`; else it raises `StaleWrite` and writes nothing.
- Rule 4: `history` lists a payment's status changes in the order they were written.
- Rule 5: `unresolved(older_than)` returns every IN_DOUBT payment and every ACCEPTED one last
  updated at or before `older_than`, oldest update first, and nothing else.
- Rule 6 (resolver leases): `lease_unresolved` returns at most `limit` of the payments that
  `unresolved(older_than)` returns, in its order, leaving out those leased to another owner
  until after `now`, and leases each one it returns to `owner` until `until`. Two concurrent
  calls never hand one payment to two owners (PostgreSQL: FOR UPDATE SKIP LOCKED, so a row
  one resolver is claiming is skipped by the others, not waited for); an owner may lease
  again what it holds; a lease lapses at its `until`, so the payments of a holder that died
  are taken over by another once that time has passed.
A write returns only once it is durable (committed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from adapter.model.events import TransactionEvent
from adapter.model.payments import Payment
from adapter.model.status import PaymentStatus
from adapter.ports.idempotency import IdempotencyRecord, Outcome


class StaleWrite(Exception):
    """The payment changed since it was read: reload it instead of overwriting."""


class StatusChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    payment_id: str
    status: PaymentStatus
    at: datetime
    reason_code: str | None = None


class PaymentJournal(Protocol):
    async def claim(self, record: IdempotencyRecord, payment: Payment) -> IdempotencyRecord:
        """Insert the key and the payment (Rule 1); if the key exists already, return the
        existing record and insert nothing. The caller compares `payment_id` to know which
        happened."""
        ...

    async def record(
        self,
        payment: Payment,
        *,
        expected: PaymentStatus,
        outcome: Outcome | None = None,
    ) -> TransactionEvent | None:
        """Save the payment's new state if its stored status is still `expected` (Rule 3);
        complete the key that guards it with `outcome`, if given; append the outbox event if
        the new status has one, and return it with its seq (Rule 2)."""
        ...

    async def get(self, payment_id: str) -> Payment | None: ...

    async def history(self, payment_id: str) -> list[StatusChange]: ...

    async def unresolved(self, older_than: datetime) -> list[Payment]:
        """Every IN_DOUBT payment, and ACCEPTED ones last updated at or before `older_than`
        (a younger ACCEPTED payment may still be running in its owner's hands) (Rule 5)."""
        ...

    async def lease_unresolved(self, older_than: datetime, *, owner: str, now: datetime,
                               until: datetime, limit: int) -> list[Payment]:
        """Claim for `owner`, until `until`, up to `limit` unresolved payments nobody else
        holds at `now`, oldest update first (Rule 6)."""
        ...
