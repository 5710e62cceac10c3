"""The PostgreSQL backend of the storage ports (`adapter.ports`), on psycopg 3 (async,
psycopg-pool), selected by `--database-url` (README "PostgreSQL").

    database.py     the pool, migrations and partitions at open, maintenance, cancellation
    migrate.py      numbered plain-SQL migrations (migrations/NNNN_name.sql), advisory lock
    partitions.py   monthly partitions of the journal and its history, made ahead
    idempotency.py  IdempotencyKeys      journal.py  PaymentJournal
    outbox.py       EventOutbox          store.py    PostgresStore: the three over one database
    reversals.py    ReversalStore (one scope per ISO 8583 connector)
    nonces.py       NonceStore, shared by every process on the database
    notify.py       OutboxWakeups: LISTEN/NOTIFY, so every process's event feed wakes
    terminals.py    TerminalClaims: a session advisory lock per ISO 8583 terminal id
    customers.py    CustomerStorePort (issue 15's customer store)
    security_events.py  SecurityEventLog (intrusion thresholds crossed)
    rate_limits.py  RateLimitStore: GCRA budgets shared by every process (an UNLOGGED table)

Open one database and build the stores over it, or let a store open its own:

    db = await PostgresDatabase.open(url)          # migrate, partitions, pool
    store = PostgresStore(db)                      # or: await PostgresStore.open(url)
"""

from adapter.stores.postgres.database import DatabaseUnavailable, PostgresDatabase
from adapter.stores.postgres.nonces import PostgresNonceStore
from adapter.stores.postgres.notify import PostgresOutboxWakeups
from adapter.stores.postgres.reversals import PostgresReversalStore
from adapter.stores.postgres.store import PostgresStore
from adapter.stores.postgres.terminals import PostgresTerminalClaims

__all__ = ["DatabaseUnavailable", "PostgresDatabase", "PostgresNonceStore",
           "PostgresOutboxWakeups", "PostgresReversalStore", "PostgresStore",
           "PostgresTerminalClaims"]
