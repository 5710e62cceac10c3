"""WS-Security nonces on PostgreSQL (`adapter.ports.nonces`), table `ws_security_nonces`,
shared by every process on the database: a nonce accepted by one is a replay to all.

A row per accepted (username, nonce), kept as the SHA-256 digest of both (never the nonce),
with the Unix time it was accepted. `add` is one INSERT on the digest, the primary key, that
on conflict only takes over a row past retention: of two concurrent adds of one pair, in one
process or two, the second waits for the first to commit, finds a live row and changes
nothing, so True is returned at most once (Rules 1 and 4), and a row is a replay for exactly
`retention` seconds (Rule 2), as on SQLite. Rows past retention are deleted, to bound the
table, at most once per `prune_every` seconds of the verifier's clock per store (not on every
add: each process would queue on the others' deletes).
Rule 3 (fail closed) holds as on SQLite: a failed write raises, it never accepts.

    nonces = PostgresNonceStore(db, retention=360)        # over a shared PostgresDatabase
"""

from __future__ import annotations

import hashlib
from typing import Any

from adapter.stores.postgres.database import PostgresDatabase

_ADD = ("INSERT INTO ws_security_nonces (digest, seen_at) VALUES (%s, %s)"
        " ON CONFLICT (digest) DO UPDATE SET seen_at = excluded.seen_at"
        " WHERE ws_security_nonces.seen_at < %s")
_PRUNE = "DELETE FROM ws_security_nonces WHERE seen_at < %s"


class PostgresNonceStore:
    def __init__(self, database: PostgresDatabase, *, retention: float,
                 prune_every: float = 10.0, owns_database: bool = False) -> None:
        if retention <= 0:
            raise ValueError("retention must be > 0")
        self.database = database
        self._retention = retention
        self._prune_every = prune_every
        self._pruned_at = float("-inf")
        self._owns = owns_database

    @classmethod
    async def open(cls, url: str, *, retention: float, **options: Any) -> PostgresNonceStore:
        return cls(await PostgresDatabase.open(url, **options), retention=retention,
                   owns_database=True)

    @property
    def retention(self) -> float:
        return self._retention

    async def add(self, username: str, nonce: bytes, *, now: float) -> bool:
        digest = hashlib.sha256(username.encode() + b"\0" + nonce).digest()
        async with self.database.pool.connection() as conn:
            if now - self._pruned_at >= self._prune_every:
                self._pruned_at = now
                await conn.execute(_PRUNE, (now - self._retention,))
            cur = await conn.execute(_ADD, (digest, now, now - self._retention))
            return cur.rowcount == 1

    async def aclose(self) -> None:
        if self._owns:
            await self.database.aclose()
