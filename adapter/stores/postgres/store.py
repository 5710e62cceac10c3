"""The PostgreSQL payment storage (`adapter.ports.storage`): keys, journal and outbox over
one database, so the journal's statements cover the keys and the outbox too.

    store = await PostgresStore.open("postgresql://user@host/db")   # migrates, partitions
    await store.journal.claim(record, payment) ... ; await store.aclose()

or, sharing one database (one pool) with the other PostgreSQL stores:

    db = await PostgresDatabase.open(url)
    store = PostgresStore(db)   # store.aclose() then leaves the database open

`store.database` is the `PostgresDatabase` (its pool: `store.database.pool`), for code that
adds tables of its own (leases, LISTEN/NOTIFY) on the same connections.
"""

from __future__ import annotations

from typing import Any

from adapter.stores.postgres.database import PostgresDatabase
from adapter.stores.postgres.idempotency import PostgresIdempotencyKeys
from adapter.stores.postgres.journal import PostgresPaymentJournal
from adapter.stores.postgres.outbox import PostgresEventOutbox


class PostgresStore:
    def __init__(self, database: PostgresDatabase, *, owns_database: bool = False) -> None:
        self.database = database
        self._owns = owns_database
        self.keys = PostgresIdempotencyKeys(database)
        self.journal = PostgresPaymentJournal(database)
        self.outbox = PostgresEventOutbox(database)

    @classmethod
    async def open(cls, url: str, **options: Any) -> PostgresStore:
        """A store on its own database handle (`PostgresDatabase.open(url, **options)`),
        closed with the store."""
        return cls(await PostgresDatabase.open(url, **options), owns_database=True)

    async def ping(self) -> None:
        await self.database.ping()

    async def aclose(self) -> None:
        if self._owns:
            await self.database.aclose()
