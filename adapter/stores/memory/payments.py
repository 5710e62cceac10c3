"""Idempotency keys, payment journal and event outbox in memory (`adapter.ports.storage`).

The three ports share one `_State`, so the journal's two cross-concept writes (journal
Rules 1 and 2) are atomic the way the database's are: each write first yields to the event
loop once, as a real store's commit does (so a test sees the same interleavings, and a caller
cancelled there has written nothing), then checks and applies all its changes in one step
with no await in between. Values are copied in and out: a caller never shares an object with
the store.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from adapter.model.events import TransactionEvent
from adapter.model.payments import Payment
from adapter.model.status import PaymentStatus
from adapter.ports.idempotency import IdempotencyRecord, KeyState, Outcome
from adapter.ports.journal import StaleWrite, StatusChange


@dataclass
class _State:
    keys: dict[tuple[str, str], IdempotencyRecord] = field(default_factory=dict)
    payments: dict[str, Payment] = field(default_factory=dict)
    history: dict[str, list[StatusChange]] = field(default_factory=dict)
    key_of: dict[str, tuple[str, str]] = field(default_factory=dict)  # payment id -> key
    references: set[str] = field(default_factory=set)  # core references (UNIQUE in SQL)
    outbox: list[TransactionEvent] = field(default_factory=list)
    # payment id -> (owner, until): the resolver's leases (journal Rule 6)
    leases: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    last_seq: int = 0
    closed: bool = False

    def check_open(self) -> None:
        if self.closed:
            raise RuntimeError("the in-memory store is closed")


class MemoryIdempotencyKeys:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def get(self, caller_id: str, key: str) -> IdempotencyRecord | None:
        return self._s.keys.get((caller_id, key))

    async def release(self, caller_id: str, key: str) -> None:
        self._s.check_open()
        record = self._s.keys.pop((caller_id, key), None)
        if record is not None:
            del self._s.key_of[record.payment_id]

    async def relock(self, caller_id: str, key: str, *, now: datetime,
                     locked_until: datetime) -> bool:
        self._s.check_open()
        record = self._s.keys.get((caller_id, key))
        if record is None or record.state is not KeyState.IN_PROGRESS \
                or record.locked_until > now:
            return False
        self._s.keys[(caller_id, key)] = record.model_copy(update={"locked_until": locked_until})
        return True

    async def purge_expired(self, now: datetime) -> int:
        self._s.check_open()
        expired = [name for name, r in self._s.keys.items()
                   if r.state is KeyState.COMPLETED and r.expires_at <= now]
        for name in expired:
            del self._s.key_of[self._s.keys.pop(name).payment_id]
        return len(expired)


class MemoryPaymentJournal:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def claim(self, record: IdempotencyRecord, payment: Payment) -> IdempotencyRecord:
        await asyncio.sleep(0)  # where a real store waits for its commit
        s = self._s
        s.check_open()
        existing = s.keys.get((record.caller_id, record.key))
        if existing is not None:
            return existing
        if payment.payment_id in s.payments or record.payment_id != payment.payment_id:
            raise ValueError(f"payment {payment.payment_id} is journalled already or not"
                             " the key's")
        if payment.core_reference in s.references:
            raise ValueError("the core reference is in use already")  # UNIQUE in SQL
        s.payments[payment.payment_id] = payment.model_copy()
        s.references.add(payment.core_reference)
        s.history[payment.payment_id] = [
            StatusChange(payment_id=payment.payment_id, status=PaymentStatus.RECEIVED,
                         at=payment.created_at),
            StatusChange(payment_id=payment.payment_id, status=payment.status,
                         at=payment.updated_at),
        ]
        s.keys[(record.caller_id, record.key)] = record
        s.key_of[payment.payment_id] = (record.caller_id, record.key)
        return record

    async def record(
        self, payment: Payment, *, expected: PaymentStatus, outcome: Outcome | None = None
    ) -> TransactionEvent | None:
        await asyncio.sleep(0)  # where a real store waits for its commit
        s = self._s
        s.check_open()
        stored = s.payments.get(payment.payment_id)
        if stored is None or stored.status is not expected:
            raise StaleWrite(payment.payment_id)
        # Every check is above: from here on nothing can fail, so the write is whole.
        s.payments[payment.payment_id] = payment.model_copy()
        s.history[payment.payment_id].append(StatusChange(
            payment_id=payment.payment_id, status=payment.status, at=payment.updated_at,
            reason_code=payment.reason_code))
        if outcome is not None:
            name = s.key_of.get(payment.payment_id)
            if name is not None:
                s.keys[name] = s.keys[name].model_copy(update={
                    "state": KeyState.COMPLETED, "error_code": outcome.error_code,
                    "error_message": outcome.error_message})
        event = TransactionEvent.for_payment(payment)
        if event is None:
            return None
        s.last_seq += 1
        event = event.model_copy(update={"seq": s.last_seq})
        s.outbox.append(event)
        return event

    async def get(self, payment_id: str) -> Payment | None:
        stored = self._s.payments.get(payment_id)
        return None if stored is None else stored.model_copy()

    async def history(self, payment_id: str) -> list[StatusChange]:
        return list(self._s.history.get(payment_id, ()))

    async def unresolved(self, older_than: datetime) -> list[Payment]:
        found = [p for p in self._s.payments.values()
                 if p.status is PaymentStatus.IN_DOUBT
                 or (p.status is PaymentStatus.ACCEPTED and p.updated_at <= older_than)]
        found.sort(key=lambda p: p.updated_at)
        return [p.model_copy() for p in found]

    async def lease_unresolved(self, older_than: datetime, *, owner: str, now: datetime,
                               until: datetime, limit: int) -> list[Payment]:
        leased: list[Payment] = []
        for p in await self.unresolved(older_than):
            if len(leased) >= limit:
                break
            holder = self._s.leases.get(p.payment_id)
            if holder is not None and holder[0] != owner and holder[1] > now:
                continue
            self._s.leases[p.payment_id] = (owner, until)
            leased.append(p)
        return leased


class MemoryEventOutbox:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def since(self, seq: int, limit: int) -> list[TransactionEvent]:
        # seq values are dense here (1, 2, ...): the list index is seq - 1.
        start = max(seq, 0)
        return self._s.outbox[start:start + max(limit, 0)]

    async def last_seq(self) -> int:
        return self._s.last_seq


class MemoryStore:
    """The three payment ports over one in-memory state."""

    def __init__(self, state: _State | None = None) -> None:
        self._state = state or _State()
        self.keys = MemoryIdempotencyKeys(self._state)
        self.journal = MemoryPaymentJournal(self._state)
        self.outbox = MemoryEventOutbox(self._state)

    def reopened(self) -> MemoryStore:
        """A new store over this one's state, once this one is closed: a restart that kept
        its database."""
        self._state.closed = False
        return MemoryStore(self._state)

    async def ping(self) -> None:
        self._state.check_open()

    async def aclose(self) -> None:
        self._state.closed = True
