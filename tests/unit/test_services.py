"""The payment and account services against a fake core and the in-memory storage ports
(no SQLite: every test here fails if anything opens a database)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pydantic
import pytest

from adapter.model import AccountRef, BillPaymentRequest, PaymentStatus, TransferRequest
from adapter.model.commands import BillPaymentCommand, GetPaymentQuery, TransferCommand
from adapter.model.errors import (
    AccountNotFound,
    CoreTimeout,
    CoreUnavailable,
    CurrencyMismatch,
    DeadlineExceeded,
    Forbidden,
    IdempotencyConflict,
    InsufficientFunds,
    PaymentNotFound,
    RequestInProgress,
    ValidationError,
)
from adapter.ports.core import CoreBooking, CorePosting
from adapter.ports.idempotency import KeyState
from adapter.services.banking import BankingServices
from adapter.services.clients import ALL_ACCOUNTS, Caller, ClientRegistry, Operation
from adapter.services.context import RequestContext
from adapter.services.resolver import Resolver
from tests.fakes import FakeCore, MemoryStore

IBAN_1 = "DE89370400440532013000"
IBAN_2 = "DE02120300000000202051"
PAY = frozenset({Operation.READ, Operation.TRANSFER, Operation.BILL_PAYMENT})
PARTNER = Caller(id="partner", accounts=frozenset({"A1", "A2"}),
                 operations=PAY)
OTHER = Caller(id="other", accounts=frozenset({"A3"}), operations=PAY)
INTERNAL = Caller(id="internal", accounts=frozenset({ALL_ACCOUNTS}),
                  operations=PAY | {Operation.WATCH})


def make_core() -> FakeCore:
    core = FakeCore()
    core.add("A1", "EUR", "100.00", IBAN_1)
    core.add("A2", "EUR", "50.00", IBAN_2)
    core.add("A3", "EUR", "10.00")
    core.add("U1", "USD", "10.00")
    return core


def cmd(key: str, request: TransferRequest) -> TransferCommand:
    return TransferCommand(key=key, request=request)


def transfer(amount: str = "10.00", debtor: str = "A1", creditor: str = "A2",
             e2e: str = "E2E-1", currency: str = "EUR") -> TransferRequest:
    return TransferRequest.model_validate({
        "debtor": {"id": debtor}, "creditor": {"id": creditor},
        "amount": {"amount": amount, "currency": currency}, "end_to_end_id": e2e})


def ctx(caller: Caller = PARTNER, deadline: float | None = None) -> RequestContext:
    return RequestContext(caller=caller, correlation_id="corr-1", deadline=deadline)


Scenario = Callable[[BankingServices, FakeCore], Awaitable[Any]]


@pytest.fixture(autouse=True)
def no_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    """The services are tested against the in-memory ports only."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a service unit test opened an SQLite database")

    monkeypatch.setattr(sqlite3, "connect", refuse)


def run(scenario: Scenario, core: FakeCore | None = None,
        store: MemoryStore | None = None) -> Any:
    """Run `scenario` on fresh services; pass `store` to reuse the storage of a previous
    run (a restart that kept its database)."""
    core = core or make_core()
    storage = store.reopened() if store is not None else MemoryStore()

    async def main() -> Any:
        services = BankingServices.build(
            core, storage, ClientRegistry([PARTNER, OTHER, INTERNAL]),
            core_timeout=1.0, resolve_timeout=1.0)
        try:
            return await scenario(services, core)
        finally:
            await storage.aclose()

    return asyncio.run(main())


def resolver(services: BankingServices) -> Resolver:
    return Resolver(services.payments, services.storage.journal, services.storage.keys)


def balances(core: FakeCore) -> dict[str, Decimal]:
    return {k: v for k, v in core.balances.items() if k in ("A1", "A2", "A3")}


def test_transfer_books_once_and_replay_returns_the_same_payment() -> None:
    """A replay under the same key returns the stored payment and moves no more money."""
    async def scenario(services: BankingServices, core: FakeCore) -> None:
        first = await services.payments.transfer(ctx(), cmd("key-1", transfer()))
        again = await services.payments.transfer(ctx(), cmd("key-1", transfer()))
        assert first.payment.status is PaymentStatus.BOOKED and not first.replayed
        assert again.replayed and again.payment == first.payment
        assert core.post_calls == 1
        assert balances(core) == {"A1": Decimal("90.00"), "A2": Decimal("60.00"),
                                  "A3": Decimal("10.00")}
        history = await services.storage.journal.history(first.payment.payment_id)
        assert [h.status for h in history] == [
            PaymentStatus.RECEIVED, PaymentStatus.ACCEPTED, PaymentStatus.BOOKED]

    run(scenario)


def test_same_key_different_payload_is_refused() -> None:
    """A key reused for another request is an IDEMPOTENCY_CONFLICT and moves nothing."""
    async def scenario(services: BankingServices, core: FakeCore) -> None:
        await services.payments.transfer(ctx(), cmd("key-1", transfer("10.00")))
        with pytest.raises(IdempotencyConflict) as info:
            await services.payments.transfer(ctx(), cmd("key-1", transfer("11.00")))
        assert info.value.code == "IDEMPOTENCY_CONFLICT"
        assert core.post_calls == 1 and core.balances["A1"] == Decimal("90.00")

    run(scenario)


def test_keys_are_scoped_to_the_caller() -> None:
    """Two callers using the same key get two independent payments."""
    async def scenario(services: BankingServices, core: FakeCore) -> None:
        mine = await services.payments.transfer(ctx(), cmd("shared", transfer()))
        theirs = await services.payments.transfer(
            ctx(OTHER), cmd("shared", transfer("1.00", debtor="A3", creditor="A1")))
        assert mine.payment.payment_id != theirs.payment.payment_id
        assert core.post_calls == 2 and core.balances["A3"] == Decimal("9.00")

    run(scenario)


def test_business_refusal_is_journalled_and_replayed() -> None:
    """Insufficient funds rejects the payment, and a replay returns the same error."""
    async def scenario(services: BankingServices, core: FakeCore) -> None:
        with pytest.raises(InsufficientFunds) as first:
            await services.payments.transfer(ctx(), cmd("key-1", transfer("1000.00")))
        assert first.value.payment_id is not None
        assert first.value.correlation_id == "corr-1"
        payment = await services.storage.journal.get(first.value.payment_id)
        assert payment is not None and payment.status is PaymentStatus.REJECTED
        assert payment.reason_code == "INSUFFICIENT_FUNDS"
        with pytest.raises(InsufficientFunds) as again:
            await services.payments.transfer(ctx(), cmd("key-1", transfer("1000.00")))
        assert again.value.payment_id == first.value.payment_id
        assert core.post_calls == 1 and core.balances["A1"] == Decimal("100.00")

    run(scenario)


def test_lost_reply_is_resolved_to_booked_exactly_once() -> None:
    """Booked by the core but the answer lost: resolve finds it booked; no second post."""
    core = make_core()
    core.script.append("lose_reply")

    async def scenario(services: BankingServices, core: FakeCore) -> None:
        result = await services.payments.transfer(ctx(), cmd("key-1", transfer()))
        assert result.payment.status is PaymentStatus.BOOKED
        assert (core.post_calls, core.resolve_calls) == (1, 1)
        assert core.balances["A1"] == Decimal("90.00")
        history = await services.storage.journal.history(result.payment.payment_id)
        assert [h.status for h in history][-2:] == [PaymentStatus.IN_DOUBT, PaymentStatus.BOOKED]

    run(scenario, core)


def test_lost_request_is_fenced_and_rejected() -> None:
    """Never booked and no answer: resolve fences it; the answer is the payment, RJCT with
    reason CORE_TIMEOUT (Rule 5), nothing moves, and a replay answers the same."""
    core = make_core()
    core.script.append("lost_request")

    async def scenario(services: BankingServices, core: FakeCore) -> None:
        result = await services.payments.transfer(ctx(), cmd("key-1", transfer()))
        payment = result.payment
        assert (result.replayed, payment.status, payment.reason_code) == (
            False, PaymentStatus.REJECTED, "CORE_TIMEOUT")
        assert await services.storage.journal.get(payment.payment_id) == payment
        assert core.balances["A1"] == Decimal("100.00")
        replay = await services.payments.transfer(ctx(), cmd("key-1", transfer()))
        assert (replay.replayed, replay.payment) == (True, payment)
        assert core.post_calls == 1

    run(scenario, core)


def test_a_payment_the_resolver_fences_replays_as_rejected_not_pending() -> None:
    """Issue 13 item 8: in doubt (504 CORE_TIMEOUT), then the resolver fences it; the key's
    stored outcome is now the final one, so a replay answers the payment RJCT, nothing moved."""
    core = make_core()
    core.script.append("lost_request")
    core.resolve_fails = 1

    async def scenario(services: BankingServices, core: FakeCore) -> None:
        with pytest.raises(CoreTimeout) as info:
            await services.payments.transfer(ctx(), cmd("key-1", transfer()))
        payment_id = info.value.payment_id or ""
        assert await resolver(services).run_once(include_recent=True) == 1
        record = await services.storage.keys.get("partner", "key-1")
        assert record is not None and (record.state, record.error_code) == (
            KeyState.COMPLETED, None)
        replay = await services.payments.transfer(ctx(), cmd("key-1", transfer()))
        assert (replay.replayed, replay.payment.payment_id, replay.payment.status,
                replay.payment.reason_code) == (True, payment_id, PaymentStatus.REJECTED,
                                                "CORE_TIMEOUT")
        assert core.post_calls == 1 and core.balances["A1"] == Decimal("100.00")

    run(scenario, core)


def test_unresolvable_payment_stays_in_doubt_until_the_resolver_settles_it() -> None:
    """If the core cannot be asked, the payment stays PDNG; the resolver settles it later."""
    core = make_core()
    core.script.append("lose_reply")
    core.resolve_fails = 1

    async def scenario(services: BankingServices, core: FakeCore) -> None:
        with pytest.raises(CoreTimeout) as info:
            await services.payments.transfer(ctx(), cmd("key-1", transfer()))
        payment_id = info.value.payment_id or ""
        pending = await services.storage.journal.get(payment_id)
        assert pending is not None and pending.status is PaymentStatus.IN_DOUBT
        assert await resolver(services).run_once(include_recent=True) == 1
        replay = await services.payments.transfer(ctx(), cmd("key-1", transfer()))
        assert replay.replayed and replay.payment.status is PaymentStatus.BOOKED
        assert replay.payment.payment_id == payment_id
        assert core.post_calls == 1 and core.balances["A1"] == Decimal("90.00")

    run(scenario, core)


def test_core_unavailable_releases_the_key() -> None:
    """Certainly not delivered: rejected, and the same key may be retried and then books."""
    core = make_core()
    core.script.append("unavailable")

    async def scenario(services: BankingServices, core: FakeCore) -> None:
        with pytest.raises(CoreUnavailable) as info:
            await services.payments.transfer(ctx(), cmd("key-1", transfer()))
        failed = await services.storage.journal.get(info.value.payment_id or "")
        assert failed is not None and failed.status is PaymentStatus.REJECTED
        retry = await services.payments.transfer(ctx(), cmd("key-1", transfer()))
        assert retry.payment.status is PaymentStatus.BOOKED and not retry.replayed
        assert core.balances["A1"] == Decimal("90.00")

    run(scenario, core)


def test_refusals_before_the_core_store_nothing() -> None:
    """Forbidden, unknown and mismatched requests raise their code and leave no record."""
    async def scenario(services: BankingServices, core: FakeCore) -> None:
        cases = [
            (Forbidden, transfer(debtor="A3", creditor="A1")),
            (AccountNotFound, transfer(creditor="NOPE")),
            (CurrencyMismatch, transfer(creditor="U1")),
            (CurrencyMismatch, transfer(currency="USD", amount="1.00")),
        ]
        for error, request in cases:
            with pytest.raises(error):
                await services.payments.transfer(ctx(), cmd("key-x", request))
            assert await services.storage.keys.get("partner", "key-x") is None
        same = TransferRequest.model_validate({
            "debtor": {"id": "A1"}, "creditor": {"iban": IBAN_1},
            "amount": {"amount": "1.00", "currency": "EUR"}, "end_to_end_id": "E"})
        with pytest.raises(ValidationError):
            await services.payments.transfer(ctx(), cmd("key-x", same))
        with pytest.raises(pydantic.ValidationError):  # the command refuses it, before any call
            cmd("bad key with spaces", transfer())
        assert core.post_calls == 0 and balances(core) == {
            "A1": Decimal("100.00"), "A2": Decimal("50.00"), "A3": Decimal("10.00")}

    run(scenario)


def test_expired_deadline_does_nothing() -> None:
    """A request whose deadline already passed is refused before anything is stored."""
    async def scenario(services: BankingServices, core: FakeCore) -> None:
        with pytest.raises(DeadlineExceeded):
            await services.payments.transfer(
                ctx(deadline=time.monotonic() - 1), cmd("key-1", transfer()))
        assert await services.storage.keys.get("partner", "key-1") is None
        assert core.post_calls == 0

    run(scenario)


def gated_core() -> tuple[FakeCore, asyncio.Event, asyncio.Event]:
    """A core whose `post` sets `entered`, then waits for `gate` before booking."""
    core = make_core()
    gate = asyncio.Event()
    entered = asyncio.Event()
    original_post = core.post

    async def slow_post(posting: CorePosting, *, timeout: float) -> CoreBooking:
        entered.set()
        await gate.wait()
        return await original_post(posting, timeout=timeout)

    core.post = slow_post  # type: ignore[method-assign]
    return core, entered, gate


def test_retry_while_running_is_refused() -> None:
    """A second call under a key whose first call is still at the core gets IN_PROGRESS."""
    core, entered, gate = gated_core()

    async def scenario(services: BankingServices, core: FakeCore) -> None:
        first = asyncio.create_task(services.payments.transfer(ctx(), cmd("key-1", transfer())))
        await entered.wait()
        with pytest.raises(RequestInProgress):
            await services.payments.transfer(ctx(), cmd("key-1", transfer()))
        gate.set()
        assert (await first).payment.status is PaymentStatus.BOOKED
        assert core.balances["A1"] == Decimal("90.00")

    run(scenario, core)


def test_caller_cancellation_does_not_leave_half_a_payment() -> None:
    """Cancelling the caller's task mid-call still finishes the payment (shielded)."""
    core, entered, gate = gated_core()

    async def scenario(services: BankingServices, core: FakeCore) -> None:
        task = asyncio.create_task(services.payments.transfer(ctx(), cmd("key-1", transfer())))
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gate.set()
        record = await services.storage.keys.get("partner", "key-1")
        assert record is not None
        while True:  # the shielded work finishes on its own; yield until it has
            current = await services.storage.keys.get("partner", "key-1")
            if current is not None and current.state.value == "completed":
                break
            await asyncio.sleep(0)
        payment = await services.storage.journal.get(record.payment_id)
        assert payment is not None and payment.status is PaymentStatus.BOOKED
        assert core.balances["A1"] == Decimal("90.00")

    run(scenario, core)


def test_restart_resolves_payments_left_accepted() -> None:
    """A payment journalled ACCEPTED by a process that died is settled after restart."""
    core = make_core()
    crash = RuntimeError("process died")

    async def crashing_post(posting: CorePosting, *, timeout: float) -> CoreBooking:
        core._book(posting)
        raise crash

    async def first_life(services: BankingServices, core: FakeCore) -> str:
        core.post = crashing_post  # type: ignore[method-assign]
        core.resolve_fails = 1  # the in-line resolution fails too: left for after restart
        with pytest.raises(CoreTimeout) as info:
            await services.payments.transfer(ctx(), cmd("key-1", transfer()))
        return info.value.payment_id or ""

    disk = MemoryStore()
    payment_id = run(first_life, core, disk)

    async def second_life(services: BankingServices, core: FakeCore) -> None:
        assert await resolver(services).run_once(
            include_recent=True) == 1
        payment = await services.payments.get_payment(ctx(), GetPaymentQuery(payment_id=payment_id))
        assert payment.status is PaymentStatus.BOOKED
        assert core.balances["A1"] == Decimal("90.00")

    run(second_life, core, disk)


def test_events_are_durable_and_streamed_in_order() -> None:
    """Booked and rejected payments appear on the stream with growing seq, from a cursor."""
    async def scenario(services: BankingServices, core: FakeCore) -> None:
        start = await services.events.head()
        await services.payments.transfer(ctx(), cmd("k1", transfer()))
        with pytest.raises(InsufficientFunds):
            await services.payments.transfer(ctx(), cmd("k2", transfer("999.00")))
        bill = BillPaymentRequest.model_validate({
            "debtor": {"iban": IBAN_1}, "biller_id": "ELEC01", "customer_reference": "C-1",
            "amount": {"amount": "5.00", "currency": "EUR"}, "end_to_end_id": "B-1"})
        await services.payments.pay_bill(ctx(), BillPaymentCommand(key="k3", request=bill))
        seen = []
        async for event in services.events.stream(start):
            seen.append((event.seq, event.type.value, event.amount.amount))
            if len(seen) == 3:
                break
        assert [s[1:] for s in seen] == [("booked", Decimal("10.00")),
                                         ("rejected", Decimal("999.00")),
                                         ("booked", Decimal("5.00"))]
        assert [s[0] for s in seen] == [start + 1, start + 2, start + 3]

    run(scenario)


def test_payment_visibility() -> None:
    """A payment is visible to its maker and to callers of its accounts, absent to others."""
    async def scenario(services: BankingServices, core: FakeCore) -> None:
        made = await services.payments.transfer(ctx(), cmd("k1", transfer()))
        pid = made.payment.payment_id
        seen = await services.payments.get_payment(ctx(INTERNAL), GetPaymentQuery(payment_id=pid))
        assert seen.payment_id == pid
        with pytest.raises(PaymentNotFound):
            await services.payments.get_payment(ctx(OTHER), GetPaymentQuery(payment_id=pid))
        with pytest.raises(PaymentNotFound):
            await services.payments.get_payment(ctx(), GetPaymentQuery(payment_id="no-such-id"))

    run(scenario)


def test_account_reads_are_authorised() -> None:
    """A caller lists and reads only its accounts; another's account is FORBIDDEN."""
    async def scenario(services: BankingServices, core: FakeCore) -> None:
        accounts = await services.accounts.list_accounts(ctx())
        assert [a.id for a in accounts] == ["A1", "A2"]
        assert len(await services.accounts.list_accounts(ctx(INTERNAL))) == 4
        balance = await services.accounts.get_balance(ctx(), AccountRef(iban=IBAN_1))
        assert str(balance.booked) == "100.00 EUR"
        with pytest.raises(Forbidden):
            await services.accounts.get_account(ctx(), AccountRef(id="A3"))
        with pytest.raises(AccountNotFound):
            await services.accounts.get_account(ctx(INTERNAL), AccountRef(id="NOPE"))

    run(scenario)


def test_two_settlers_at_once_record_one_outcome() -> None:
    """Two concurrent resolutions of one in-doubt payment write one outcome and one event."""
    core = make_core()
    core.script.append("lose_reply")
    core.resolve_fails = 1

    async def scenario(services: BankingServices, core: FakeCore) -> None:
        start = await services.events.head()
        with pytest.raises(CoreTimeout) as info:
            await services.payments.transfer(ctx(), cmd("key-1", transfer()))
        pending = await services.storage.journal.get(info.value.payment_id or "")
        assert pending is not None and pending.status is PaymentStatus.IN_DOUBT
        first, second = await asyncio.gather(services.payments.settle(pending),
                                              services.payments.settle(pending))
        assert first.status is second.status is PaymentStatus.BOOKED
        history = await services.storage.journal.history(pending.payment_id)
        assert [h.status for h in history].count(PaymentStatus.BOOKED) == 1
        events = await services.storage.outbox.since(start, 10)
        assert [(e.payment_id, e.type.value) for e in events] == [(pending.payment_id, "booked")]
        assert core.balances["A1"] == Decimal("90.00")

    run(scenario, core)
