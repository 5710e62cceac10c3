"""The payment database's schema (STATE/adapter.db): journal, history, keys, outbox.

The tables live in one file because two transactions span them (`adapter.ports.storage`).
Every lookup path has an index; the resolver's has a partial one (see `journal.py`).
"""

from __future__ import annotations

from datetime import UTC, datetime

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
-- The resolver's leases (journal Rule 6): a row per payment some process is settling.
CREATE TABLE IF NOT EXISTS payment_leases (
    payment_id TEXT PRIMARY KEY REFERENCES payments (payment_id),
    owner TEXT NOT NULL,
    until TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id TEXT NOT NULL,
    body TEXT NOT NULL
);
"""


def ts(value: datetime) -> str:
    """A stored timestamp: ISO 8601 in UTC, so text order is time order."""
    # The services hand over UTC datetimes: skip the conversion for them.
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat()


def dt(value: str) -> datetime:
    return datetime.fromisoformat(value)
