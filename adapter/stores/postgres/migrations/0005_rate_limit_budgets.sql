-- Rate-limit budgets (adapter.ports.rate_limits) on PostgreSQL: adapter/stores/postgres/
-- rate_limits.py. One row per budget key ("operation:principal") holding its GCRA
-- theoretical arrival time, seconds since the epoch of the callers' shared wall clock.
--
-- UNLOGGED: budgets need no crash durability. A budget is at most one capacity (one rate
-- period) of history; after a server crash PostgreSQL empties the table, which gives every
-- caller a rested budget once, the same as a restart of the in-memory store. In exchange no
-- acquire writes WAL. An unlogged table is not replicated: on a promoted standby the table
-- is empty (rested budgets again).
--
-- No index on tat: the only lookup is by key, and an index on tat would make every update
-- non-HOT. The purge of rested rows scans the table, bounded and rare (rate_limits.py).
CREATE UNLOGGED TABLE rate_limit_budgets (
    key text PRIMARY KEY,
    tat double precision NOT NULL
);
