"""The PostgreSQL store's own queries against a partitioned journal: a one-payment lookup
reads one month's partition, the resolver's query reads the partial indexes, and the
adapter makes the partitions ahead itself (at open, and again as the months turn)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg import sql as sql_

from adapter.model import PaymentStatus
from adapter.model.payments import Payment
from adapter.stores.postgres import PostgresDatabase, PostgresStore
from adapter.stores.postgres.journal import GET_SQL, HISTORY_SQL, UNRESOLVED_SQL
from tests.contract.values import key_for, payment
from tests.harness.postgres import fresh_database_url

NOW = datetime(2026, 12, 1, 22, 0, tzinfo=UTC)
MONTHS = ("202612", "202701", "202702")


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database_url() as value:
        yield value


def uuid7_at(moment: datetime) -> str:
    ms = int(moment.timestamp() * 1000)
    return str(uuid.UUID(int=(ms << 80) | (0x7 << 76) | (0b10 << 62) | uuid.uuid4().int
                         % (1 << 62)))


def payment_in(moment: datetime) -> Payment:
    return payment().model_copy(update={"payment_id": uuid7_at(moment)})


async def plan(store: PostgresStore, sql: str, args: tuple[Any, ...], *,
               generic: bool = False) -> str:
    async with store.database.pool.connection() as conn:
        await conn.execute("SET enable_seqscan = off")  # tiny tables: see what CAN be used
        if generic:  # what a statement psycopg has prepared (5th execution on) may run
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            await conn.execute("PREPARE planned AS " + sql.replace("%s", "$1"))
            cur = await conn.execute(sql_.SQL(
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE planned ({})"
            ).format(sql_.SQL(", ").join(sql_.Literal(a) for a in args)))
        else:
            cur = await conn.execute("EXPLAIN (COSTS OFF) " + sql, args)
        text = "\n".join(str(r[0]) for r in await cur.fetchall())
        await conn.execute("DEALLOCATE ALL")
        await conn.execute("RESET ALL")
    return text


def test_a_one_payment_lookup_and_its_history_read_one_partition(url: str) -> None:
    """A payment of January 2027 is read from payments_p202701 and its history from
    payment_status_history_p202701 alone, planned with the id or prepared (pruned at run
    time), through the primary key."""
    async def scenario() -> list[str]:
        store = await PostgresStore.open(url, clock=lambda: NOW, pool_size=2)
        try:
            for month in (NOW, NOW + timedelta(days=31), NOW + timedelta(days=62)):
                p = payment_in(month)
                await store.journal.claim(key_for(p, p.payment_id), p)
            p = payment_in(datetime(2027, 1, 15, 12, tzinfo=UTC))
            await store.journal.claim(key_for(p), p)
            pid = uuid.UUID(p.payment_id)
            return [await plan(store, sql, (pid,), generic=generic)
                    for sql in (GET_SQL, HISTORY_SQL) for generic in (False, True)]
        finally:
            await store.aclose()

    get_custom, get_generic, history_custom, history_generic = asyncio.run(scenario())
    for text, table in ((get_custom, "payments"), (get_generic, "payments"),
                        (history_custom, "payment_status_history"),
                        (history_generic, "payment_status_history")):
        assert f"{table}_p202701_pkey" in text, text
        assert "Seq Scan" not in text, text
        for other in ("202612", "202702"):
            assert f"{table}_p{other}" not in text, text
    assert "Subplans Removed: 2" in get_generic and "Subplans Removed: 2" in history_generic


def test_the_resolver_query_reads_only_the_partial_index_of_each_partition(url: str) -> None:
    """Rule 5's query: every partition answers it from its partial index on updated_at,
    never a scan of the journal; and it returns what the contract says."""
    async def scenario() -> tuple[str, list[str]]:
        store = await PostgresStore.open(url, clock=lambda: NOW, pool_size=2)
        try:
            old = payment_in(NOW)
            await store.journal.claim(key_for(old, "old"), old)
            booked = payment_in(NOW + timedelta(days=31))
            await store.journal.claim(key_for(booked, "booked"), booked)
            await store.journal.record(booked.transition(PaymentStatus.BOOKED, booked.updated_at),
                                       expected=PaymentStatus.ACCEPTED)
            cutoff = old.updated_at + timedelta(seconds=1)
            found = [p.payment_id for p in await store.journal.unresolved(cutoff)]
            return await plan(store, UNRESOLVED_SQL, (cutoff,)), found
        finally:
            await store.aclose()

    text, found = asyncio.run(scenario())
    for month in MONTHS:
        assert f"payments_p{month}_updated_at_idx" in text, text
    assert "Seq Scan" not in text and "_pkey" not in text, text
    assert len(found) == 1


def test_the_adapter_makes_partitions_ahead_at_open_and_as_months_turn(url: str) -> None:
    """Open makes this month and two ahead; when the clock reaches February, the periodic
    maintenance makes March and April without anyone asking."""
    clock = {"now": NOW}

    async def names(db: PostgresDatabase) -> list[str]:
        async with db.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = 'payments'::regclass ORDER BY 1")
            return [r[0] for r in await cur.fetchall()]

    async def scenario() -> tuple[list[str], list[str]]:
        db = await PostgresDatabase.open(url, clock=lambda: clock["now"], pool_size=2,
                                         maintenance_interval=0.05)
        try:
            at_open = await names(db)
            clock["now"] = datetime(2027, 2, 3, tzinfo=UTC)
            deadline = time.monotonic() + 20
            while "payments_p202704" not in await names(db):
                assert time.monotonic() < deadline, "maintenance never made April"
                await asyncio.sleep(0.05)  # polling a condition, with a deadline
            return at_open, await names(db)
        finally:
            await db.aclose()

    at_open, later = asyncio.run(scenario())
    assert at_open == [f"payments_p{m}" for m in MONTHS]
    assert later == [f"payments_p{m}" for m in (*MONTHS, "202703", "202704")]
