"""The ISO 8583 connector against the real ISO host and ledger, over mutual TLS."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest

from adapter.model import Money
from adapter.model.errors import (
    AccountBlocked,
    AccountNotFound,
    AdapterError,
    BillerNotFound,
    CoreUnavailable,
    CurrencyMismatch,
    DuplicateRequest,
    InsufficientFunds,
)
from adapter.ports.core import CoreBookingState, CoreOutcomeUnknown, CorePort
from adapter.ports.reversals import ReversalState
from adapter.stores.sqlite.reversals import SqliteReversalStore
from tests.iso8583.support import bill, iso_env, run, transfer


def test_balance_transfer_and_bill_payment(pki_dir: Path, tmp_path: Path) -> None:
    """0200/30, /40 and /50 move exactly the amounts asked, once."""

    async def scenario() -> None:
        async with iso_env(pki_dir, tmp_path) as env:
            conn = await env.connector()
            assert isinstance(conn, CorePort)
            bal = await conn.get_balance("10000002", timeout=2)
            assert (bal.booked, bal.available) == (
                Money(amount=Decimal("2500.00"), currency="EUR"),
                Money(amount=Decimal("3000.00"), currency="EUR"))
            booking = await conn.post(transfer("REF000000001", "10.50"), timeout=2)
            assert booking.state is CoreBookingState.BOOKED
            assert booking.transaction_id is not None and booking.booked_at is not None
            await conn.post(bill("REF000000002", "25.00"), timeout=2)
            assert env.balance("10000001") == (1_000_000 - 1050 - 2500,) * 2 + ("EUR",)
            assert env.balance("10000002")[0] == 250_000 + 1050
            assert env.balance("90000001")[0] == 2500
            # The same posting again is the core's replay: no second booking.
            again = await conn.post(transfer("REF000000001", "10.50"), timeout=2)
            assert again.transaction_id == booking.transaction_id
            assert env.balance("10000001")[0] == 1_000_000 - 1050 - 2500
            assert await conn.store.outstanding() == []
            assert await conn.healthy()

    run(scenario())


@pytest.mark.parametrize(
    ("posting", "error"),
    [
        (transfer("REFERR000001", "99999.00"), InsufficientFunds),
        (transfer("REFERR000002", creditor="19999999"), AccountNotFound),
        (transfer("REFERR000003", debtor="10000006"), AccountBlocked),
        (transfer("REFERR000004", currency="USD"), CurrencyMismatch),
        (bill("REFERR000005", biller="NOSUCH"), BillerNotFound),
    ],
)
def test_refusals_map_to_canonical_errors_and_change_nothing(
    pki_dir: Path, tmp_path: Path, posting: object, error: type[AdapterError]
) -> None:
    """Field 39 51/14/62/57/15 become the canonical error; the ledger is untouched."""

    async def scenario() -> None:
        async with iso_env(pki_dir, tmp_path) as env:
            conn = await env.connector()
            before = [env.balance(a) for a in ("10000001", "10000002", "10000006")]
            with pytest.raises(error) as info:
                await conn.post(posting, timeout=2)  # type: ignore[arg-type]
            assert type(info.value) is error
            assert [env.balance(a) for a in ("10000001", "10000002", "10000006")] == before
            assert await conn.store.outstanding() == []
            with pytest.raises(AccountNotFound):
                await conn.get_balance("19999999", timeout=2)

    run(scenario())


def test_duplicate_reference_with_other_details(pki_dir: Path, tmp_path: Path) -> None:
    """A reference reused for a different posting is field 39 = 94: DuplicateRequest."""

    async def scenario() -> None:
        async with iso_env(pki_dir, tmp_path) as env:
            conn = await env.connector()
            await conn.post(transfer("REFDUP000001", "1.00"), timeout=2)
            with pytest.raises(DuplicateRequest):
                await conn.post(transfer("REFDUP000001", "2.00"), timeout=2)
            assert env.balance("10000001")[0] == 1_000_000 - 100

    run(scenario())


def test_many_concurrent_requests_on_one_connection(pki_dir: Path, tmp_path: Path) -> None:
    """300 postings and balance inquiries in flight at once, all matched, one connection."""

    async def scenario() -> None:
        async with iso_env(pki_dir, tmp_path) as env:
            env.faults.update(latency_ms=20)  # keeps them all in flight together
            conn = await env.connector()
            postings = [transfer(f"REFC{i:08d}", f"{i % 7 + 1}.00") for i in range(200)]
            results = await asyncio.gather(
                *(conn.post(p, timeout=10) for p in postings),
                *(conn.get_balance("10000005", timeout=10) for _ in range(100)))
            bookings = results[:200]
            assert [b.reference for b in bookings] == [p.reference for p in postings]
            assert len({b.transaction_id for b in bookings}) == 200
            for b, p in zip(bookings, postings, strict=True):
                assert env.ledger.transfer_status(p.reference).transaction_id == b.transaction_id
            total = sum((i % 7 + 1) * 100 for i in range(200))
            assert env.balance("10000001")[0] == 1_000_000 - total
            assert {str(r.booked) for r in results[200:]} == {"1000000 JPY"}
            assert conn.session.connections == 1 and conn.session.mux.unmatched_count == 0

    run(scenario())


@pytest.mark.parametrize("drop_mode", ["hang", "reset"])
def test_timeout_is_reversed_and_ledger_unchanged(
    pki_dir: Path, tmp_path: Path, drop_mode: str
) -> None:
    """The core books but its reply is lost: OutcomeUnknown, then 0420 undoes it exactly."""

    async def scenario() -> None:
        async with iso_env(pki_dir, tmp_path) as env:
            conn = await env.connector()
            before = (env.balance("10000001"), env.balance("10000002"), env.ledger.totals())
            env.faults.update(drop_next=1, drop_mode=drop_mode)
            posting = transfer("REFTMO000001", "40.00")
            with pytest.raises(CoreOutcomeUnknown):
                await conn.post(posting, timeout=0.3)
            assert env.ledger.transfer_status("REFTMO000001").state == "booked"
            booking = await conn.resolve(posting, timeout=5)
            assert booking.state is CoreBookingState.REVERSED
            assert (env.balance("10000001"), env.balance("10000002"),
                    env.ledger.totals()) == before
            assert env.ledger.transfer_status("REFTMO000001").state == "reversed"
            # Reversing again changes nothing; a late original is refused.
            assert (await conn.resolve(posting, timeout=1)).state is CoreBookingState.REVERSED
            assert env.balance("10000001") == before[0]
            reversals = [m for m in env.host.received if m["t"] in ("0420", "0421")]
            assert [m["t"] for m in reversals] == ["0420"]
            assert reversals[0]["90"][:4] == "0200"

    run(scenario())


def test_without_write_ahead_a_booking_writes_nothing_and_a_timeout_is_still_reversed(
    pki_dir: Path, tmp_path: Path
) -> None:
    """As the adapter builds it (its journal is the write-ahead log): a booked posting
    commits nothing to the reversal store; one without a reply is written PENDING then, with
    the request as sent, and reversed exactly."""

    async def scenario() -> None:
        async with iso_env(pki_dir, tmp_path) as env:
            conn = await env.connector(write_ahead=False)
            before = (env.balance("10000001"), env.balance("10000002"), env.ledger.totals())
            commits = conn.store.commits
            booking = await conn.post(transfer("REFNWA000001", "5.00"), timeout=2)
            assert booking.state is CoreBookingState.BOOKED
            assert conn.store.commits == commits and await conn.store.get("REFNWA000001") is None
            assert env.balance("10000001")[0] == before[0][0] - 500

            env.faults.update(drop_next=1, drop_mode="hang")
            posting = transfer("REFNWA000002", "40.00")
            with pytest.raises(CoreOutcomeUnknown):
                await conn.post(posting, timeout=0.3)
            pending = await conn.store.get("REFNWA000002")
            assert pending is not None and pending.state is ReversalState.PENDING
            assert pending.original["11"] and pending.original["37"] == "REFNWA000002"
            assert (await conn.resolve(posting, timeout=5)).state is CoreBookingState.REVERSED
            assert env.ledger.transfer_status("REFNWA000002").state == "reversed"
            assert env.balance("10000001")[0] == before[0][0] - 500
            assert env.ledger.totals() == before[2]
            # A reversed reference is never sent again.
            with pytest.raises(DuplicateRequest):
                await conn.post(posting, timeout=2)

    run(scenario())


def test_resolve_of_never_sent_posting_fences_it(pki_dir: Path, tmp_path: Path) -> None:
    """Reversing a reference the core never saw books nothing and refuses a late original."""

    async def scenario() -> None:
        async with iso_env(pki_dir, tmp_path) as env:
            conn = await env.connector()
            before = env.balance("10000001")
            posting = transfer("REFNEV000001")
            assert (await conn.resolve(posting, timeout=2)).state is CoreBookingState.REVERSED
            assert env.ledger.transfer_status("REFNEV000001").state == "reversed"
            with pytest.raises(DuplicateRequest):
                await conn.post(posting, timeout=2)
            assert env.balance("10000001") == before

    run(scenario())


def test_unacknowledged_reversal_repeats_as_0421(pki_dir: Path, tmp_path: Path) -> None:
    """0430s lost twice: resolve says not yet; the background repeats 0421 until acknowledged."""

    async def scenario() -> None:
        async with iso_env(pki_dir, tmp_path) as env:
            done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            conn = await env.connector(reversal_timeout=0.2,
                                       on_reversed=lambda ref: done.set_result(ref))
            env.faults.update(drop_next=1, drop_mode="hang")
            env.host.drop_reversals = 2
            posting = transfer("REFREP000001", "7.00")
            with pytest.raises(CoreOutcomeUnknown):
                await conn.post(posting, timeout=0.2)
            assert await done == "REFREP000001"
            mtis = [m["t"] for m in env.host.received if m["t"].startswith("04")]
            assert mtis == ["0420", "0421", "0421"]
            assert (await conn.store.get("REFREP000001")).state is ReversalState.REVERSED
            assert env.balance("10000001")[0] == 1_000_000
            assert (await conn.resolve(posting, timeout=0.01)).state is CoreBookingState.REVERSED

    run(scenario())


def test_reversal_pending_at_shutdown_is_sent_after_restart(
    pki_dir: Path, tmp_path: Path
) -> None:
    """A reversal the core never acknowledged, and a request armed at a crash, are both
    reversed by the next connector on the same state dir."""

    async def scenario() -> None:
        async with iso_env(pki_dir, tmp_path) as env:
            first = await env.connector(reversal_timeout=0.1)
            env.faults.update(drop_next=1, drop_mode="hang")
            env.host.drop_reversals = 1000
            posting = transfer("REFRST000001", "12.00")
            with pytest.raises(CoreOutcomeUnknown):
                await first.post(posting, timeout=0.2)
            with pytest.raises(CoreOutcomeUnknown):
                await first.resolve(posting, timeout=0.15)
            await first.aclose()
            assert env.ledger.transfer_status("REFRST000001").state == "reversed"  # applied,
            # but never acknowledged: the adapter must still owe it.
            store = SqliteReversalStore.in_dir(env.state_dir)
            assert [r.reference for r in await store.outstanding()] == ["REFRST000001"]
            # A crash between arming and sending leaves an ARMED row only.
            await store.arm("REFRST000002", {"t": "0200", "3": "400000", "4": "000000000100",
                                             "7": "1128000000", "11": "000099",
                                             "37": "REFRST000002", "41": "ADAPTER1", "49": "978",
                                             "102": "10000001", "103": "10000002"})
            await store.aclose()

            env.host.drop_reversals = 0
            finished: set[str] = set()
            all_done = asyncio.Event()

            def on_reversed(ref: str) -> None:
                finished.add(ref)
                if len(finished) == 2:
                    all_done.set()

            second = await env.connector(on_reversed=on_reversed)
            await all_done.wait()
            assert finished == {"REFRST000001", "REFRST000002"}
            assert env.ledger.transfer_status("REFRST000002").state == "reversed"  # fenced
            assert env.balance("10000001")[0] == 1_000_000
            assert await second.store.outstanding() == []

    run(scenario())


def test_echo_failures_make_it_unhealthy(pki_dir: Path, tmp_path: Path) -> None:
    """0800/301 unanswered: healthy() is False until an echo is answered again."""

    async def scenario() -> None:
        async with iso_env(pki_dir, tmp_path) as env:
            conn = await env.connector(network_timeout=0.1)
            assert await conn.healthy()
            env.host.answer_network = False
            assert await conn.echo() is False
            assert await conn.healthy() is False
            env.host.answer_network = True
            assert await conn.echo() is True
            assert await conn.healthy() is True
            assert [m["70"] for m in env.host.received] == ["001", "301", "301"]

    run(scenario())


def test_reconnects_and_signs_on_again(pki_dir: Path, tmp_path: Path) -> None:
    """The core drops the connection: the next request waits for a new, signed-on session."""

    async def scenario() -> None:
        async with iso_env(pki_dir, tmp_path) as env:
            conn = await env.connector()
            await env.host.drop_connections()
            bal = await conn.get_balance("10000001", timeout=5)
            assert bal.booked.amount == Decimal("10000.00")
            assert conn.session.connections == 2
            assert [m["70"] for m in env.host.received if m["t"] == "0800"] == ["001", "001"]

    run(scenario())


def test_foreign_certificate_is_refused_and_nothing_sent(
    pki_dir: Path, foreign_pki_dir: Path, tmp_path: Path
) -> None:
    """A client certificate from another CA never gets a session: CoreUnavailable, no row."""

    async def scenario() -> None:
        async with iso_env(pki_dir, tmp_path) as env:
            env.pki_dir = foreign_pki_dir
            conn = await env.connector(ready=False, connect_timeout=0.5)
            with pytest.raises(CoreUnavailable):
                await conn.post(transfer("REFFOR000001"), timeout=0.5)
            assert await conn.store.outstanding() == []
            assert await conn.store.get("REFFOR000001") is None
            assert not await conn.healthy()
            assert env.balance("10000001")[0] == 1_000_000

    run(scenario())
