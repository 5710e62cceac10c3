"""The SQLite store: idempotency keys, the payment journal and the event outbox in one file.

Why synchronous sqlite3 inside async methods: each write is a few short statements (tens of
microseconds in WAL mode); a thread hop would cost more than the work. The store is used from
one event loop, so one connection suffices and statements are cached by sqlite3. The two
writes of a payment (`claim`, `record`) go through group commit (group_commit.py): those
queued in one loop turn share a transaction, and each returns only once it is committed.

Settings: WAL (readers never block the writer), checkpointed by a background thread so no
request waits for one (see checkpointer.py); synchronous=NORMAL by default (a commit
survives a process crash; a power loss may lose the last transactions) or FULL (an fsync per
commit: survives a power loss, at a measurable cost per payment; choose it in production with
`--sqlite-synchronous FULL`); foreign keys on; a busy timeout for a second process.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from adapter.infra.checkpointer import BackgroundCheckpointer
from adapter.infra.group_commit import LINGER, GroupCommit
from adapter.model.events import TransactionEvent
from adapter.model.payments import Payment
from adapter.model.status import PaymentStatus
from adapter.ports.store import IdempotencyRecord, KeyState, Outcome, StaleWrite, StatusChange

SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    payment_id TEXT PRIMARY KEY,
    core_reference TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS payments_unresolved ON payments (status, updated_at)
    WHERE status IN ('accepted', 'in_doubt');
CREATE TABLE IF NOT EXISTS payment_status_history (
    id INTEGER PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES payments (payment_id),
    status TEXT NOT NULL,
    at TEXT NOT NULL,
    reason_code TEXT
);
CREATE INDEX IF NOT EXISTS payment_status_history_payment
    ON payment_status_history (payment_id, id);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    caller_id TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    payment_id TEXT NOT NULL UNIQUE REFERENCES payments (payment_id),
    error_code TEXT,
    error_message TEXT,
    created_at TEXT NOT NULL,
    locked_until TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (caller_id, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_expiry ON idempotency_keys (expires_at);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id TEXT NOT NULL,
    body TEXT NOT NULL
);
"""


# The resolver's query, every few seconds: it must read only the unsettled payments through
# the partial index `payments_unresolved`, never scan the journal. SQLite uses a partial
# index only when the query repeats the index's WHERE term, hence the `status IN` clause.
UNRESOLVED_SQL = (
    "SELECT body FROM payments WHERE status IN ('accepted', 'in_doubt')"
    " AND (status = 'in_doubt' OR updated_at <= ?) ORDER BY updated_at"
)


def _ts(value: datetime) -> str:
    # The services hand over UTC datetimes: skip the conversion for them.
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat()


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


class SqliteStore:
    def __init__(self, path: Path, *, synchronous: str = "NORMAL",
                 linger: float = LINGER) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be NORMAL or FULL")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)
        BackgroundCheckpointer.disable_auto(self._db)
        self._checkpointer = BackgroundCheckpointer(path).start()
        self._writes = GroupCommit(self._db, linger=linger)

    # -- idempotency -------------------------------------------------------------------

    @staticmethod
    def _key_row(row: tuple) -> IdempotencyRecord:
        return IdempotencyRecord(
            caller_id=row[0], key=row[1], fingerprint=row[2], state=KeyState(row[3]),
            payment_id=row[4], error_code=row[5], error_message=row[6],
            created_at=_dt(row[7]), locked_until=_dt(row[8]), expires_at=_dt(row[9]),
        )

    def _get_key(self, caller_id: str, key: str) -> IdempotencyRecord | None:
        row = self._db.execute(
            "SELECT caller_id, key, fingerprint, state, payment_id, error_code, error_message,"
            " created_at, locked_until, expires_at FROM idempotency_keys"
            " WHERE caller_id = ? AND key = ?",
            (caller_id, key),
        ).fetchone()
        return self._key_row(row) if row else None

    async def get_key(self, caller_id: str, key: str) -> IdempotencyRecord | None:
        return self._get_key(caller_id, key)

    async def claim(self, record: IdempotencyRecord, payment: Payment) -> IdempotencyRecord:
        return await self._writes.run(lambda: self._claim(record, payment))

    def _claim(self, record: IdempotencyRecord, payment: Payment) -> IdempotencyRecord:
        db = self._db
        existing = self._get_key(record.caller_id, record.key)
        if existing is not None:
            return existing
        # The journal shows the request as received, then accepted (validated, authorised):
        # one row for the payment, two for its history.
        db.execute(
            "INSERT INTO payments (payment_id, core_reference, status, updated_at, body)"
            " VALUES (?, ?, ?, ?, ?)",
            (payment.payment_id, payment.core_reference, payment.status.value,
             _ts(payment.updated_at), payment.model_dump_json()),
        )
        db.executemany(
            "INSERT INTO payment_status_history (payment_id, status, at, reason_code)"
            " VALUES (?, ?, ?, NULL)",
            [(payment.payment_id, PaymentStatus.RECEIVED.value, _ts(payment.created_at)),
             (payment.payment_id, payment.status.value, _ts(payment.updated_at))],
        )
        db.execute(
            "INSERT INTO idempotency_keys VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.caller_id, record.key, record.fingerprint, record.state.value,
                record.payment_id, record.error_code, record.error_message,
                _ts(record.created_at), _ts(record.locked_until), _ts(record.expires_at),
            ),
        )
        return record

    async def release_key(self, caller_id: str, key: str) -> None:
        self._db.execute(
            "DELETE FROM idempotency_keys WHERE caller_id = ? AND key = ?", (caller_id, key)
        )

    async def relock_key(self, caller_id: str, key: str, locked_until: datetime) -> bool:
        now = _ts(datetime.now(UTC))
        cur = self._db.execute(
            "UPDATE idempotency_keys SET locked_until = ?"
            " WHERE caller_id = ? AND key = ? AND state = ? AND locked_until <= ?",
            (_ts(locked_until), caller_id, key, KeyState.IN_PROGRESS.value, now),
        )
        return cur.rowcount == 1

    async def purge_expired_keys(self, now: datetime) -> int:
        cur = self._db.execute(
            "DELETE FROM idempotency_keys WHERE expires_at <= ? AND state = ?",
            (_ts(now), KeyState.COMPLETED.value),
        )
        return cur.rowcount

    # -- journal -----------------------------------------------------------------------

    def _update_payment(self, payment: Payment, *, expected: PaymentStatus) -> None:
        """Move the stored payment on, only if it is still `expected` (optimistic check)."""
        cur = self._db.execute(
            "UPDATE payments SET status = ?, updated_at = ?, body = ?"
            " WHERE payment_id = ? AND status = ?",
            (payment.status.value, _ts(payment.updated_at), payment.model_dump_json(),
             payment.payment_id, expected.value),
        )
        if cur.rowcount != 1:
            raise StaleWrite(payment.payment_id)
        self._db.execute(
            "INSERT INTO payment_status_history (payment_id, status, at, reason_code)"
            " VALUES (?, ?, ?, ?)",
            (payment.payment_id, payment.status.value, _ts(payment.updated_at),
             payment.reason_code),
        )

    async def record(
        self, payment: Payment, *, expected: PaymentStatus, outcome: Outcome | None = None
    ) -> TransactionEvent | None:
        return await self._writes.run(lambda: self._record(payment, expected, outcome))

    def _record(self, payment: Payment, expected: PaymentStatus,
                outcome: Outcome | None) -> TransactionEvent | None:
        db = self._db
        event = TransactionEvent.for_payment(payment)
        self._update_payment(payment, expected=expected)
        if outcome is not None:
            db.execute(
                "UPDATE idempotency_keys SET state = ?, error_code = ?, error_message = ?"
                " WHERE payment_id = ?",
                (KeyState.COMPLETED.value, outcome.error_code, outcome.error_message,
                 payment.payment_id),
            )
        if event is not None:
            cur = db.execute(
                "INSERT INTO outbox (payment_id, body) VALUES (?, ?)",
                (payment.payment_id, event.model_dump_json()),
            )
            assert cur.lastrowid is not None
            event = event.model_copy(update={"seq": cur.lastrowid})
        return event

    async def get_payment(self, payment_id: str) -> Payment | None:
        row = self._db.execute(
            "SELECT body FROM payments WHERE payment_id = ?", (payment_id,)
        ).fetchone()
        return Payment.model_validate_json(row[0]) if row else None

    async def status_history(self, payment_id: str) -> list[StatusChange]:
        rows = self._db.execute(
            "SELECT payment_id, status, at, reason_code FROM payment_status_history"
            " WHERE payment_id = ? ORDER BY id",
            (payment_id,),
        ).fetchall()
        return [
            StatusChange(payment_id=r[0], status=PaymentStatus(r[1]), at=_dt(r[2]),
                         reason_code=r[3])
            for r in rows
        ]

    async def unresolved(self, older_than: datetime) -> list[Payment]:
        rows = self._db.execute(UNRESOLVED_SQL, (_ts(older_than),)).fetchall()
        return [Payment.model_validate_json(r[0]) for r in rows]

    # -- outbox ------------------------------------------------------------------------

    async def events_since(self, seq: int, limit: int) -> list[TransactionEvent]:
        rows = self._db.execute(
            "SELECT seq, body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()
        return [
            TransactionEvent.model_validate_json(body).model_copy(update={"seq": s})
            for s, body in rows
        ]

    async def last_event_seq(self) -> int:
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()
        return int(row[0])

    async def aclose(self) -> None:
        self._writes.drain()
        self._db.close()
        self._checkpointer.stop()
