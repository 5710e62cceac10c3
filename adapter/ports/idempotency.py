"""The idempotency-key port: one record per (caller, key), read, released, relocked, purged.

A key's record is CREATED only together with the payment it guards, and COMPLETED only
together with that payment's final state: both writes belong to the payment journal's
transactions (`PaymentJournal.claim` and `PaymentJournal.record`, see `adapter.ports.storage`).
This port owns the key's other life-cycle steps, each one atomic on its own.

Invariants the implementations keep:
- Rule 1: at most one record per (caller_id, key); keys are scoped to the caller.
- Rule 2: `relock` takes over a key only if it is still IN_PROGRESS and its lock has expired
  at `now`; of two concurrent relocks at most one returns True.
- Rule 3: `purge_expired` deletes only COMPLETED keys whose `expires_at <= now`; an
  IN_PROGRESS key (its payment may be unsettled) is never purged.
- Rule 4: `release` deletes the record, whatever its state; the payment stays in the journal.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict


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


class Outcome(BaseModel):
    """How a key's request ended, stored on the key to answer its replays: without an error
    code it succeeded (the answer is the payment, read from the journal); with one, the
    replay raises that error again with the stored message."""

    model_config = ConfigDict(frozen=True)

    error_code: str | None = None
    error_message: str | None = None


class IdempotencyKeys(Protocol):
    async def get(self, caller_id: str, key: str) -> IdempotencyRecord | None: ...

    async def release(self, caller_id: str, key: str) -> None:
        """Forget a key whose request certainly moved no money (the core was never reached),
        so the caller may retry under it (Rule 4)."""
        ...

    async def relock(self, caller_id: str, key: str, *, now: datetime,
                     locked_until: datetime) -> bool:
        """Take over an IN_PROGRESS key whose lock expired at `now`; False if it is
        completed, gone, or someone else holds a live lock (Rule 2)."""
        ...

    async def purge_expired(self, now: datetime) -> int:
        """Delete the completed keys expired at `now` (Rule 3); how many were deleted."""
        ...
