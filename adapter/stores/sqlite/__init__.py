"""The SQLite backend of the storage ports (`adapter.ports`).

    database.py     one file as every store opens it: WAL, checkpointer, group commit
    schema.py       the payment database's tables (STATE/adapter.db)
    idempotency.py  IdempotencyKeys      journal.py  PaymentJournal
    outbox.py       EventOutbox          store.py    the three over one database
    reversals.py    ReversalStore (STATE/iso8583-reversals.sqlite)
    nonces.py       NonceStore (one file shared by the processes that use it)
"""

from adapter.stores.sqlite.nonces import SqliteNonceStore
from adapter.stores.sqlite.reversals import SqliteReversalStore
from adapter.stores.sqlite.store import SqliteStore

__all__ = ["SqliteNonceStore", "SqliteReversalStore", "SqliteStore"]
