"""Contract of the idempotency-key port (`adapter.ports.idempotency`), on every backend."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from adapter.model import PaymentStatus
from adapter.ports.idempotency import KeyState, Outcome
from adapter.ports.storage import PaymentStorage
from tests.contract.conftest import T0, run_with, run_with_two
from tests.contract.values import key_for, payment

Opener = Callable[[], PaymentStorage]


def test_a_claimed_key_reads_back_and_is_scoped_to_its_caller(open_storage: Opener) -> None:
    """The record written by claim is what get returns; another caller's same key is absent."""
    async def scenario(s: PaymentStorage) -> None:
        assert await s.keys.get("partner", "key-1") is None
        p = payment()
        record = key_for(p)
        await s.journal.claim(record, p)
        assert await s.keys.get("partner", "key-1") == record
        assert await s.keys.get("other", "key-1") is None
        assert await s.keys.get("partner", "key-2") is None

    run_with(open_storage, scenario)


def test_release_forgets_the_key_and_keeps_the_payment(open_storage: Opener) -> None:
    """A released key is gone (a retry may claim it anew); its payment stays journalled."""
    async def scenario(s: PaymentStorage) -> None:
        p = payment()
        await s.journal.claim(key_for(p), p)
        await s.keys.release("partner", "key-1")
        await s.keys.release("partner", "never-claimed")  # no error, nothing else touched
        assert await s.keys.get("partner", "key-1") is None
        assert (await s.journal.get(p.payment_id)) == p
        retry = payment()
        assert (await s.journal.claim(key_for(retry), retry)).payment_id == retry.payment_id

    run_with(open_storage, scenario)


def test_relock_takes_over_only_an_expired_in_progress_lock(open_storage: Opener) -> None:
    """Before the lock expires relock is refused; at and after expiry it succeeds once and
    moves the lock; a completed or unknown key is never relocked."""
    async def scenario(s: PaymentStorage) -> None:
        p = payment()
        record = key_for(p, locked_for=timedelta(seconds=20))
        await s.journal.claim(record, p)
        expiry = record.locked_until
        later = expiry + timedelta(seconds=30)
        assert await s.keys.relock("partner", "key-1", now=expiry - timedelta(microseconds=1),
                                   locked_until=later) is False
        assert (await s.keys.get("partner", "key-1")) == record
        assert await s.keys.relock("partner", "key-1", now=expiry, locked_until=later) is True
        got = await s.keys.get("partner", "key-1")
        assert got is not None and got.locked_until == later and got.state is KeyState.IN_PROGRESS
        # The new lock holds against the next taker until it expires in turn.
        assert await s.keys.relock("partner", "key-1", now=expiry,
                                   locked_until=later) is False
        assert await s.keys.relock("other", "key-1", now=later, locked_until=later) is False

        done = payment()
        await s.journal.claim(key_for(done, "key-2"), done)
        await s.journal.record(done.transition(PaymentStatus.BOOKED, T0),
                               expected=PaymentStatus.ACCEPTED, outcome=Outcome())
        assert await s.keys.relock("partner", "key-2", now=later + timedelta(days=1),
                                   locked_until=later) is False

    run_with(open_storage, scenario)


def test_of_two_concurrent_relocks_one_wins(open_storage: Opener) -> None:
    """Two takers of one expired lock at the same moment: exactly one gets it."""
    async def scenario(s: PaymentStorage) -> list[bool]:
        p = payment()
        record = key_for(p)
        await s.journal.claim(record, p)
        now = record.locked_until + timedelta(seconds=1)
        results = await asyncio.gather(*(
            s.keys.relock("partner", "key-1", now=now, locked_until=now + timedelta(seconds=i))
            for i in range(1, 6)))
        return sorted(results)

    assert run_with(open_storage, scenario) == [False, False, False, False, True]


def test_purge_deletes_only_completed_keys_expired_at_now(open_storage: Opener) -> None:
    """Completed keys at or past expiry go; a younger one and an in-progress one stay."""
    async def scenario(s: PaymentStorage) -> None:
        ttl = timedelta(hours=1)
        made = {}
        for name in ("completed-old", "completed-young", "in-progress-old"):
            p = payment()
            young = name == "completed-young"
            await s.journal.claim(key_for(p, name, ttl=ttl * (2 if young else 1)), p)
            if name.startswith("completed"):
                await s.journal.record(p.transition(PaymentStatus.BOOKED, T0),
                                       expected=PaymentStatus.ACCEPTED, outcome=Outcome())
            made[name] = p
        expiry = made["completed-old"].created_at + ttl
        assert await s.keys.purge_expired(expiry - timedelta(microseconds=1)) == 0
        assert await s.keys.purge_expired(expiry) == 1
        assert await s.keys.get("partner", "completed-old") is None
        assert await s.keys.get("partner", "completed-young") is not None
        in_progress = await s.keys.get("partner", "in-progress-old")
        assert in_progress is not None and in_progress.state is KeyState.IN_PROGRESS
        assert await s.keys.purge_expired(expiry) == 0
        assert (await s.journal.get(made["completed-old"].payment_id)) is not None

    run_with(open_storage, scenario)


def test_keys_survive_closing_the_store(open_storage: Opener) -> None:
    """What a closed store committed, the next one opened on the same data reads."""
    p = payment()
    record = key_for(p)

    async def write(s: PaymentStorage) -> None:
        await s.journal.claim(record, p)

    async def read(s: PaymentStorage) -> object:
        return await s.keys.get("partner", "key-1")

    run_with(open_storage, write)
    assert run_with(open_storage, read) == record


def test_two_stores_racing_for_expired_locks_take_each_once(open_storage: Opener) -> None:
    """Rule 2 across connections (two processes' stores on one database): for each of 10
    expired keys, both stores relock at once, three times each; exactly one relock wins."""
    async def scenario(a: PaymentStorage, b: PaymentStorage) -> list[int]:
        records = []
        for i in range(10):
            p = payment()
            records.append(key_for(p, f"race-{i}"))
            await a.journal.claim(records[-1], p)
        now = records[0].locked_until + timedelta(seconds=1)
        wins = []
        for r in records:
            results = await asyncio.gather(*(
                store.keys.relock("partner", r.key, now=now, locked_until=now + timedelta(
                    seconds=30)) for store in (a, b, a, b, a, b)))
            wins.append(sum(results))
        return wins

    assert run_with_two(open_storage, scenario) == [1] * 10
