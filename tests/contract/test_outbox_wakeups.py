"""Contract of the outbox wake-ups (`adapter.ports.outbox.OutboxWakeups`, Rule 4), in one
process (memory) and across stores on one database (PostgreSQL LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from adapter.model import PaymentStatus
from adapter.ports.idempotency import Outcome
from adapter.stores.memory import MemoryOutboxWakeups
from adapter.stores.postgres import PostgresOutboxWakeups, PostgresStore
from tests.contract.conftest import T0
from tests.contract.values import key_for, payment
from tests.harness.postgres import fresh_database_url

# A wake-up must come well before this: a missing one fails the test here instead of
# returning at the long wait timeout below.
WITHIN = 10.0
LONG = 60.0


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database_url() as value:
        yield value


def test_a_poke_wakes_the_next_wait_once() -> None:
    """Rule 4: a poke makes the next wait return; the one after it waits its timeout."""
    async def scenario() -> None:
        w = MemoryOutboxWakeups()
        w.poke()
        await asyncio.wait_for(w.wait(LONG), WITHIN)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(w.wait(LONG), 0.2)
        await w.wait(0.01)  # nothing announced: returns at its own timeout
        await w.aclose()

    asyncio.run(scenario())


def test_a_booking_on_one_store_wakes_a_listener_on_another(url: str) -> None:
    """Rule 4 across processes: an event appended through store A (its own pool) wakes the
    wake-ups listening through store B's database, after A's statement committed."""
    async def scenario() -> None:
        a = await PostgresStore.open(url, pool_size=2)
        b = await PostgresStore.open(url, pool_size=2)
        w = await PostgresOutboxWakeups.start(b.database)
        try:
            await asyncio.wait_for(w.listening.wait(), WITHIN)
            await w.wait(0)  # the wake-up every (re)connection gives
            with pytest.raises(TimeoutError):  # nothing appended: no wake-up
                await asyncio.wait_for(w.wait(LONG), 0.2)
            p = payment()
            await a.journal.claim(key_for(p), p)
            event = await a.journal.record(p.transition(PaymentStatus.BOOKED, T0),
                                           expected=PaymentStatus.ACCEPTED, outcome=Outcome())
            assert event is not None
            await asyncio.wait_for(w.wait(LONG), WITHIN)
            assert [e.seq for e in await b.outbox.since(0, 10)] == [event.seq]
        finally:
            await w.aclose()
            await a.aclose()
            await b.aclose()

    asyncio.run(scenario())


def test_a_listener_on_another_schema_is_not_woken(url: str) -> None:
    """notify.py Rule 1: the channel is per schema, so another schema's bookings (another
    adapter on the same server) wake nobody here."""
    with fresh_database_url() as other:
        async def scenario() -> None:
            a = await PostgresStore.open(other, pool_size=2)
            b = await PostgresStore.open(url, pool_size=2)
            w = await PostgresOutboxWakeups.start(b.database)
            try:
                await asyncio.wait_for(w.listening.wait(), WITHIN)
                await w.wait(0)
                p = payment()
                await a.journal.claim(key_for(p), p)
                await a.journal.record(p.transition(PaymentStatus.BOOKED, T0),
                                       expected=PaymentStatus.ACCEPTED, outcome=Outcome())
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(w.wait(LONG), 0.5)
            finally:
                await w.aclose()
                await a.aclose()
                await b.aclose()

        asyncio.run(scenario())
