-- What the store ports need beyond 0001 (0001 is applied somewhere already: never edited).
--
-- History rows are ordered by a sequence drawn at insert: a payment's records are serialised
-- by its row lock (the UPDATE ... WHERE status = expected), so its rows' seq order is the
-- order they were written (journal Rule 4), with no max(seq) read that a concurrent
-- statement's snapshot could make stale.
CREATE SEQUENCE payment_status_history_seq AS bigint;
ALTER TABLE payment_status_history ALTER COLUMN seq TYPE bigint;
ALTER TABLE payment_status_history ALTER COLUMN seq SET DEFAULT nextval('payment_status_history_seq');
ALTER SEQUENCE payment_status_history_seq OWNED BY payment_status_history.seq;

-- ISO 8583 reversals: each connector (one per core node in a pool) keeps its own rows, as
-- each has its own SQLite file; `id` orders `outstanding()` oldest first when two rows were
-- written within one clock reading.
ALTER TABLE iso8583_reversals ADD COLUMN scope text NOT NULL DEFAULT '';
ALTER TABLE iso8583_reversals ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE iso8583_reversals DROP CONSTRAINT iso8583_reversals_pkey;
ALTER TABLE iso8583_reversals ADD PRIMARY KEY (scope, reference);
DROP INDEX iso8583_reversals_open;
CREATE INDEX iso8583_reversals_open ON iso8583_reversals (scope, id)
    WHERE state IN ('armed', 'pending');

-- WS-Security nonces are kept as SHA-256 digests of (username, nonce), never in clear
-- (adapter.ports.nonces), with the Unix time they were accepted at, as the SQLite store does.
DROP TABLE ws_security_nonces;
CREATE TABLE ws_security_nonces (
    digest bytea PRIMARY KEY,
    seen_at double precision NOT NULL
);
CREATE INDEX ws_security_nonces_seen_at ON ws_security_nonces (seen_at);
