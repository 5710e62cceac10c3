"""The journal benchmark on PostgreSQL: psycopg 3 (the store the adapter ships) against
asyncpg running the very same statements, with the SQLite store as the same run's baseline.

    python -m bench.storebench --compare [--database-url URL] [--payments 5000] [--rounds 3]

What this module owns: the asyncpg variant (`AsyncpgStore`, benchmark only: the product
never imports asyncpg), the statement translation (psycopg's `%(name)s` / `%s` to asyncpg's
`$n`, so both drivers send identical SQL), and the comparison loop. Each round runs every
backend once, in an order that rotates between rounds, each in a fresh schema; a round
measures `payments` payments after a warm-up (statements prepared, pool full), with
`concurrency` in flight on one uvloop loop and `pool_size` connections. Per backend it
reports payments per second, this process's CPU per payment, and the CPU per payment of the
PostgreSQL backends serving its own connections (read from /proc by their pids, so other
users of a shared server are not counted). Figures are medians over rounds, and ratios to the
same run's SQLite and psycopg figures.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from adapter.model.events import TransactionEvent
from adapter.model.payments import Payment
from adapter.model.status import PaymentStatus
from adapter.ports.idempotency import IdempotencyRecord, Outcome
from adapter.ports.journal import StaleWrite
from adapter.stores.postgres import PostgresDatabase, PostgresStore, migrate, partitions
from adapter.stores.postgres import idempotency as pg_keys
from adapter.stores.postgres import journal as pg_journal
from adapter.stores.sqlite import SqliteStore
from bench.procstats import cpu_seconds

_NAMED = re.compile(r"%\((\w+)\)s")


def to_dollar(statement: str) -> tuple[str, list[str]]:
    """`... %(a)s ... %(b)s ... %(a)s` -> (`... $1 ... $2 ... $1`, ["a", "b"])."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    return _NAMED.sub(number, statement), names


def positional(statement: str) -> str:
    count = iter(range(1, 100))
    return re.sub(r"%s", lambda _: f"${next(count)}", statement)


class AsyncpgStore:
    """keys.get, journal.claim and journal.record on asyncpg, with the psycopg store's SQL."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.keys = self
        self.journal = self
        self._claim_sql, self._claim_names = to_dollar(pg_journal.CLAIM_SQL)
        self._record = {shape: to_dollar(text) for shape, text in pg_journal.RECORD_SQL.items()}
        self._get_sql = positional(pg_keys.SELECT_SQL)

    async def get(self, caller_id: str, key: str) -> IdempotencyRecord | None:
        row = await self.pool.fetchrow(self._get_sql, caller_id, key)
        return None if row is None else pg_keys.record_of(tuple(row))

    async def claim(self, record: IdempotencyRecord, payment: Payment) -> IdempotencyRecord:
        values = {
            "caller": record.caller_id, "key": record.key, "fingerprint": record.fingerprint,
            "state": record.state.value, "pid": uuid.UUID(payment.payment_id),
            "error_code": record.error_code, "error_message": record.error_message,
            "created": record.created_at, "locked_until": record.locked_until,
            "expires": record.expires_at, "ref": payment.core_reference,
            "status": payment.status.value, "updated": payment.updated_at,
            "body": payment.model_dump_json()}
        won = await self.pool.fetchval(self._claim_sql,
                                       *(values[n] for n in self._claim_names))
        if won:
            return record
        existing = await self.get(record.caller_id, record.key)
        assert existing is not None
        return existing

    async def record(self, payment: Payment, *, expected: PaymentStatus,
                     outcome: Outcome | None = None) -> TransactionEvent | None:
        event = TransactionEvent.for_payment(payment)
        values: dict[str, object] = {
            "pid": uuid.UUID(payment.payment_id), "status": payment.status.value,
            "at": payment.updated_at, "body": payment.model_dump_json(),
            "expected": expected.value, "reason": payment.reason_code,
            "error_code": None if outcome is None else outcome.error_code,
            "error_message": None if outcome is None else outcome.error_message,
            "event": None if event is None else event.model_dump_json()}
        statement, names = self._record[(outcome is not None, event is not None)]
        row = await self.pool.fetchrow(statement, *(values[n] for n in names))
        if row is None or row[0] != 1:
            raise StaleWrite(payment.payment_id)
        return None if event is None else event.model_copy(update={"seq": int(row[1])})

    async def aclose(self) -> None:
        await self.pool.close()


@dataclass
class Figures:
    backend: str
    rate: float  # payments per second
    client_us: float  # this process's CPU per payment
    server_us: float | None  # the PostgreSQL backends' CPU per payment


def _with_schema(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _without_query(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(query=""))


class _Schema:
    """A fresh schema, migrated and partitioned, dropped on exit."""

    def __init__(self, url: str) -> None:
        self.base = url
        self.name = f"storebench_{uuid.uuid4().hex[:10]}"
        self.url = _with_schema(url, self.name)

    def __enter__(self) -> _Schema:
        with psycopg.connect(self.base, autocommit=True) as con:
            con.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(self.name)))
        migrate.migrate(self.url)
        partitions.ensure(self.url, time_now())
        return self

    def __exit__(self, *exc: object) -> None:
        with psycopg.connect(self.base, autocommit=True) as con:
            con.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(self.name)))


def time_now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def _measure(store: Any, one: Callable[[Any], Awaitable[None]], payments: int,
                   concurrency: int, pids: list[int]) -> tuple[float, float, float | None]:
    gate = asyncio.Semaphore(concurrency)

    async def bounded() -> None:
        async with gate:
            await one(store)

    await asyncio.gather(*(bounded() for _ in range(min(500, payments))))  # warm-up
    server0 = _server_cpu(pids)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(bounded() for _ in range(payments)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    server1 = _server_cpu(pids)
    server = None if server0 is None or server1 is None else server1 - server0
    return wall, cpu, server


def _server_cpu(pids: list[int]) -> float | None:
    """CPU seconds of the given PostgreSQL backends together; None if any is unreadable."""
    readings = [cpu_seconds(p) for p in pids]
    if not pids or any(r is None for r in readings):
        return None
    return sum(r for r in readings if r is not None)


async def _round(backend: str, url: str, args: Any,
                 one: Callable[[Any], Awaitable[None]]) -> Figures:
    pids: list[int] = []
    if backend == "sqlite":
        workdir = Path(tempfile.mkdtemp(prefix="storebench-"))
        store: Any = SqliteStore(workdir / "adapter.db", linger=args.linger_ms / 1000)
        try:
            wall, cpu, server = await _measure(store, one, args.payments, args.concurrency,
                                               pids)
        finally:
            await store.aclose()
            shutil.rmtree(workdir, ignore_errors=True)
        return Figures(backend, args.payments / wall, 1e6 * cpu / args.payments, None)
    with _Schema(url) as schema:
        if backend == "psycopg":
            db = await PostgresDatabase.open(schema.url, pool_size=args.pool_size)
            store = PostgresStore(db, owns_database=True)
            # Hold every connection at once (the pool grows to its size), ask each its pid.
            conns = [await db.pool.getconn() for _ in range(args.pool_size)]
            for conn in conns:
                pids.append(conn.info.backend_pid)
            for conn in conns:
                await db.pool.putconn(conn)
        else:
            import asyncpg

            pool = await asyncpg.create_pool(
                _without_query(url), min_size=args.pool_size, max_size=args.pool_size,
                server_settings={"search_path": schema.name, "timezone": "UTC"})
            store = AsyncpgStore(pool)
            pids = await _asyncpg_pids(pool, args.pool_size)
        try:
            wall, cpu, server = await _measure(store, one, args.payments, args.concurrency,
                                               pids)
        finally:
            await store.aclose()
    return Figures(backend, args.payments / wall, 1e6 * cpu / args.payments,
                   None if server is None else 1e6 * server / args.payments)


async def _asyncpg_pids(pool: Any, size: int) -> list[int]:
    """Every pooled connection's backend pid: hold them all at once, ask each."""
    held = [await pool.acquire() for _ in range(size)]
    try:
        return [c.get_server_pid() for c in held]
    finally:
        for c in held:
            await pool.release(c)


def compare(args: Any, one: Callable[[Any], Awaitable[None]]) -> list[Figures]:
    import uvloop

    backends = ["sqlite", "psycopg", "asyncpg"]
    results: dict[str, list[Figures]] = {b: [] for b in backends}

    async def main() -> None:
        for r in range(args.rounds):
            order = backends[r % 3:] + backends[:r % 3]
            for backend in order:
                figures = await _round(backend, args.database_url, args, one)
                results[backend].append(figures)
                server = "" if figures.server_us is None else \
                    f", PostgreSQL {figures.server_us:5.0f} us CPU per payment"
                print(f"round {r + 1} {backend:<8} {figures.rate:7.0f} payments/s, "
                      f"{figures.client_us:5.0f} us CPU per payment here{server}", flush=True)

    uvloop.run(main())
    medians = []
    for backend in backends:
        runs = results[backend]
        servers = [f.server_us for f in runs if f.server_us is not None]
        medians.append(Figures(backend, statistics.median(f.rate for f in runs),
                               statistics.median(f.client_us for f in runs),
                               statistics.median(servers) if servers else None))
    base = {f.backend: f for f in medians}
    print(f"medians of {args.rounds} rounds, {args.payments} payments each, concurrency "
          f"{args.concurrency}, {args.pool_size} connections:")
    for f in medians:
        server = "-" if f.server_us is None else f"{f.server_us:.0f}"
        total = f.client_us + (f.server_us or 0)
        print(f"  {f.backend:<8} {f.rate:7.0f}/s ({f.rate / base['sqlite'].rate:.2f}x sqlite, "
              f"{f.rate / base['psycopg'].rate:.2f}x psycopg); CPU per payment: here "
              f"{f.client_us:.0f} us, PostgreSQL {server} us, together {total:.0f} us "
              f"({total / (base['psycopg'].client_us + (base['psycopg'].server_us or 0)):.2f}x"
              " psycopg)")
    return medians
