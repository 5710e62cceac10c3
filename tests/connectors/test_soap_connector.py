"""The SOAP connector against a live core_sim over mutual TLS: operations, errors, in-doubt."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from zeep.exceptions import TransportError

from adapter.connectors.soap import SoapCoreConnector
from adapter.connectors.soap.errors import map_exception
from adapter.model import AccountRef, CreditDebit, HistoryQuery, Money
from adapter.model.errors import (
    AccountBlocked,
    AccountNotFound,
    AdapterError,
    BillerNotFound,
    CoreTimeout,
    CoreUnavailable,
    CurrencyMismatch,
    DuplicateRequest,
    InsufficientFunds,
)
from adapter.ports.core import CoreBookingState, CoreOutcomeUnknown, CorePort, CorePosting
from tests.harness.core import RunningCore

T = TypeVar("T")


def run(core: RunningCore, body: Callable[[SoapCoreConnector], Awaitable[T]],
        **kwargs: Any) -> T:
    """Run `body` with a fresh connector to `core` on a fresh event loop, bounded to 20 s."""

    async def main() -> T:
        connector = SoapCoreConnector.create(core.soap_url, core.pki_dir, **kwargs)
        try:
            return await asyncio.wait_for(body(connector), 20)
        finally:
            await connector.aclose()

    return asyncio.run(main())


def posting(reference: str = "SOAPC0000001", amount: str = "25.00", currency: str = "EUR",
            **changes: Any) -> CorePosting:
    fields: dict[str, Any] = {
        "reference": reference, "debtor_account_id": "10000001",
        "creditor_account_id": "10000002", "amount": Money(amount=amount, currency=currency),
        "end_to_end_id": "E2E-CONN-1",
    }
    return CorePosting(**(fields | changes))


def test_connector_implements_the_core_port(core_sim: RunningCore) -> None:
    """SoapCoreConnector satisfies the CorePort protocol and its health check passes."""

    async def body(c: SoapCoreConnector) -> bool:
        assert isinstance(c, CorePort)
        return await c.healthy()

    assert run(core_sim, body) is True


def test_reads_convert_to_canonical_types(core_sim: RunningCore) -> None:
    """Accounts, balances (Decimal in the account currency) come back as canonical values."""

    async def body(c: SoapCoreConnector) -> None:
        accounts = await c.list_accounts(timeout=5)
        assert [a.id for a in accounts][:3] == ["10000001", "10000002", "10000003"]
        by_iban = await c.get_account(AccountRef(iban="DE02120300000000202051"), timeout=5)
        assert (by_iban.id, by_iban.name, by_iban.currency) == ("10000002", "Bob Ltd", "EUR")
        frank = await c.get_account(AccountRef(id="10000006"), timeout=5)
        assert frank.status.value == "blocked"
        bob = await c.get_balance("10000002", timeout=5)
        assert (bob.booked, bob.available) == (Money(amount="2500.00", currency="EUR"),
                                               Money(amount="3000.00", currency="EUR"))
        eiko = await c.get_balance("10000005", timeout=5)
        assert eiko.booked == Money(amount="1000000", currency="JPY")

    run(core_sim, body)


def test_post_books_once_and_replays(core_sim: RunningCore) -> None:
    """post books the money once; the same posting again returns the same booking."""

    async def body(c: SoapCoreConnector) -> None:
        first = await c.post(posting(), timeout=5)
        again = await c.post(posting(), timeout=5)
        assert first.state is CoreBookingState.BOOKED
        assert again.transaction_id == first.transaction_id
        resolved = await c.resolve(posting(), timeout=5)
        assert (resolved.state, resolved.transaction_id) == (CoreBookingState.BOOKED,
                                                              first.transaction_id)

    run(core_sim, body)
    assert core_sim.ledger.balance("10000001")[0] == 997_500
    assert core_sim.ledger.entry_count("SOAPC0000001") == 2


def test_bill_payment_and_history(core_sim: RunningCore) -> None:
    """A bill payment reaches the biller; history pages newest first with a working cursor."""

    async def body(c: SoapCoreConnector) -> None:
        await c.post(posting("SOAPC0000002", biller_id="ELEC01", creditor_account_id=None,
                             customer_reference="CUST-1"), timeout=5)
        for i in range(3):
            await c.post(posting(f"SOAPC000001{i}", amount=f"1.0{i}"), timeout=5)
        page = await c.get_history("10000001", HistoryQuery(limit=3), timeout=5)
        assert [t.reference for t in page.items] == ["SOAPC0000012", "SOAPC0000011",
                                                     "SOAPC0000010"]
        top = page.items[0]
        assert (top.amount, top.credit_debit, top.counterparty_account_id) == (
            Money(amount="1.02", currency="EUR"), CreditDebit.DEBIT, "10000002")
        assert top.balance_after == Money(amount=Decimal("10000.00") - Decimal("25.00")
                                          - Decimal("3.03"), currency="EUR")
        assert page.next_cursor is not None
        rest = await c.get_history("10000001", HistoryQuery(limit=3, cursor=page.next_cursor),
                                   timeout=5)
        assert [t.reference for t in rest.items] == ["SOAPC0000002"]
        assert rest.next_cursor is None

    run(core_sim, body)
    assert core_sim.ledger.balance("90000001")[0] == 2500


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.get_balance("99999999", timeout=5), AccountNotFound),
        (lambda c: c.get_account(AccountRef(id="99999999"), timeout=5), AccountNotFound),
        (lambda c: c.post(posting(amount="10000.01"), timeout=5), InsufficientFunds),
        (lambda c: c.post(posting(amount="1", currency="USD"), timeout=5),
         CurrencyMismatch),
        (lambda c: c.post(posting(creditor_account_id="10000006"), timeout=5), AccountBlocked),
        (lambda c: c.post(posting(debtor_account_id="99999999"), timeout=5), AccountNotFound),
        (lambda c: c.post(posting(creditor_account_id=None, biller_id="NOPE01",
                                  customer_reference="X"), timeout=5), BillerNotFound),
    ],
)
def test_faults_map_to_the_exact_canonical_error(
    core_sim: RunningCore, call: Callable[[SoapCoreConnector], Coroutine[Any, Any, Any]],
    error: type[AdapterError],
) -> None:
    """Each core refusal raises exactly its canonical error class, caused by the zeep Fault."""

    async def body(c: SoapCoreConnector) -> None:
        with pytest.raises(AdapterError) as caught:
            await call(c)
        assert type(caught.value) is error
        assert caught.value.__cause__ is not None

    run(core_sim, body)
    assert core_sim.ledger.totals() == {"EUR": 1_750_000, "JPY": 1_000_000, "USD": 800_000}


def test_a_different_posting_under_a_used_reference_is_a_duplicate(core_sim: RunningCore) -> None:
    """Reusing a reference for another amount raises DuplicateRequest and moves nothing more."""

    async def body(c: SoapCoreConnector) -> None:
        await c.post(posting(), timeout=5)
        with pytest.raises(DuplicateRequest):
            await c.post(posting(amount="26.00"), timeout=5)

    run(core_sim, body)
    assert core_sim.ledger.balance("10000001")[0] == 997_500


def test_injected_error_is_core_unavailable_and_books_nothing(core_sim: RunningCore) -> None:
    """Server.CORE_UNAVAILABLE before booking maps to CoreUnavailable: certainly not booked."""
    core_sim.faults.update(fail_next=1)

    async def body(c: SoapCoreConnector) -> None:
        with pytest.raises(CoreUnavailable) as caught:
            await c.post(posting(), timeout=5)
        assert not isinstance(caught.value, CoreOutcomeUnknown)
        resolved = await c.resolve(posting(), timeout=5)
        assert resolved.state is CoreBookingState.CANCELLED

    run(core_sim, body)
    assert core_sim.ledger.balance("10000001")[0] == 1_000_000


def test_connection_refused_is_core_unavailable(core_sim: RunningCore) -> None:
    """A port nobody listens on gives CoreUnavailable for reads and postings alike."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"https://localhost:{s.getsockname()[1]}/core/v1"

    async def main() -> None:
        c = SoapCoreConnector.create(dead, core_sim.pki_dir)
        try:
            with pytest.raises(CoreUnavailable) as read:
                await c.get_balance("10000001", timeout=2)
            with pytest.raises(CoreUnavailable) as post:
                await c.post(posting(), timeout=2)
            assert not isinstance(read.value, CoreTimeout)
            assert not isinstance(post.value, CoreOutcomeUnknown)
            assert await c.healthy() is False
        finally:
            await c.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("mode", ["reset", "hang"])
def test_lost_reply_is_outcome_unknown_then_resolves_to_booked_once(
    core_sim: RunningCore, mode: str,
) -> None:
    """A committed posting whose reply is lost is CoreOutcomeUnknown; resolve finds it BOOKED."""
    core_sim.faults.update(drop_next=1, drop_mode=mode)

    async def body(c: SoapCoreConnector) -> None:
        with pytest.raises(CoreOutcomeUnknown):
            await c.post(posting(), timeout=1.0)
        resolved = await c.resolve(posting(), timeout=5)
        assert resolved.state is CoreBookingState.BOOKED
        assert resolved.transaction_id is not None

    run(core_sim, body)
    assert core_sim.ledger.balance("10000001")[0] == 997_500
    assert core_sim.ledger.balance("10000002")[0] == 252_500
    assert core_sim.ledger.entry_count("SOAPC0000001") == 2


def test_timeout_before_booking_resolves_to_cancelled_and_fences(core_sim: RunningCore) -> None:
    """Latency past the timeout: unknown, resolve fences it CANCELLED, a late post is refused."""
    core_sim.faults.update(latency_ms=700)

    async def body(c: SoapCoreConnector) -> None:
        with pytest.raises(CoreOutcomeUnknown):
            await c.post(posting(), timeout=0.3)
        # The delayed original is still waiting inside the core; fence it before it books.
        core_sim.faults.update(latency_ms=0)
        resolved = await c.resolve(posting(), timeout=5)
        assert resolved.state is CoreBookingState.CANCELLED
        with pytest.raises(DuplicateRequest):
            await c.post(posting(), timeout=5)

    run(core_sim, body)
    # Let the delayed original run to its end inside the core, then check it was refused:
    # a fenced reference never moves money.
    core_sim.call(core_sim.sim.quiesce)
    posting_state = core_sim.ledger.transfer_status("SOAPC0000001")
    assert posting_state is not None and posting_state.state == "cancelled"
    assert core_sim.ledger.balance("10000001")[0] == 1_000_000
    assert core_sim.ledger.entry_count("SOAPC0000001") == 0


def test_read_timeout_is_core_timeout_not_outcome_unknown(core_sim: RunningCore) -> None:
    """A read that times out is CoreTimeout (no money can have moved, so not 'outcome unknown')."""
    core_sim.faults.update(latency_ms=500)

    async def body(c: SoapCoreConnector) -> None:
        with pytest.raises(CoreTimeout) as caught:
            await c.get_balance("10000001", timeout=0.2)
        assert not isinstance(caught.value, CoreOutcomeUnknown)

    run(core_sim, body)


def test_tls_failure_before_sending_is_core_unavailable(core_sim: RunningCore,
                                                         foreign_pki_dir: Path) -> None:
    """A core certificate our CA did not sign fails the handshake: CoreUnavailable, nothing sent."""

    async def main() -> None:
        c = SoapCoreConnector.create(core_sim.soap_url, foreign_pki_dir)
        try:
            with pytest.raises(CoreUnavailable) as caught:
                await c.post(posting(), timeout=5)
            assert not isinstance(caught.value, CoreOutcomeUnknown)
            assert isinstance(caught.value.__cause__, aiohttp.ClientConnectorCertificateError)
        finally:
            await c.aclose()

    asyncio.run(main())
    assert core_sim.ledger.transfer_status("SOAPC0000001") is None


def test_a_call_that_times_out_in_the_queue_is_core_unavailable(core_sim: RunningCore) -> None:
    """With every connection busy, a call whose deadline passes while queued was never sent."""
    core_sim.faults.update(latency_ms=500)

    async def body(c: SoapCoreConnector) -> None:
        busy = asyncio.ensure_future(c.get_balance("10000001", timeout=5))
        await asyncio.sleep(0)  # one turn of the loop: it takes the only slot without waiting
        assert c._slots.locked()
        with pytest.raises(CoreUnavailable) as queued:
            await c.post(posting(), timeout=0.1)
        assert not isinstance(queued.value, CoreOutcomeUnknown)
        assert (await busy).account_id == "10000001"

    run(core_sim, body, max_connections=1)
    assert core_sim.ledger.transfer_status("SOAPC0000001") is None


def test_many_concurrent_calls_share_a_small_pool(core_sim: RunningCore) -> None:
    """Far more calls than connections all complete, each with its own answer."""

    async def body(c: SoapCoreConnector) -> None:
        ids = ["10000001", "10000002", "10000003"] * 20
        balances = await asyncio.gather(*(c.get_balance(i, timeout=10) for i in ids))
        assert [b.account_id for b in balances] == ids

    run(core_sim, body, max_connections=2)


def test_the_transport_never_fetches_documents(core_sim: RunningCore) -> None:
    """Rule 1: loading any remote document (an xsd:import, a WSDL by URL) is refused."""

    async def body(c: SoapCoreConnector) -> None:
        with pytest.raises(TransportError):
            c._transport.load(core_sim.soap_url + "?wsdl")

    run(core_sim, body)


@pytest.mark.parametrize(
    ("exc", "for_posting", "for_read"),
    [
        (aiohttp.ConnectionTimeoutError(), CoreUnavailable, CoreUnavailable),
        (aiohttp.InvalidURL("core"), CoreUnavailable, CoreUnavailable),
        (aiohttp.SocketTimeoutError(), CoreOutcomeUnknown, CoreTimeout),
        (TimeoutError(), CoreOutcomeUnknown, CoreTimeout),
        (aiohttp.ServerDisconnectedError(), CoreOutcomeUnknown, CoreUnavailable),
        (aiohttp.ClientPayloadError("truncated"), CoreOutcomeUnknown, CoreUnavailable),
        (aiohttp.ClientOSError(104, "reset by peer"), CoreOutcomeUnknown, CoreUnavailable),
        (aiohttp.ClientConnectionResetError(), CoreOutcomeUnknown, CoreUnavailable),
        (ConnectionResetError(), CoreOutcomeUnknown, CoreUnavailable),
        (TransportError(status_code=503), CoreOutcomeUnknown, CoreUnavailable),
        (TransportError(status_code=404), CoreUnavailable, CoreUnavailable),
    ],
)
def test_transport_errors_map_most_specific_first(
    exc: BaseException, for_posting: type[AdapterError], for_read: type[AdapterError],
) -> None:
    """Only a failure before sending is CoreUnavailable for a posting; a dropped keep-alive
    connection (ServerDisconnectedError) may have carried the request, so it is unknown."""
    assert type(map_exception(exc, posting=True)) is for_posting
    assert type(map_exception(exc, posting=False)) is for_read


def test_the_core_contract_ships_inside_the_package() -> None:
    """The connector reads the core's WSDL from its own package (a link to the committed
    wsdl/core_sim.wsdl), so a wheel install needs no source checkout."""
    from adapter.connectors.soap import connector

    committed = Path(__file__).resolve().parents[2] / "wsdl" / "core_sim.wsdl"
    assert connector.DEFAULT_WSDL.parent == Path(connector.__file__).parent
    assert connector.DEFAULT_WSDL.read_bytes() == committed.read_bytes()
