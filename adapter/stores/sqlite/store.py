"""The SQLite payment storage (`adapter.ports.storage`): keys, journal and outbox in one
file (STATE/adapter.db), sharing one connection and one group commit, so the journal's
transactions cover the keys and the outbox too."""

from __future__ import annotations

from pathlib import Path

from adapter.infra.group_commit import LINGER, GroupCommit
from adapter.stores.sqlite.database import SqliteDatabase
from adapter.stores.sqlite.idempotency import SqliteIdempotencyKeys
from adapter.stores.sqlite.journal import SqlitePaymentJournal
from adapter.stores.sqlite.outbox import SqliteEventOutbox
from adapter.stores.sqlite.schema import SCHEMA


class SqliteStore:
    def __init__(self, path: Path, *, synchronous: str = "NORMAL",
                 linger: float = LINGER) -> None:
        self._database = SqliteDatabase(path, SCHEMA, synchronous=synchronous, linger=linger)
        db = self._database.db
        self.keys = SqliteIdempotencyKeys(db)
        self.journal = SqlitePaymentJournal(db, self._database.writes)
        self.outbox = SqliteEventOutbox(db)

    @property
    def writes(self) -> GroupCommit:
        """The group commit (its `commits` count is read by the benchmark)."""
        return self._database.writes

    async def ping(self) -> None:
        self._database.ping()

    async def aclose(self) -> None:
        self._database.close()
