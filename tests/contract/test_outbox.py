"""Contract of the event-outbox port (`adapter.ports.outbox`), on every backend."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from adapter.model import PaymentStatus
from adapter.model.events import TransactionEvent
from adapter.ports.idempotency import Outcome
from adapter.ports.storage import PaymentStorage
from tests.contract.conftest import T0, run_with
from tests.contract.values import key_for, payment

Opener = Callable[[], PaymentStorage]


async def _settle(s: PaymentStorage, target: PaymentStatus, key: str) -> TransactionEvent | None:
    p = payment()
    await s.journal.claim(key_for(p, key), p)
    if target is PaymentStatus.REVERSED:
        p = p.transition(PaymentStatus.IN_DOUBT, T0)
        await s.journal.record(p, expected=PaymentStatus.ACCEPTED)
    return await s.journal.record(p.transition(target, T0 + timedelta(seconds=1)),
                                  expected=p.status, outcome=Outcome())


def test_an_empty_outbox_has_seq_zero_and_no_events(open_storage: Opener) -> None:
    async def scenario(s: PaymentStorage) -> tuple[int, list[TransactionEvent]]:
        return await s.outbox.last_seq(), await s.outbox.since(0, 10)

    assert run_with(open_storage, scenario) == (0, [])


def test_events_come_back_in_seq_order_from_a_cursor_up_to_a_limit(
        open_storage: Opener) -> None:
    """Rules 1-3: each final status appends one event with the next seq; `since` returns
    the later ones in order, at most `limit`; `last_seq` is the newest."""
    async def scenario(s: PaymentStorage) -> None:
        written = [await _settle(s, status, f"k{i}") for i, status in enumerate(
            [PaymentStatus.BOOKED, PaymentStatus.REJECTED, PaymentStatus.REVERSED,
             PaymentStatus.BOOKED])]
        assert all(e is not None for e in written)
        assert [e.seq for e in written if e] == [1, 2, 3, 4]
        assert [e.type.value for e in written if e] == ["booked", "rejected", "reversed",
                                                        "booked"]
        assert await s.outbox.last_seq() == 4
        assert await s.outbox.since(0, 10) == written
        assert await s.outbox.since(1, 2) == written[1:3]
        assert await s.outbox.since(4, 10) == []
        assert await s.outbox.since(0, 0) == []

    run_with(open_storage, scenario)


def test_seqs_continue_after_a_reopen(open_storage: Opener) -> None:
    """Rule 1 across a restart: the next event's seq follows the last one written before."""
    async def first(s: PaymentStorage) -> int:
        await _settle(s, PaymentStatus.BOOKED, "k1")
        await _settle(s, PaymentStatus.BOOKED, "k2")
        return await s.outbox.last_seq()

    async def second(s: PaymentStorage) -> tuple[int, int | None]:
        before = await s.outbox.last_seq()
        event = await _settle(s, PaymentStatus.REJECTED, "k3")
        return before, None if event is None else event.seq

    assert run_with(open_storage, first) == 2
    assert run_with(open_storage, second) == (2, 3)
