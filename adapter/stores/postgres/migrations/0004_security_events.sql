-- The security-event log (adapter.ports.security_events) on PostgreSQL: the table of
-- adapter/stores/sqlite/security_events.py. An identity seq is never reused (Rule 1).
CREATE TABLE security_events (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    signal text NOT NULL,
    subject text NOT NULL,
    body jsonb NOT NULL
);
