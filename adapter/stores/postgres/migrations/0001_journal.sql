-- The adapter's durable state on PostgreSQL: the same tables and rules as the SQLite store.
--
-- The payment journal and its status history are partitioned by month on the payment id:
-- a UUIDv7 (RFC 9562) starts with its creation time in Unix milliseconds, and PostgreSQL
-- orders uuid values bytewise, so each month is one range of ids. A query for one payment
-- prunes to one partition; partitions are created ahead of time (partitions.py).

CREATE TABLE payments (
    payment_id uuid NOT NULL,
    core_reference text NOT NULL,
    status text NOT NULL,
    updated_at timestamptz NOT NULL,
    owner text,
    owner_until timestamptz,
    body jsonb NOT NULL,
    PRIMARY KEY (payment_id)
) PARTITION BY RANGE (payment_id);

-- The resolver's query repeats this predicate, so each partition answers it from this index.
CREATE INDEX payments_unresolved ON payments (updated_at)
    WHERE status IN ('accepted', 'in_doubt');

-- A core reference is unique across the whole journal: the partition key cannot be part of
-- that rule, so it lives in its own small table.
CREATE TABLE core_references (
    core_reference text PRIMARY KEY,
    payment_id uuid NOT NULL
);

CREATE TABLE payment_status_history (
    payment_id uuid NOT NULL,
    seq integer NOT NULL,
    status text NOT NULL,
    at timestamptz NOT NULL,
    reason_code text,
    PRIMARY KEY (payment_id, seq)
) PARTITION BY RANGE (payment_id);

CREATE TABLE idempotency_keys (
    caller_id text NOT NULL,
    key text NOT NULL,
    fingerprint text NOT NULL,
    state text NOT NULL,
    payment_id uuid NOT NULL UNIQUE,
    error_code text,
    error_message text,
    created_at timestamptz NOT NULL,
    locked_until timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (caller_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

CREATE TABLE outbox (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payment_id uuid NOT NULL,
    body jsonb NOT NULL
);

CREATE TABLE iso8583_reversals (
    reference text PRIMARY KEY,
    state text NOT NULL,
    original jsonb,
    attempts integer NOT NULL DEFAULT 0,
    owner text,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    completed_at timestamptz
);
CREATE INDEX iso8583_reversals_open ON iso8583_reversals (updated_at)
    WHERE state IN ('armed', 'pending');

CREATE TABLE ws_security_nonces (
    username text NOT NULL,
    nonce bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (username, nonce)
);
CREATE INDEX ws_security_nonces_expiry ON ws_security_nonces (expires_at);
