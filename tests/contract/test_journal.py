"""Contract of the payment-journal port (`adapter.ports.journal`), on every backend."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest

from adapter.model import PaymentStatus
from adapter.ports.idempotency import KeyState, Outcome
from adapter.ports.journal import StaleWrite
from adapter.ports.storage import PaymentStorage
from tests.contract.conftest import T0, run_with, run_with_two
from tests.contract.values import key_for, payment

Opener = Callable[[], PaymentStorage]
LATER = T0 + timedelta(seconds=5)


def test_claim_journals_the_payment_with_its_key_and_two_history_rows(
        open_storage: Opener) -> None:
    """Rule 1: the payment ACCEPTED, RECEIVED then ACCEPTED in its history, its key in
    progress, all from one claim."""
    async def scenario(s: PaymentStorage) -> None:
        p = payment()
        record = key_for(p)
        assert await s.journal.claim(record, p) == record
        assert await s.journal.get(p.payment_id) == p
        assert [(h.status, h.at, h.reason_code) for h in await s.journal.history(p.payment_id)] \
            == [(PaymentStatus.RECEIVED, p.created_at, None),
                (PaymentStatus.ACCEPTED, p.updated_at, None)]
        assert await s.keys.get("partner", "key-1") == record

    run_with(open_storage, scenario)


def test_a_second_claim_of_a_key_returns_the_first_and_writes_nothing(
        open_storage: Opener) -> None:
    """Rule 1: the loser of a key gets the winner's record; its payment is not journalled."""
    async def scenario(s: PaymentStorage) -> None:
        first, second = payment(), payment()
        results = await asyncio.gather(s.journal.claim(key_for(first), first),
                                       s.journal.claim(key_for(second), second))
        assert [r.payment_id for r in results] == [first.payment_id, first.payment_id]
        assert await s.journal.get(second.payment_id) is None
        assert await s.journal.history(second.payment_id) == []

    run_with(open_storage, scenario)


def test_record_moves_the_payment_and_writes_history_key_outcome_and_event_together(
        open_storage: Opener) -> None:
    """Rule 2: one record call updates the payment, appends its history row, completes the
    key with the outcome and returns the outbox event with its seq."""
    async def scenario(s: PaymentStorage) -> None:
        p = payment()
        await s.journal.claim(key_for(p), p)
        head = await s.outbox.last_seq()
        rejected = p.transition(PaymentStatus.REJECTED, LATER, reason_code="INSUFFICIENT_FUNDS",
                                reason_message="not enough money")
        event = await s.journal.record(rejected, expected=PaymentStatus.ACCEPTED,
                                       outcome=Outcome(error_code="INSUFFICIENT_FUNDS",
                                                       error_message="not enough money"))
        assert event is not None and event.seq == head + 1
        assert (event.type.value, event.payment_id, event.reason_code, event.occurred_at) == (
            "rejected", p.payment_id, "INSUFFICIENT_FUNDS", LATER)
        assert await s.outbox.since(head, 10) == [event]
        assert await s.journal.get(p.payment_id) == rejected
        assert [(h.status, h.reason_code) for h in await s.journal.history(p.payment_id)][-1] \
            == (PaymentStatus.REJECTED, "INSUFFICIENT_FUNDS")
        key = await s.keys.get("partner", "key-1")
        assert key is not None
        assert (key.state, key.error_code, key.error_message) == (
            KeyState.COMPLETED, "INSUFFICIENT_FUNDS", "not enough money")

    run_with(open_storage, scenario)


def test_a_status_without_an_event_writes_none_and_no_outcome_leaves_the_key(
        open_storage: Opener) -> None:
    """IN_DOUBT has no event; without an outcome the key stays in progress."""
    async def scenario(s: PaymentStorage) -> None:
        p = payment()
        record = key_for(p)
        await s.journal.claim(record, p)
        head = await s.outbox.last_seq()
        in_doubt = p.transition(PaymentStatus.IN_DOUBT, LATER, reason_code="CORE_TIMEOUT")
        assert await s.journal.record(in_doubt, expected=PaymentStatus.ACCEPTED) is None
        assert await s.outbox.last_seq() == head
        assert await s.keys.get("partner", "key-1") == record
        assert (await s.journal.get(p.payment_id)) == in_doubt

    run_with(open_storage, scenario)


def test_a_stale_record_raises_and_changes_nothing(open_storage: Opener) -> None:
    """Rule 3: `expected` no longer matches (or no such payment): StaleWrite, and the
    payment, its history, its key and the outbox are as before."""
    async def scenario(s: PaymentStorage) -> None:
        p = payment()
        await s.journal.claim(key_for(p), p)
        booked = p.transition(PaymentStatus.BOOKED, LATER, core_transaction_id="T1")
        await s.journal.record(booked, expected=PaymentStatus.ACCEPTED, outcome=Outcome())
        before = (await s.journal.get(p.payment_id), await s.journal.history(p.payment_id),
                  await s.keys.get("partner", "key-1"), await s.outbox.last_seq())
        rejected = p.transition(PaymentStatus.REJECTED, LATER + timedelta(seconds=1))
        with pytest.raises(StaleWrite):
            await s.journal.record(rejected, expected=PaymentStatus.ACCEPTED,
                                   outcome=Outcome(error_code="X", error_message="x"))
        after = (await s.journal.get(p.payment_id), await s.journal.history(p.payment_id),
                 await s.keys.get("partner", "key-1"), await s.outbox.last_seq())
        assert after == before
        ghost = payment()
        with pytest.raises(StaleWrite):
            await s.journal.record(ghost.transition(PaymentStatus.BOOKED, LATER),
                                   expected=PaymentStatus.ACCEPTED)
        assert await s.journal.get(ghost.payment_id) is None

    run_with(open_storage, scenario)


def test_two_concurrent_settlements_record_one_outcome(open_storage: Opener) -> None:
    """Rule 3 under concurrency: of two records from the same expected state one applies,
    the other raises StaleWrite; one history row and one event."""
    async def scenario(s: PaymentStorage) -> None:
        p = payment()
        await s.journal.claim(key_for(p), p)
        head = await s.outbox.last_seq()
        results = await asyncio.gather(
            s.journal.record(p.transition(PaymentStatus.BOOKED, LATER),
                             expected=PaymentStatus.ACCEPTED, outcome=Outcome()),
            s.journal.record(p.transition(PaymentStatus.REJECTED, LATER),
                             expected=PaymentStatus.ACCEPTED, outcome=Outcome()),
            return_exceptions=True)
        # Either may win (on PostgreSQL the two run on two connections): exactly one does.
        stale = [isinstance(r, StaleWrite) for r in results]
        assert sorted(stale) == [False, True], results
        winner = PaymentStatus.REJECTED if stale[0] else PaymentStatus.BOOKED
        assert [h.status for h in await s.journal.history(p.payment_id)] == [
            PaymentStatus.RECEIVED, PaymentStatus.ACCEPTED, winner]
        assert [e.type.value for e in await s.outbox.since(head, 10)] == [
            {PaymentStatus.BOOKED: "booked", PaymentStatus.REJECTED: "rejected"}[winner]]
        stored = await s.journal.get(p.payment_id)
        assert stored is not None and stored.status is winner

    run_with(open_storage, scenario)


def test_unresolved_returns_in_doubt_and_old_accepted_payments_oldest_first(
        open_storage: Opener) -> None:
    """Rule 5: IN_DOUBT ones whatever their age, ACCEPTED ones updated at or before the
    cut-off, nothing settled, oldest update first."""
    async def scenario(s: PaymentStorage) -> list[str]:
        cutoff = T0 - timedelta(seconds=30)
        ages = {"old-accepted": 60, "at-cutoff": 30, "young-accepted": 1, "in-doubt": 1,
                "booked": 60, "rejected": 60, "reversed": 60}
        names = {}
        for name, age in ages.items():
            p = payment(T0 - timedelta(seconds=age))
            await s.journal.claim(key_for(p, name), p)
            names[p.payment_id] = name
            if name == "reversed":
                p = p.transition(PaymentStatus.IN_DOUBT, p.updated_at)
                await s.journal.record(p, expected=PaymentStatus.ACCEPTED)
                await s.journal.record(p.transition(PaymentStatus.REVERSED, p.updated_at),
                                       expected=PaymentStatus.IN_DOUBT)
            target = {"in-doubt": PaymentStatus.IN_DOUBT, "booked": PaymentStatus.BOOKED,
                      "rejected": PaymentStatus.REJECTED}.get(name)
            if target is not None:
                await s.journal.record(p.transition(target, p.updated_at),
                                       expected=PaymentStatus.ACCEPTED)
        return [names[p.payment_id] for p in await s.journal.unresolved(cutoff)]

    assert run_with(open_storage, scenario) == ["old-accepted", "at-cutoff", "in-doubt"]


def test_a_claim_cancelled_before_it_is_written_leaves_nothing(open_storage: Opener) -> None:
    """A caller cancelled while its claim waits to be written journals no payment and no
    key (group commit Rule 3, and its in-memory equivalent)."""
    async def scenario(s: PaymentStorage) -> None:
        p = payment()
        task = asyncio.ensure_future(s.journal.claim(key_for(p), p))
        await asyncio.sleep(0)  # the claim is queued, not yet written
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        kept = payment()
        await s.journal.claim(key_for(kept, "key-2"), kept)  # the store still works
        assert await s.journal.get(p.payment_id) is None
        assert await s.keys.get("partner", "key-1") is None

    run_with(open_storage, scenario)


def test_the_journal_survives_closing_the_store(open_storage: Opener) -> None:
    """A payment, its history and its outcome read back the same after a reopen."""
    p = payment()
    booked = p.transition(PaymentStatus.BOOKED, LATER, core_transaction_id="T9",
                          booked_at=LATER)

    async def write(s: PaymentStorage) -> object:
        await s.journal.claim(key_for(p), p)
        await s.journal.record(booked, expected=PaymentStatus.ACCEPTED, outcome=Outcome())
        return await s.journal.history(p.payment_id)

    async def read(s: PaymentStorage) -> object:
        return await s.journal.get(p.payment_id), await s.journal.history(p.payment_id)

    history = run_with(open_storage, write)
    assert run_with(open_storage, read) == (booked, history)


def test_two_stores_racing_to_claim_a_key_journal_one_payment(open_storage: Opener) -> None:
    """Rule 1 across connections: for each of 10 keys, two stores on one database claim it at
    once with different payments; both get the same winner, and only it is journalled."""
    async def scenario(a: PaymentStorage, b: PaymentStorage) -> None:
        for i in range(10):
            first, second = payment(), payment()
            got = await asyncio.gather(a.journal.claim(key_for(first, f"race-{i}"), first),
                                       b.journal.claim(key_for(second, f"race-{i}"), second))
            assert got[0].payment_id == got[1].payment_id
            winner, loser = (first, second) if got[0].payment_id == first.payment_id \
                else (second, first)
            assert await a.journal.get(winner.payment_id) == winner
            assert await b.journal.get(loser.payment_id) is None
            assert await b.journal.history(loser.payment_id) == []

    run_with_two(open_storage, scenario)


def test_two_stores_racing_to_settle_a_payment_record_one_outcome(
        open_storage: Opener) -> None:
    """Rule 3 across connections: two stores record different outcomes from ACCEPTED at
    once; one applies, the other is StaleWrite; one history row, one event, per payment."""
    async def scenario(a: PaymentStorage, b: PaymentStorage) -> None:
        for i in range(10):
            p = payment()
            await a.journal.claim(key_for(p, f"race-{i}"), p)
            head = await a.outbox.last_seq()
            results = await asyncio.gather(
                a.journal.record(p.transition(PaymentStatus.BOOKED, LATER),
                                 expected=PaymentStatus.ACCEPTED, outcome=Outcome()),
                b.journal.record(p.transition(PaymentStatus.REJECTED, LATER),
                                 expected=PaymentStatus.ACCEPTED, outcome=Outcome()),
                return_exceptions=True)
            assert sorted(type(r).__name__ for r in results) == ["StaleWrite",
                                                                 "TransactionEvent"]
            [won] = [r for r in results if not isinstance(r, StaleWrite)]
            history = await b.journal.history(p.payment_id)
            assert [h.status for h in history][:2] == [PaymentStatus.RECEIVED,
                                                       PaymentStatus.ACCEPTED]
            assert len(history) == 3 and history[2].status.value == won.type.value
            assert await a.outbox.since(head, 10) == [won]

    run_with_two(open_storage, scenario)
