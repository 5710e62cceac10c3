"""The store port: the adapter's own durable state (idempotency keys, payment journal, outbox).

Invariants the implementations keep:
- Rule 1: `claim` is atomic: one idempotency record per (caller, key), created together with
  the payment it guards, or not at all.
- Rule 2: `record` writes the payment's new state, its status-history row, the outbox event and
  the idempotency outcome in ONE transaction: a reader never sees a booked payment without
  its event, or a completed key without its payment.
- Rule 3: outbox `seq` values only grow; `events_since(seq)` returns them in order.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from adapter.model.events import TransactionEvent
from adapter.model.payments import Payment
from adapter.model.status import PaymentStatus


class StaleWrite(Exception):
    """The payment changed since it was read: reload it instead of overwriting."""


class KeyState(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class IdempotencyRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    caller_id: str
    key: str
    fingerprint: str
    state: KeyState
    payment_id: str
    error_code: str | None = None
    error_message: str | None = None
    created_at: datetime
    locked_until: datetime
    expires_at: datetime


class StatusChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    payment_id: str
    status: PaymentStatus
    at: datetime
    reason_code: str | None = None


class Outcome(BaseModel):
    """How a finished request ended, for its idempotent replay: the code and message of the
    canonical error it answered, or neither when it succeeded (the payment it made is the
    journal's own row, found through the key's payment_id, not carried here)."""

    model_config = ConfigDict(frozen=True)

    error_code: str | None = None
    error_message: str | None = None


class StorePort(Protocol):
    async def get_key(self, caller_id: str, key: str) -> IdempotencyRecord | None: ...

    async def claim(self, record: IdempotencyRecord, payment: Payment) -> IdempotencyRecord:
        """Insert the key and the payment; if the key exists already, return the existing one
        (and insert nothing). The caller compares `payment_id` to know which happened."""
        ...

    async def record(
        self,
        payment: Payment,
        *,
        expected: PaymentStatus,
        outcome: Outcome | None = None,
    ) -> TransactionEvent | None:
        """Save the payment's new state if its stored status is still `expected` (else raise
        StaleWrite and change nothing: someone else moved it first); if `outcome` is given,
        complete the key that guards this payment with it; append the outbox event if the
        new status has one, and return it (with its seq)."""
        ...

    async def release_key(self, caller_id: str, key: str) -> None:
        """Forget a key whose request certainly moved no money (the core was never reached)."""
        ...

    async def relock_key(self, caller_id: str, key: str, locked_until: datetime) -> bool:
        """Take over an in-progress key whose lock expired; False if someone else holds it."""
        ...

    async def get_payment(self, payment_id: str) -> Payment | None: ...

    async def status_history(self, payment_id: str) -> list[StatusChange]: ...

    async def unresolved(self, older_than: datetime) -> list[Payment]:
        """Every IN_DOUBT payment, and ACCEPTED ones last updated before `older_than` (a
        younger ACCEPTED payment may still be running in its owner's hands)."""
        ...

    async def events_since(self, seq: int, limit: int) -> list[TransactionEvent]: ...

    async def last_event_seq(self) -> int: ...

    async def purge_expired_keys(self, now: datetime) -> int: ...

    async def aclose(self) -> None: ...
