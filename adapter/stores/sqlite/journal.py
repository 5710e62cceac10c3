"""The payment journal in SQLite (`adapter.ports.journal`): tables `payments` and
`payment_status_history`, and the two cross-concept transactions (journal Rules 1 and 2).

Both writes of a payment (`claim`, `record`) go through the database's group commit, so
the statements of one write run inside one SAVEPOINT of a shared transaction: a write is
whole or absent, and it returns only once committed.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from adapter.infra.group_commit import GroupCommit
from adapter.model.events import TransactionEvent
from adapter.model.payments import Payment
from adapter.model.status import PaymentStatus
from adapter.ports.idempotency import IdempotencyRecord, Outcome
from adapter.ports.journal import StaleWrite, StatusChange
from adapter.stores.sqlite import idempotency, outbox
from adapter.stores.sqlite.schema import dt, ts

# The resolver's query, every few seconds: it must read only the unsettled payments through
# the partial index `payments_unresolved`, never scan the journal. SQLite uses a partial
# index only when the query repeats the index's WHERE term, hence the `status IN` clause.
UNRESOLVED_SQL = (
    "SELECT body FROM payments WHERE status IN ('accepted', 'in_doubt')"
    " AND (status = 'in_doubt' OR updated_at <= ?) ORDER BY updated_at"
)

# Rule 6: the unresolved payments nobody else holds a live lease on.
LEASABLE_SQL = (
    "SELECT p.payment_id, p.body FROM payments p"
    " LEFT JOIN payment_leases l ON l.payment_id = p.payment_id"
    " WHERE p.status IN ('accepted', 'in_doubt')"
    " AND (p.status = 'in_doubt' OR p.updated_at <= ?)"
    " AND (l.payment_id IS NULL OR l.owner = ? OR l.until <= ?)"
    " ORDER BY p.updated_at LIMIT ?"
)

_HISTORY_SQL = ("INSERT INTO payment_status_history (payment_id, status, at, reason_code)"
                " VALUES (?, ?, ?, ?)")


class SqlitePaymentJournal:
    def __init__(self, db: sqlite3.Connection, writes: GroupCommit) -> None:
        self._db = db
        self._writes = writes

    async def claim(self, record: IdempotencyRecord, payment: Payment) -> IdempotencyRecord:
        return await self._writes.run(lambda: self._claim(record, payment))

    def _claim(self, record: IdempotencyRecord, payment: Payment) -> IdempotencyRecord:
        db = self._db
        existing = idempotency.select(db, record.caller_id, record.key)
        if existing is not None:
            return existing
        # The journal shows the request as received, then accepted (validated, authorised):
        # one row for the payment, two for its history.
        db.execute(
            "INSERT INTO payments (payment_id, core_reference, status, updated_at, body)"
            " VALUES (?, ?, ?, ?, ?)",
            (payment.payment_id, payment.core_reference, payment.status.value,
             ts(payment.updated_at), payment.model_dump_json()),
        )
        db.executemany(_HISTORY_SQL, [
            (payment.payment_id, PaymentStatus.RECEIVED.value, ts(payment.created_at), None),
            (payment.payment_id, payment.status.value, ts(payment.updated_at), None),
        ])
        idempotency.insert(db, record)
        return record

    async def record(
        self, payment: Payment, *, expected: PaymentStatus, outcome: Outcome | None = None
    ) -> TransactionEvent | None:
        return await self._writes.run(lambda: self._record(payment, expected, outcome))

    def _record(self, payment: Payment, expected: PaymentStatus,
                outcome: Outcome | None) -> TransactionEvent | None:
        db = self._db
        cur = db.execute(
            "UPDATE payments SET status = ?, updated_at = ?, body = ?"
            " WHERE payment_id = ? AND status = ?",
            (payment.status.value, ts(payment.updated_at), payment.model_dump_json(),
             payment.payment_id, expected.value),
        )
        if cur.rowcount != 1:  # Rule 3: moved (or absent) since it was read
            raise StaleWrite(payment.payment_id)
        db.execute(_HISTORY_SQL, (payment.payment_id, payment.status.value,
                                  ts(payment.updated_at), payment.reason_code))
        if outcome is not None:
            idempotency.complete(db, payment.payment_id, outcome)
        event = TransactionEvent.for_payment(payment)
        return None if event is None else outbox.append(db, event)

    async def get(self, payment_id: str) -> Payment | None:
        row = self._db.execute(
            "SELECT body FROM payments WHERE payment_id = ?", (payment_id,)
        ).fetchone()
        return Payment.model_validate_json(row[0]) if row else None

    async def history(self, payment_id: str) -> list[StatusChange]:
        rows = self._db.execute(
            "SELECT payment_id, status, at, reason_code FROM payment_status_history"
            " WHERE payment_id = ? ORDER BY id",
            (payment_id,),
        ).fetchall()
        return [
            StatusChange(payment_id=r[0], status=PaymentStatus(r[1]), at=dt(r[2]),
                         reason_code=r[3])
            for r in rows
        ]

    async def unresolved(self, older_than: datetime) -> list[Payment]:
        rows = self._db.execute(UNRESOLVED_SQL, (ts(older_than),)).fetchall()
        return [Payment.model_validate_json(r[0]) for r in rows]

    async def lease_unresolved(self, older_than: datetime, *, owner: str, now: datetime,
                               until: datetime, limit: int) -> list[Payment]:
        # Mostly nothing is unsettled: a read answers that without a write transaction.
        if self._db.execute(LEASABLE_SQL, (ts(older_than), owner, ts(now), 1)).fetchone() is None:
            return []
        return await self._writes.run(
            lambda: self._lease(older_than, owner, ts(now), ts(until), limit))

    def _lease(self, older_than: datetime, owner: str, now: str, until: str,
               limit: int) -> list[Payment]:
        # One writer at a time (the group commit): the read and the lease rows are one step.
        rows = self._db.execute(LEASABLE_SQL, (ts(older_than), owner, now, limit)).fetchall()
        self._db.executemany(
            "INSERT INTO payment_leases (payment_id, owner, until) VALUES (?, ?, ?)"
            " ON CONFLICT (payment_id) DO UPDATE SET owner = excluded.owner,"
            " until = excluded.until",
            [(r[0], owner, until) for r in rows])
        return [Payment.model_validate_json(r[1]) for r in rows]
