"""The ISO 8583 reversal port: reversals still owed to the core, surviving a restart.

A row per posting reference (field 37, retrieval reference number):

    ARMED ──> (row deleted)          the 0200 got a definite reply (approved or refused)
      │
      └──> PENDING ──> REVERSED      no reply: 0420/0421 until the core answers 0430

The original request is stored as its data elements, field number -> string value (the
fields 0420 repeats, and field 90's MTI, STAN and transmission time), exactly as sent: the
store knows nothing of the ISO 8583 codec.

Invariants the implementations keep:
- Rule 1 (write-ahead): `await arm(...)` returns True only once its ARMED row is durable, so
  a 0200 sent after it can always be reversed after a crash. False if the reference already
  has a row (in any state): it must not be sent.
- Rule 2: REVERSED is final and kept, so `get` answers REVERSED after a restart without the
  core being asked again.
- Rule 3 (cancellation): an `arm` whose caller is cancelled leaves no row (the caller never
  sends): before its write it is dropped, after it the row is taken back before the
  cancellation propagates. A `disarm` whose caller is cancelled is still written: the
  reply was definite.
- Rule 4: `disarm` deletes only an ARMED row; PENDING and REVERSED rows stay.
- Rule 5: `outstanding()` lists every ARMED and PENDING row, oldest first (at start-up an
  ARMED row is a posting whose answer was lost).
- Rule 6: a write that cannot be made durable raises `ReversalStoreError` and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class ReversalState(StrEnum):
    ARMED = "armed"
    PENDING = "pending"
    REVERSED = "reversed"


class ReversalStoreError(Exception):
    """A reversal row could not be written (Rule 6): treat the posting as not recorded."""


@dataclass(frozen=True)
class Reversal:
    reference: str
    state: ReversalState
    original: dict[str, str]
    attempts: int
    completed_at: datetime | None


class ReversalStore(Protocol):
    async def get(self, reference: str) -> Reversal | None: ...

    async def arm(self, reference: str, original: Mapping[str, str]) -> bool:
        """Record the request before it is sent (Rules 1 and 3)."""
        ...

    async def disarm(self, reference: str) -> None:
        """The request got a definite reply (or certainly did not leave): nothing to reverse
        (Rules 3 and 4). Returns once the row is gone."""
        ...

    async def mark_pending(self, reference: str,
                           original: Mapping[str, str] | None = None) -> Reversal | None:
        """The request's outcome is unknown: it must be reversed. With `original`, a row is
        inserted PENDING if the reference has none; an ARMED row becomes PENDING. Returns the
        row, or None if there is none (it was disarmed meanwhile)."""
        ...

    async def count_attempt(self, reference: str) -> int:
        """Count one more reversal attempt; the new count (0 if there is no row)."""
        ...

    async def mark_reversed(self, reference: str) -> None:
        """The core acknowledged the reversal (0430): the row is REVERSED, for good."""
        ...

    async def outstanding(self) -> list[Reversal]: ...

    async def aclose(self) -> None:
        """Write whatever is queued, then release the store."""
        ...
