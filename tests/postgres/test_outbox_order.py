"""The outbox's read order on PostgreSQL: a reader never steps over an event whose seq was
drawn before a later one's but is committed after it (outbox.py: writers share the append
lock until commit, readers take it alone before they read)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from adapter.model import PaymentStatus
from adapter.model.events import TransactionEvent
from adapter.ports.idempotency import Outcome
from adapter.stores.postgres import PostgresStore
from adapter.stores.postgres.outbox import APPEND_LOCK
from tests.contract.conftest import T0
from tests.contract.values import key_for, payment
from tests.harness.postgres import fresh_database_url


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database_url() as value:
        yield value


async def book(store: PostgresStore, key: str) -> TransactionEvent:
    p = payment()
    await store.journal.claim(key_for(p, key), p)
    event = await store.journal.record(p.transition(PaymentStatus.BOOKED, T0),
                                       expected=PaymentStatus.ACCEPTED, outcome=Outcome())
    assert event is not None
    return event


def test_a_reader_waits_for_an_earlier_seq_still_being_committed(url: str) -> None:
    """Seq 2 is drawn by a transaction still open while seq 3 commits: `since(0)` waits for
    seq 2's commit and returns 1, 2, 3, never 1 and 3 (after which a cursor at 3 would lose
    2 for good)."""
    async def scenario() -> tuple[bool, list[int], list[int]]:
        store = await PostgresStore.open(url, pool_size=4)
        writer = await psycopg.AsyncConnection.connect(url)
        try:
            first = await book(store, "k1")
            late = TransactionEvent.for_payment(payment().transition(PaymentStatus.BOOKED, T0))
            assert late is not None
            await writer.execute(f"SELECT {APPEND_LOCK}")  # as `record` does, until commit
            cur = await writer.execute(
                "INSERT INTO outbox (payment_id, body) VALUES (%s, %s::jsonb) RETURNING seq",
                (uuid.UUID(late.payment_id), late.model_dump_json()))
            row = await cur.fetchone()
            assert row is not None and row[0] == first.seq + 1
            third = await book(store, "k3")  # commits while seq 2 is still open
            reader = asyncio.ensure_future(store.outbox.since(0, 10))
            deadline = time.monotonic() + 20
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as watch:
                # PostgreSQL signals no lock wait to another session: pg_locks polled, bounded.
                while True:  # until the reader is queued on the lock
                    cur = await watch.execute(  # this schema's outbox lock, not granted
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                        " AND NOT granted AND classid = 1869968482 AND objid::bigint ="
                        " (hashtext(current_schema())::bigint & 4294967295)")
                    waiting = await cur.fetchone()
                    if waiting and waiting[0] >= 1:
                        break
                    assert time.monotonic() < deadline, "the reader never waited"
                    await asyncio.sleep(0.01)
            blocked = not reader.done()
            await writer.commit()
            seen = [e.seq for e in await reader]
            return blocked, seen, [first.seq, row[0], third.seq]
        finally:
            await writer.close()
            await store.aclose()

    blocked, seen, written = asyncio.run(scenario())
    assert blocked
    assert seen == written == [1, 2, 3]
