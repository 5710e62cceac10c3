"""Every BankingService RPC over real mutual TLS against core_sim: answers, exact status codes,
ErrorInfo reasons, and ledger balances."""

from __future__ import annotations

import uuid

import grpc

from adapter.frontends.grpc.errors import DOMAIN
from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from tests.grpc.support import Env, call_error, money, ref, run


def new_id() -> str:
    return str(uuid.uuid4())


def transfer(debtor: str, creditor: str, amount: str, currency: str = "EUR",
             request_id: str | None = None) -> pb.TransferFundsRequest:
    return pb.TransferFundsRequest(
        request_id=request_id or new_id(), debtor=ref(debtor), creditor=ref(creditor),
        amount=money(amount, currency), end_to_end_id="E2E-GRPC-1", remittance="invoice 42")


def test_get_account_by_id_and_iban(env: Env) -> None:
    """GetAccount answers the same account whether named by id or by IBAN."""
    async def go() -> tuple[pb.Account, pb.Account]:
        async with env.channel("partner") as ch:
            stub = env.stub(ch)
            by_id = await stub.GetAccount(pb.GetAccountRequest(account=ref("10000001")))
            by_iban = await stub.GetAccount(pb.GetAccountRequest(
                account=pb.AccountRef(iban="DE89 3704 0044 0532 0130 00")))
            return by_id, by_iban

    by_id, by_iban = run(go())
    assert by_id == by_iban
    assert (by_id.id, by_id.iban, by_id.currency, by_id.name, by_id.status) == (
        "10000001", "DE89370400440532013000", "EUR", "Alice GmbH", pb.ACCOUNT_STATUS_ENABLED)


def test_list_accounts_is_scoped_to_the_caller(env: Env) -> None:
    """ListAccounts shows a partner its two accounts and the internal caller every account."""
    async def go() -> tuple[list[str], list[str]]:
        async with env.channel("partner") as p, env.channel("internal") as i:
            mine = await env.stub(p).ListAccounts(pb.ListAccountsRequest())
            every = await env.stub(i).ListAccounts(pb.ListAccountsRequest())
            return [a.id for a in mine.accounts], [a.id for a in every.accounts]

    mine, every = run(go())
    assert mine == ["10000001", "10000002"]
    assert {"10000001", "10000002", "10000003", "10000004", "10000005"} <= set(every)


def test_get_balance_matches_the_ledger(env: Env) -> None:
    """GetBalance reports the ledger's booked balance as a decimal string in the currency."""
    async def go() -> pb.Balance:
        async with env.channel("legacy") as ch:
            return await env.stub(ch).GetBalance(pb.GetBalanceRequest(account=ref("10000005")))

    balance = run(go())
    booked, _, currency = env.core.ledger.balance("10000005")
    assert currency == "JPY"
    assert (balance.account_id, balance.booked.currency) == ("10000005", "JPY")
    assert balance.booked.amount == str(booked)  # JPY has no minor units
    assert balance.as_of.seconds > 0


def test_transfer_moves_money_once_and_replays(env: Env) -> None:
    """TransferFunds books once; the same request_id again replays the same payment."""
    before = (env.booked("10000001"), env.booked("10000002"))
    request = transfer("10000001", "10000002", "12.50")

    async def go() -> tuple[pb.Payment, pb.Payment]:
        async with env.channel("partner") as ch:
            stub = env.stub(ch)
            return await stub.TransferFunds(request), await stub.TransferFunds(request)

    first, again = run(go())
    assert (first.status, first.iso20022_status, first.kind) == (
        pb.PAYMENT_STATUS_BOOKED, "ACSC", pb.PAYMENT_KIND_TRANSFER)
    assert (first.amount.amount, first.amount.currency) == ("12.50", "EUR")
    assert (first.debtor_account_id, first.creditor_account_id) == ("10000001", "10000002")
    assert first.core_transaction_id and first.booked_at.seconds > 0 and not first.replayed
    assert again.replayed and again.payment_id == first.payment_id
    assert (env.booked("10000001"), env.booked("10000002")) == (before[0] - 1250,
                                                                before[1] + 1250)


def test_same_request_id_different_payload_is_already_exists(env: Env) -> None:
    """Reusing a request_id for a different transfer is ALREADY_EXISTS / IDEMPOTENCY_CONFLICT."""
    key = new_id()

    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("partner") as ch:
            stub = env.stub(ch)
            await stub.TransferFunds(transfer("10000001", "10000002", "1.00", request_id=key))
            before = env.booked("10000001")
            err = await call_error(stub.TransferFunds(
                transfer("10000001", "10000002", "2.00", request_id=key)))
            return err, before

    err, before = run(go())
    assert err.code is grpc.StatusCode.ALREADY_EXISTS
    assert (err.info.reason, err.info.domain) == ("IDEMPOTENCY_CONFLICT", DOMAIN)
    assert len(err.info.metadata["correlation_id"]) == 32
    assert env.booked("10000001") == before


def test_insufficient_funds_is_failed_precondition(env: Env) -> None:
    """A transfer above the available balance is FAILED_PRECONDITION / INSUFFICIENT_FUNDS."""
    before = env.booked("10000002")

    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("partner") as ch:
            return await call_error(env.stub(ch).TransferFunds(
                transfer("10000002", "10000001", "999999.00")))

    err = run(go())
    assert err.code is grpc.StatusCode.FAILED_PRECONDITION
    assert err.info.reason == "INSUFFICIENT_FUNDS"
    assert err.info.metadata["payment_id"]
    assert env.booked("10000002") == before


def test_account_outside_the_callers_scope_is_permission_denied(env: Env) -> None:
    """A partner reading another client's account gets PERMISSION_DENIED / FORBIDDEN."""
    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("partner") as ch:
            return await call_error(env.stub(ch).GetBalance(
                pb.GetBalanceRequest(account=ref("10000003"))))

    err = run(go())
    assert (err.code, err.info.reason) == (grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN")
    assert err.message == "this client may not use this account"


def test_unknown_account_is_not_found(env: Env) -> None:
    """An account the core does not know is NOT_FOUND / ACCOUNT_NOT_FOUND."""
    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("internal") as ch:
            return await call_error(env.stub(ch).GetAccount(
                pb.GetAccountRequest(account=ref("19999999"))))

    err = run(go())
    assert (err.code, err.info.reason) == (grpc.StatusCode.NOT_FOUND, "ACCOUNT_NOT_FOUND")


def test_pay_bill_books_to_the_biller(env: Env) -> None:
    """PayBill books from the debtor to the biller's account."""
    before = (env.booked("10000003"), env.booked("90000001"))

    async def go() -> pb.Payment:
        async with env.channel("legacy") as ch:
            return await env.stub(ch).PayBill(pb.PayBillRequest(
                request_id=new_id(), debtor=ref("10000003"), biller_id="ELEC01",
                customer_reference="CUST-778", amount=money("40.10"), end_to_end_id="BILL-1"))

    payment = run(go())
    assert (payment.status, payment.kind, payment.biller_id, payment.customer_reference) == (
        pb.PAYMENT_STATUS_BOOKED, pb.PAYMENT_KIND_BILL_PAYMENT, "ELEC01", "CUST-778")
    assert (env.booked("10000003"), env.booked("90000001")) == (before[0] - 4010,
                                                                before[1] + 4010)


def test_unknown_biller_is_not_found(env: Env) -> None:
    """PayBill to a biller the core does not know is NOT_FOUND / BILLER_NOT_FOUND."""
    before = env.booked("10000003")

    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("legacy") as ch:
            return await call_error(env.stub(ch).PayBill(pb.PayBillRequest(
                request_id=new_id(), debtor=ref("10000003"), biller_id="NOPE01",
                customer_reference="C-1", amount=money("1.00"), end_to_end_id="BILL-2")))

    err = run(go())
    assert (err.code, err.info.reason) == (grpc.StatusCode.NOT_FOUND, "BILLER_NOT_FOUND")
    assert env.booked("10000003") == before


def test_get_payment_for_owner_and_not_for_others(env: Env) -> None:
    """GetPayment shows a payment to its maker and NOT_FOUND to a caller who may not see it."""
    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("partner") as p, env.channel("legacy") as lg:
            made = await env.stub(p).TransferFunds(transfer("10000001", "10000002", "0.01"))
            seen = await env.stub(p).GetPayment(pb.GetPaymentRequest(payment_id=made.payment_id))
            err = await call_error(env.stub(lg).GetPayment(
                pb.GetPaymentRequest(payment_id=made.payment_id)))
            return made, seen, err

    made, seen, err = run(go())
    assert seen.payment_id == made.payment_id and seen.status == pb.PAYMENT_STATUS_BOOKED
    assert not seen.replayed
    assert (err.code, err.info.reason) == (grpc.StatusCode.NOT_FOUND, "PAYMENT_NOT_FOUND")


def test_list_transactions_pages_through_history(env: Env) -> None:
    """ListTransactions pages with page_size and next_page_token, newest entry first."""
    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("partner") as ch:
            stub = env.stub(ch)
            for amount in ("0.02", "0.03"):
                await stub.TransferFunds(transfer("10000002", "10000001", amount))
            first = await stub.ListTransactions(pb.ListTransactionsRequest(
                account=ref("10000002"), page_size=1))
            second = await stub.ListTransactions(pb.ListTransactionsRequest(
                account=ref("10000002"), page_size=1, page_token=first.next_page_token))
            return first, second

    first, second = run(go())
    assert [t.amount.amount for t in first.transactions] == ["0.03"]
    assert [t.amount.amount for t in second.transactions] == ["0.02"]
    assert first.next_page_token
    newest = first.transactions[0]
    assert (newest.account_id, newest.credit_debit, newest.counterparty_account_id) == (
        "10000002", pb.CREDIT_DEBIT_DEBIT, "10000001")


def test_partner_may_not_watch(env: Env) -> None:
    """WatchTransactions needs the 'watch' operation: a partner gets PERMISSION_DENIED."""
    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("partner") as ch:
            stream = env.stub(ch).WatchTransactions(pb.WatchTransactionsRequest())
            return await call_error(stream.read())

    err = run(go())
    assert (err.code, err.info.reason) == (grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN")
