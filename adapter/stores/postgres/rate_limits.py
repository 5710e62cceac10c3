"""Rate-limit state on PostgreSQL (`adapter.ports.rate_limits`), table `rate_limit_budgets`
(migration 0005), shared by every adapter process on the database: what one worker admits,
every other worker has spent (`--rate-limit-storage database`).

A row per budget key holds its GCRA theoretical arrival time (TAT, seconds of the callers'
wall clock, float8: the same IEEE doubles as the memory store's floats). The table is
UNLOGGED: a budget is at most one rate period of history, so after a server crash the table
comes back empty, every caller's budget rested once, as after a restart of the memory store;
in exchange an acquire writes no WAL.

Invariants (the port's Rules 1-4, and how they hold here):
- Rule 1 (atomic per key, across processes): `acquire` is ONE statement. Its first CTE locks
  the key's row (`SELECT ... FOR UPDATE`: under READ COMMITTED a row another process changed
  meanwhile is waited for and read in its newest version), then an `INSERT ... ON CONFLICT
  DO UPDATE ... WHERE allowed RETURNING` spends the budget only if the newest TAT allows it.
  Two processes racing on one key queue on the row lock: the second decides on what the
  first wrote, so no more calls are admitted than the rule allows. A key's first row born in
  a race is the primary key's conflict, decided by ON CONFLICT on the winner's row.
- Rule 2 (refusals change nothing, exact wait): a refused call updates no row, and its wait
  is computed in Python from the TAT the statement locked, by the memory store's formula
  (`_over`), so the two stores answer the same waits for the same calls. The one case where
  the locked read saw no row but the insert met one (a row committed after the statement's
  snapshot) has no TAT to compute from: the statement is run again, and the second run's
  snapshot sees that row (at most ATTEMPTS runs; then the limiter fails open on the error).
- Rule 3: the database reads no clock: `now` is the caller's, in every comparison.
- Rule 4 (bounded): rows whose TAT passed more than `purge_every` seconds ago hold nothing;
  at most once per `purge_every` seconds of the callers' clock per store, an acquire first
  deletes up to `purge_batch` of them (`FOR UPDATE SKIP LOCKED`: never waits on a busy key).
  The margin of `purge_every` keeps a row a little longer than it matters, so a process whose
  clock runs ahead of another's does not purge a budget the other still counts. The table
  holds the keys active within one capacity plus two purge periods. No index on `tat`: the
  purge scans the (small) table, and every acquire stays a HOT update.

Each acquire takes one connection of the shared pool for one statement; there is no timeout
of its own (the pool's applies): the database is the adapter's own store, so a request that
cannot reach it cannot book either, and under load a short timeout would fail open exactly
when a flood is to be limited.

    limits = PostgresRateLimitStore(db)                # over a shared PostgresDatabase
"""

from __future__ import annotations

from typing import Any

from adapter.stores.postgres.database import PostgresDatabase

# The memory store's float slack: N calls of P/N each fit in P exactly.
SLACK = 1e-9
ATTEMPTS = 3
PURGE_EVERY = 60.0
PURGE_BATCH = 10_000

# (spent, prior): the new TAT if this call was admitted, the TAT it was decided on if the
# row was visible. `after_prior` makes the insert read the locked CTE first (Rule 1).
_ACQUIRE = """
WITH prior AS (
    SELECT tat FROM rate_limit_budgets WHERE key = %(key)s FOR UPDATE
), spent AS (
    INSERT INTO rate_limit_budgets AS b (key, tat)
    SELECT %(key)s, %(now)s + %(interval)s
    FROM (SELECT count(*) FROM prior) AS after_prior
    WHERE %(now)s + %(interval)s - %(now)s - %(capacity)s <= %(slack)s
    ON CONFLICT (key) DO UPDATE SET tat = greatest(b.tat, %(now)s) + %(interval)s
    WHERE greatest(b.tat, %(now)s) + %(interval)s - %(now)s - %(capacity)s <= %(slack)s
    RETURNING b.tat
)
SELECT (SELECT tat FROM spent), (SELECT tat FROM prior)
"""
_PURGE = """
DELETE FROM rate_limit_budgets WHERE key = ANY(ARRAY(
    SELECT key FROM rate_limit_budgets WHERE tat < %s LIMIT %s FOR UPDATE SKIP LOCKED))
"""


def _over(tat: float, now: float, interval: float, capacity: float) -> float:
    """How far past its capacity a call at `now` would take the key (the memory store's
    arithmetic, step for step)."""
    start = tat if tat > now else now
    return start + interval - now - capacity


class PostgresRateLimitStore:
    def __init__(self, database: PostgresDatabase, *, purge_every: float = PURGE_EVERY,
                 purge_batch: int = PURGE_BATCH, owns_database: bool = False) -> None:
        if purge_every <= 0 or purge_batch < 1:
            raise ValueError("purge_every must be > 0 and purge_batch >= 1")
        self.database = database
        self._purge_every = purge_every
        self._purge_batch = purge_batch
        self._purged_at = float("-inf")
        self._owns = owns_database

    @classmethod
    async def open(cls, url: str, **options: Any) -> PostgresRateLimitStore:
        store_options = {k: options.pop(k) for k in ("purge_every", "purge_batch")
                         if k in options}
        return cls(await PostgresDatabase.open(url, **options), owns_database=True,
                   **store_options)

    async def acquire(self, key: str, *, now: float, interval: float,
                      capacity: float) -> float:
        params = {"key": key, "now": now, "interval": interval, "capacity": capacity,
                  "slack": SLACK}
        async with self.database.pool.connection() as conn:
            if now - self._purged_at >= self._purge_every:
                self._purged_at = now
                await conn.execute(_PURGE, (now - self._purge_every, self._purge_batch))
            for _ in range(ATTEMPTS):
                cur = await conn.execute(_ACQUIRE, params)
                row = await cur.fetchone()
                assert row is not None
                spent, prior = row
                if spent is not None:
                    return 0.0
                if prior is not None:
                    return _over(float(prior), now, interval, capacity)
                rested = _over(now, now, interval, capacity)
                if rested > SLACK:  # refused on a rested budget: no row was even tried
                    return rested
                # Refused on a row born after this statement's snapshot: run it again.
        raise RuntimeError(f"rate-limit budget {key!r} changed under {ATTEMPTS} attempts")

    async def rows(self) -> int:
        """How many budgets the table holds (tests; an operator's look at Rule 4)."""
        async with self.database.pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM rate_limit_budgets")
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def aclose(self) -> None:
        if self._owns:
            await self.database.aclose()
