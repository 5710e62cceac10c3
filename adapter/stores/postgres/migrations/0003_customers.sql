-- The customer store (adapter.ports.customers) on PostgreSQL: the tables of
-- adapter/stores/customers_sqlite.py, prefixed `customer_` so that they read apart from the
-- payment journal's in one database. Secrets are as on SQLite: Argon2id hashes, TOTP
-- secrets sealed with the state folder's key, tokens as SHA-256 digests.
CREATE TABLE customers (
    customer_id text PRIMARY KEY,
    username text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    totp_sealed text NOT NULL,
    totp_last_step bigint NOT NULL DEFAULT 0,
    accounts jsonb NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE customer_locks (
    username text PRIMARY KEY,
    failures integer NOT NULL,
    locked_until timestamptz,
    lock_count integer NOT NULL,
    permanent boolean NOT NULL
);
CREATE TABLE customer_devices (
    credential_id text PRIMARY KEY,
    customer_id text NOT NULL REFERENCES customers (customer_id),
    public_key bytea NOT NULL,
    jkt text NOT NULL,
    sign_count bigint NOT NULL,
    name text NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX customer_devices_customer ON customer_devices (customer_id);
CREATE TABLE customer_challenges (
    challenge_id text PRIMARY KEY,
    purpose text NOT NULL,
    challenge bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    customer_id text,
    binding text NOT NULL
);
CREATE TABLE customer_dpop_jti (
    jkt text NOT NULL,
    jti text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (jkt, jti)
);
CREATE INDEX customer_dpop_jti_expiry ON customer_dpop_jti (expires_at);
CREATE TABLE customer_sessions (
    session_id text PRIMARY KEY,
    customer_id text NOT NULL,
    credential_id text NOT NULL,
    jkt text NOT NULL,
    auth_level text NOT NULL,
    created_at timestamptz NOT NULL,
    last_seen timestamptz NOT NULL,
    access_hash text NOT NULL UNIQUE,
    access_expires timestamptz NOT NULL,
    refresh_hash text NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX customer_sessions_customer ON customer_sessions (customer_id);
CREATE TABLE customer_refresh_tokens (
    refresh_hash text PRIMARY KEY,
    session_id text NOT NULL REFERENCES customer_sessions (session_id),
    used boolean NOT NULL DEFAULT false
);
CREATE TABLE customer_payees (
    customer_id text NOT NULL,
    payee text NOT NULL,
    PRIMARY KEY (customer_id, payee)
);
CREATE TABLE customer_security_audit (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id text NOT NULL,
    kind text NOT NULL,
    at timestamptz NOT NULL,
    detail jsonb NOT NULL,
    alert boolean NOT NULL
);
CREATE INDEX customer_security_audit_customer ON customer_security_audit (customer_id, seq);
CREATE TABLE customer_alert_outbox (
    seq bigint PRIMARY KEY REFERENCES customer_security_audit (seq)
);
