"""The payment journal on PostgreSQL (`adapter.ports.journal`): tables `payments` (with
`core_references`, the journal-wide UNIQUE rule a partitioned table cannot hold) and
`payment_status_history`, both partitioned by month on the UUIDv7 payment id.

How the port's rules hold across connections and processes:
- Rule 1: `claim` is ONE statement: the key is inserted ON CONFLICT DO NOTHING, and the
  payment, its core reference and its two history rows are inserted only from the key's
  RETURNING row. A concurrent claim of the same key waits on the unique index for the first
  to commit, then inserts nothing and reads the winner's record.
- Rule 2: `record` is ONE statement: the payment's UPDATE, its history row, the key's
  outcome and the outbox event, each fed by the UPDATE's RETURNING row.
- Rule 3: the UPDATE carries `status = expected`; a concurrent record of the same payment
  waits for the row lock, re-checks the condition on the new row (READ COMMITTED), updates
  nothing, and everything fed by it is skipped: StaleWrite, nothing written.
- Rule 4: history rows take their seq from a sequence after the row lock is held, so seq
  order is write order.
- Rule 5: the resolver's query repeats the partial index's predicate, so each partition
  answers it from `payments_unresolved` (tests/postgres assert the plan).
A claim whose caller is cancelled after the statement was sent is undone before the
cancellation propagates (`database.finish_or_undo`): the caller will never post it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from adapter.model.events import TransactionEvent
from adapter.model.payments import Payment
from adapter.model.status import PaymentStatus
from adapter.ports.idempotency import IdempotencyRecord, Outcome
from adapter.ports.journal import StaleWrite, StatusChange
from adapter.stores.postgres import idempotency
from adapter.stores.postgres.database import PostgresDatabase, finish_or_undo
from adapter.stores.postgres.outbox import APPEND_LOCK

CLAIM_SQL = """
WITH k AS (
    INSERT INTO idempotency_keys (caller_id, key, fingerprint, state, payment_id, error_code,
                                  error_message, created_at, locked_until, expires_at)
    VALUES (%(caller)s, %(key)s, %(fingerprint)s, %(state)s, %(pid)s, %(error_code)s,
            %(error_message)s, %(created)s, %(locked_until)s, %(expires)s)
    ON CONFLICT (caller_id, key) DO NOTHING
    RETURNING payment_id
), p AS (
    INSERT INTO payments (payment_id, core_reference, status, updated_at, body)
    SELECT payment_id, %(ref)s, %(status)s, %(updated)s, %(body)s::jsonb FROM k
), r AS (
    INSERT INTO core_references (core_reference, payment_id) SELECT %(ref)s, payment_id FROM k
), h AS (
    -- A VALUES list yields its rows in order, so RECEIVED draws the lower seq.
    INSERT INTO payment_status_history (payment_id, seq, status, at)
    SELECT k.payment_id, v.seq, v.status, v.at FROM k, (VALUES
        (nextval('payment_status_history_seq'), 'received', %(created)s::timestamptz),
        (nextval('payment_status_history_seq'), %(status)s, %(updated)s::timestamptz)
    ) AS v (seq, status, at)
)
SELECT count(*) FROM k
"""

_UPDATE = """
WITH u AS (
    UPDATE payments SET status = %(status)s, updated_at = %(at)s, body = %(body)s::jsonb
    WHERE payment_id = %(pid)s AND status = %(expected)s
    RETURNING payment_id
), h AS (
    INSERT INTO payment_status_history (payment_id, status, at, reason_code)
    SELECT payment_id, %(status)s, %(at)s, %(reason)s FROM u
)"""
_COMPLETE = """, k AS (
    UPDATE idempotency_keys SET state = 'completed', error_code = %(error_code)s,
        error_message = %(error_message)s
    WHERE payment_id = %(pid)s AND EXISTS (SELECT 1 FROM u)
)"""
_EVENT = f""", o AS (
    INSERT INTO outbox (payment_id, body)
    SELECT u.payment_id, %(event)s::jsonb
    FROM u, LATERAL (SELECT {APPEND_LOCK} WHERE u.payment_id IS NOT NULL) AS appending
    RETURNING seq
)"""
# Four shapes of one statement: with or without the key's outcome, with or without an event.
RECORD_SQL = {
    (outcome, event): _UPDATE + (_COMPLETE if outcome else "") + (_EVENT if event else "")
    + "\nSELECT (SELECT count(*) FROM u)"
    + (", (SELECT seq FROM o)" if event else ", NULL::bigint")
    for outcome in (False, True) for event in (False, True)
}

GET_SQL = "SELECT body::text FROM payments WHERE payment_id = %s"
HISTORY_SQL = ("SELECT status, at, reason_code FROM payment_status_history"
               " WHERE payment_id = %s ORDER BY seq")
# Rule 5; the `status IN` term is the partial index's predicate, repeated so it is used.
UNRESOLVED_SQL = (
    "SELECT body::text FROM payments WHERE status IN ('accepted', 'in_doubt')"
    " AND (status = 'in_doubt' OR updated_at <= %s) ORDER BY updated_at"
)
_UNCLAIM_SQL = """
WITH k AS (
    DELETE FROM idempotency_keys WHERE caller_id = %(caller)s AND key = %(key)s
        AND payment_id = %(pid)s AND state = 'in_progress'
    RETURNING payment_id
), h AS (
    DELETE FROM payment_status_history WHERE payment_id IN (SELECT payment_id FROM k)
), r AS (
    DELETE FROM core_references WHERE payment_id IN (SELECT payment_id FROM k)
)
DELETE FROM payments WHERE payment_id IN (SELECT payment_id FROM k)
"""


def as_uuid(payment_id: str) -> uuid.UUID | None:
    """The uuid of a payment id in its canonical text, else None: every id the adapter makes
    is canonical, and any other text names no payment (as it does on SQLite)."""
    try:
        value = uuid.UUID(payment_id)
    except ValueError:
        return None
    return value if str(value) == payment_id else None


class PostgresPaymentJournal:
    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db

    async def claim(self, record: IdempotencyRecord, payment: Payment) -> IdempotencyRecord:
        if record.payment_id != payment.payment_id:
            raise ValueError(f"payment {payment.payment_id} is not the key's")
        won = await finish_or_undo(self._claim(record, payment),
                                   lambda inserted: self._unclaim(record) if inserted
                                   else _nothing())
        if won:
            return record
        while True:
            existing = await self._db_key(record)
            if existing is not None:
                return existing
            # Released between our insert and this read: claim afresh.
            if await finish_or_undo(self._claim(record, payment),
                                    lambda inserted: self._unclaim(record) if inserted
                                    else _nothing()):
                return record

    async def _db_key(self, record: IdempotencyRecord) -> IdempotencyRecord | None:
        async with self._db.pool.connection() as conn:
            cur = await conn.execute(idempotency.SELECT_SQL, (record.caller_id, record.key))
            row = await cur.fetchone()
        return None if row is None else idempotency.record_of(row)

    async def _claim(self, record: IdempotencyRecord, payment: Payment) -> bool:
        async with self._db.pool.connection() as conn:
            cur = await conn.execute(CLAIM_SQL, {
                "caller": record.caller_id, "key": record.key,
                "fingerprint": record.fingerprint, "state": record.state.value,
                "pid": uuid.UUID(payment.payment_id), "error_code": record.error_code,
                "error_message": record.error_message, "created": record.created_at,
                "locked_until": record.locked_until, "expires": record.expires_at,
                "ref": payment.core_reference, "status": payment.status.value,
                "updated": payment.updated_at, "body": payment.model_dump_json(),
            })
            row = await cur.fetchone()
        return bool(row and row[0])

    async def _unclaim(self, record: IdempotencyRecord) -> None:
        async with self._db.pool.connection() as conn:
            await conn.execute(_UNCLAIM_SQL, {"caller": record.caller_id, "key": record.key,
                                              "pid": uuid.UUID(record.payment_id)})

    async def record(
        self, payment: Payment, *, expected: PaymentStatus, outcome: Outcome | None = None
    ) -> TransactionEvent | None:
        pid = as_uuid(payment.payment_id)
        if pid is None:
            raise StaleWrite(payment.payment_id)
        event = TransactionEvent.for_payment(payment)
        params: dict[str, object] = {
            "pid": pid, "status": payment.status.value, "at": payment.updated_at,
            "body": payment.model_dump_json(), "expected": expected.value,
            "reason": payment.reason_code,
        }
        if outcome is not None:
            params["error_code"] = outcome.error_code
            params["error_message"] = outcome.error_message
        if event is not None:
            params["event"] = event.model_dump_json()
        async with self._db.pool.connection() as conn:
            cur = await conn.execute(RECORD_SQL[(outcome is not None, event is not None)],
                                     params)
            row = await cur.fetchone()
        if row is None or row[0] != 1:  # Rule 3: moved (or absent) since it was read
            raise StaleWrite(payment.payment_id)
        return None if event is None else event.model_copy(update={"seq": int(row[1])})

    async def get(self, payment_id: str) -> Payment | None:
        pid = as_uuid(payment_id)
        if pid is None:
            return None
        async with self._db.pool.connection() as conn:
            cur = await conn.execute(GET_SQL, (pid,))
            row = await cur.fetchone()
        return None if row is None else Payment.model_validate_json(row[0])

    async def history(self, payment_id: str) -> list[StatusChange]:
        pid = as_uuid(payment_id)
        if pid is None:
            return []
        async with self._db.pool.connection() as conn:
            cur = await conn.execute(HISTORY_SQL, (pid,))
            rows = await cur.fetchall()
        return [StatusChange(payment_id=payment_id, status=PaymentStatus(r[0]), at=r[1],
                             reason_code=r[2]) for r in rows]

    async def unresolved(self, older_than: datetime) -> list[Payment]:
        async with self._db.pool.connection() as conn:
            cur = await conn.execute(UNRESOLVED_SQL, (older_than,))
            rows = await cur.fetchall()
        return [Payment.model_validate_json(r[0]) for r in rows]


async def _nothing() -> None:
    return None

