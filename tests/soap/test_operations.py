"""Every SOAP operation through zeep (generated from the served WSDL), over real mutual TLS
with a WS-Security UsernameToken, against a real core_sim: values, ledger effects, faults."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import zeep
import zeep.exceptions

from core_sim.demo_data import DEMO_ACCOUNTS
from tests.harness.adapter import RunningAdapter
from tests.harness.clients import https_client, zeep_client
from tests.harness.core import RunningCore

from .conftest import balance, zeep_fault

LEGACY_EUR, PARTNER_EUR, LEGACY_USD = "10000003", "10000001", "10000004"
IBAN = {a.account_id: a.iban for a in DEMO_ACCOUNTS}


def transfer(client: zeep.Client, amount: str, *, request_id: str | None = None,
             debtor: str = LEGACY_EUR, creditor: str = PARTNER_EUR, currency: str = "EUR"):
    return client.service.TransferFunds(
        RequestId=request_id or uuid.uuid4().hex, Debtor={"AccountId": debtor},
        Creditor={"AccountId": creditor}, Amount=Decimal(amount), Currency=currency,
        EndToEndId="E2E-SOAP-1", Remittance="invoice 42")


def test_list_accounts_returns_exactly_the_callers_accounts(client: zeep.Client) -> None:
    """ListAccounts returns the legacy caller's three accounts and no other."""
    accounts = client.service.ListAccounts()
    assert [(a.AccountId, a.Currency, a.Status) for a in accounts] == [
        ("10000003", "EUR", "ENABLED"), ("10000004", "USD", "ENABLED"),
        ("10000005", "JPY", "ENABLED")]


def test_get_account_by_iban(client: zeep.Client) -> None:
    """GetAccount resolves an IBAN given in paper format (spaces, lower case) to the account."""
    iban = IBAN[LEGACY_EUR]
    assert iban is not None
    paper = " ".join(iban[i:i + 4] for i in range(0, len(iban), 4)).lower()
    account = client.service.GetAccount(Account={"Iban": paper})
    assert (account.AccountId, account.Iban, account.Name) == (LEGACY_EUR, iban, "Carol AG")


def test_get_balance_matches_the_ledger(client: zeep.Client, soap_core: RunningCore) -> None:
    """GetBalance reports the ledger's booked and available amounts as exact decimals."""
    booked, available, currency = soap_core.ledger.balance(LEGACY_USD)
    result = client.service.GetBalance(Account={"AccountId": LEGACY_USD})
    assert (result.Booked, result.Available, result.Currency) == (
        Decimal(booked).scaleb(-2), Decimal(available).scaleb(-2), currency)


def test_transfer_moves_money_once_and_replays(client: zeep.Client,
                                               soap_core: RunningCore) -> None:
    """TransferFunds books once; the same RequestId replays the stored payment unchanged."""
    before = balance(soap_core, LEGACY_EUR), balance(soap_core, PARTNER_EUR)
    request_id = uuid.uuid4().hex
    first = transfer(client, "12.34", request_id=request_id)
    again = transfer(client, "12.34", request_id=request_id)
    after = balance(soap_core, LEGACY_EUR), balance(soap_core, PARTNER_EUR)
    assert (first.Payment.Status, first.Payment.Iso20022Status, first.Replayed) == (
        "BOOKED", "ACSC", False)
    assert (again.Payment.PaymentId, again.Replayed) == (first.Payment.PaymentId, True)
    assert (first.Payment.Amount, first.Payment.Currency) == (Decimal("12.34"), "EUR")
    assert after == (before[0] - 1234, before[1] + 1234)


def test_same_request_id_with_another_payload_is_refused(client: zeep.Client,
                                                         soap_core: RunningCore) -> None:
    """A RequestId reused for a different amount is IDEMPOTENCY_CONFLICT and moves nothing."""
    request_id = uuid.uuid4().hex
    transfer(client, "1.00", request_id=request_id)
    before = balance(soap_core, LEGACY_EUR)
    with pytest.raises(zeep.exceptions.Fault) as caught:
        transfer(client, "2.00", request_id=request_id)
    fault = zeep_fault(caught.value)
    assert (fault["faultcode"], fault["code"]) == ("Client.IDEMPOTENCY_CONFLICT",
                                                    "IDEMPOTENCY_CONFLICT")
    assert len(fault["correlation_id"]) == 32
    assert balance(soap_core, LEGACY_EUR) == before


def test_pay_bill_credits_the_biller(client: zeep.Client, soap_core: RunningCore) -> None:
    """PayBill debits the caller's account and credits the biller's account by the amount."""
    before = balance(soap_core, LEGACY_EUR), balance(soap_core, "90000001")
    result = client.service.PayBill(
        RequestId=uuid.uuid4().hex, Debtor={"AccountId": LEGACY_EUR}, BillerId="ELEC01",
        CustomerReference="CUST-778", Amount=Decimal("45.10"), Currency="EUR",
        EndToEndId="E2E-BILL-1")
    assert (result.Payment.Kind, result.Payment.Status, result.Payment.BillerId) == (
        "BILL_PAYMENT", "BOOKED", "ELEC01")
    assert (balance(soap_core, LEGACY_EUR), balance(soap_core, "90000001")) == (
        before[0] - 4510, before[1] + 4510)


def test_get_payment_status_returns_the_payment(client: zeep.Client) -> None:
    """GetPaymentStatus returns the payment TransferFunds created, with the same values."""
    created = transfer(client, "0.10").Payment
    status = client.service.GetPaymentStatus(PaymentId=created.PaymentId)
    assert (status.PaymentId, status.Status, status.DebtorAccountId, status.CreditorAccountId,
            status.Amount, status.EndToEndId, status.Remittance) == (
        created.PaymentId, "BOOKED", LEGACY_EUR, PARTNER_EUR, Decimal("0.10"), "E2E-SOAP-1",
        "invoice 42")


def test_transaction_history_pages(client: zeep.Client) -> None:
    """GetTransactionHistory pages with Limit and NextCursor without repeating an entry."""
    transfer(client, "0.01")
    transfer(client, "0.02")
    first = client.service.GetTransactionHistory(Account={"AccountId": LEGACY_EUR}, Limit=1)
    second = client.service.GetTransactionHistory(Account={"AccountId": LEGACY_EUR}, Limit=1,
                                                  Cursor=first.NextCursor)
    (a,), (b,) = first.Transactions.Transaction, second.Transactions.Transaction
    assert first.NextCursor is not None
    assert a.TransactionId != b.TransactionId
    assert (a.AccountId, a.CreditDebit, b.CreditDebit) == (LEGACY_EUR, "DBIT", "DBIT")
    assert (a.Amount, b.Amount) == (Decimal("0.02"), Decimal("0.01"))  # newest first


def test_insufficient_funds_is_a_client_fault_with_detail(client: zeep.Client,
                                                          soap_core: RunningCore) -> None:
    """A refused transfer is Client.INSUFFICIENT_FUNDS with the payment id and no booking."""
    before = balance(soap_core, LEGACY_EUR), balance(soap_core, PARTNER_EUR)
    with pytest.raises(zeep.exceptions.Fault) as caught:
        transfer(client, "99999999.00")
    fault = zeep_fault(caught.value)
    assert (fault["faultcode"], fault["code"]) == ("Client.INSUFFICIENT_FUNDS",
                                                    "INSUFFICIENT_FUNDS")
    assert fault["payment_id"] is not None and "Traceback" not in caught.value.message
    assert (balance(soap_core, LEGACY_EUR), balance(soap_core, PARTNER_EUR)) == before


def test_another_callers_account_is_forbidden(client: zeep.Client,
                                              soap_core: RunningCore) -> None:
    """Debiting the partner's account from the legacy caller is Client.FORBIDDEN."""
    before = balance(soap_core, PARTNER_EUR)
    with pytest.raises(zeep.exceptions.Fault) as caught:
        transfer(client, "1.00", debtor=PARTNER_EUR, creditor=LEGACY_EUR)
    assert zeep_fault(caught.value)["code"] == "FORBIDDEN"
    assert str(caught.value.code).endswith("Client.FORBIDDEN")
    assert balance(soap_core, PARTNER_EUR) == before


def test_too_many_decimals_is_refused_not_rounded(client: zeep.Client,
                                                  soap_core: RunningCore) -> None:
    """12.345 EUR is Client.VALIDATION naming Amount; nothing is booked."""
    before = balance(soap_core, LEGACY_EUR)
    with pytest.raises(zeep.exceptions.Fault) as caught:
        transfer(client, "12.345")
    assert zeep_fault(caught.value)["code"] == "VALIDATION"
    assert "Amount" in caught.value.message
    assert balance(soap_core, LEGACY_EUR) == before


def test_password_text_token_works_with_zeep(adapter: RunningAdapter) -> None:
    """zeep's PasswordText UsernameToken (no nonce, no created) is accepted."""
    c = zeep_client(adapter, digest=False)
    try:
        assert c.service.GetBalance(Account={"AccountId": LEGACY_EUR}).Currency == "EUR"
    finally:
        c.transport.session.close()


def test_wrong_password_is_unauthenticated(adapter: RunningAdapter) -> None:
    """A UsernameToken with the wrong password is Client.UNAUTHENTICATED, text or digest."""
    for digest in (True, False):
        c = zeep_client(adapter, digest=digest, password="not-the-password")
        try:
            with pytest.raises(zeep.exceptions.Fault) as caught:
                c.service.ListAccounts()
            assert zeep_fault(caught.value)["code"] == "UNAUTHENTICATED"
        finally:
            c.transport.session.close()


def test_transfer_over_soap_is_visible_over_rest(client: zeep.Client,
                                                 adapter: RunningAdapter) -> None:
    """The REST front-end shows a SOAP transfer under the same payment id and status."""
    payment = transfer(client, "3.21").Payment
    with https_client(adapter, "legacy") as rest:
        body = rest.get(f"{adapter.base_url}/v1/payments/{payment.PaymentId}").json()
    assert (body["paymentId"], body["status"], body["transactionStatus"]) == (
        payment.PaymentId, payment.Status.lower(), payment.Iso20022Status)
