"""One identifier per booking, on every protocol (issue 12.5): a booked payment's transaction
id is the string the history entries of that booking carry, on both accounts, over REST, SOAP
and gRPC; and every account reference REST answers with is complete (id and IBAN) or has no
`iban` at all, never `"iban": null`. One live adapter, real core_sim, real mutual TLS; each
booking is checked against the ledger too."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
import zeep

from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2_grpc as pb_grpc
from adapter.infra.tls import grpc_channel_credentials
from core_sim.demo_data import DEMO_ACCOUNTS
from tests.harness.adapter import RunningAdapter, run_adapter
from tests.harness.clients import https_client, zeep_client
from tests.harness.core import RunningCore, running_core

IBAN = {a.account_id: a.iban for a in DEMO_ACCOUNTS}
NO_IBAN = "10000099"  # a JPY account opened for this test, without an IBAN


@pytest.fixture(scope="module")
def live(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory,
         ) -> Iterator[tuple[RunningCore, RunningAdapter]]:
    tmp = tmp_path_factory.mktemp("booking-id")
    with running_core(pki_dir, tmp / "core.db") as core, \
            run_adapter(tmp, pki_dir, core_soap_url=core.soap_url) as adapter:
        core.ledger.add_account(NO_IBAN, "JPY", "No IBAN KK", 0)
        yield core, adapter


def _ledger_moved(core: RunningCore, debtor: str, creditor: str, minor: int,
                  before: tuple[int, int]) -> None:
    assert (core.ledger.balance(debtor)[0], core.ledger.balance(creditor)[0]) == (
        before[0] - minor, before[1] + minor)


def test_rest_payment_and_history_name_one_booking(
        live: tuple[RunningCore, RunningAdapter]) -> None:
    core, adapter = live
    before = core.ledger.balance("10000001")[0], core.ledger.balance("10000002")[0]
    with https_client(adapter, "partner", base_url=adapter.base_url) as http:
        created = http.post("/v1/transfers", headers={"Idempotency-Key": str(uuid.uuid4())},
                            json={"debtorAccount": {"id": "10000001"},
                                  "creditorAccount": {"iban": IBAN["10000002"]},
                                  "instructedAmount": {"currency": "EUR", "amount": "1.25"},
                                  "endToEndIdentification": "ONE-ID-REST"})
        assert created.status_code == 201, created.text
        payment = created.json()
        tx = payment["transactionId"]
        assert tx.startswith("TX")
        assert http.get(f"/v1/payments/{payment['paymentId']}").json()["transactionId"] == tx
        debit = http.get("/v1/accounts/10000001/transactions",
                         params={"limit": 1}).json()["transactions"]["booked"][0]
        credit = http.get("/v1/accounts/10000002/transactions",
                          params={"limit": 1}).json()["transactions"]["booked"][0]
    _ledger_moved(core, "10000001", "10000002", 125, before)
    assert (debit["transactionId"], credit["transactionId"]) == (tx, tx)
    assert (debit["endToEndId"], credit["endToEndId"]) == ("ONE-ID-REST", "ONE-ID-REST")
    # Complete references: each counterparty with its IBAN, as the payment shows them.
    assert debit["creditorAccount"] == {"id": "10000002", "iban": IBAN["10000002"]}
    assert credit["debtorAccount"] == {"id": "10000001", "iban": IBAN["10000001"]}
    assert payment["debtorAccount"] == {"id": "10000001", "iban": IBAN["10000001"]}
    assert payment["creditorAccount"] == {"id": "10000002", "iban": IBAN["10000002"]}


def test_an_account_without_iban_is_named_by_id_alone(
        live: tuple[RunningCore, RunningAdapter]) -> None:
    """No `"iban": null` anywhere: an account without an IBAN has no `iban` member."""
    core, adapter = live
    before = core.ledger.balance("10000005")[0], core.ledger.balance(NO_IBAN)[0]
    with https_client(adapter, "internal", base_url=adapter.base_url) as http:
        created = http.post("/v1/transfers", headers={"Idempotency-Key": str(uuid.uuid4())},
                            json={"debtorAccount": {"id": "10000005"},
                                  "creditorAccount": {"id": NO_IBAN},
                                  "instructedAmount": {"currency": "JPY", "amount": "700"},
                                  "endToEndIdentification": "ONE-ID-JPY"})
        assert created.status_code == 201, created.text
        raw = created.text
        history = http.get("/v1/accounts/10000005/transactions", params={"limit": 1})
        balances = http.get(f"/v1/accounts/{NO_IBAN}/balances")
    _ledger_moved(core, "10000005", NO_IBAN, 700, before)
    payment = created.json()
    entry = history.json()["transactions"]["booked"][0]
    assert payment["debtorAccount"] == {"id": "10000005"}
    assert payment["creditorAccount"] == {"id": NO_IBAN}
    assert entry["creditorAccount"] == {"id": NO_IBAN}
    assert entry["transactionId"] == payment["transactionId"]
    assert history.json()["account"] == {"id": "10000005"}
    assert balances.json()["account"] == {"id": NO_IBAN}
    for text in (raw, history.text, balances.text):
        assert '"iban":null' not in text.replace(" ", "")


def test_soap_payment_and_history_name_one_booking(
        live: tuple[RunningCore, RunningAdapter]) -> None:
    core, adapter = live
    before = core.ledger.balance("10000003")[0], core.ledger.balance("10000001")[0]
    client: zeep.Client = zeep_client(adapter)
    try:
        created = client.service.TransferFunds(
            RequestId=uuid.uuid4().hex, Debtor={"AccountId": "10000003"},
            Creditor={"AccountId": "10000001"}, Amount=Decimal("2.50"), Currency="EUR",
            EndToEndId="ONE-ID-SOAP").Payment
        status = client.service.GetPaymentStatus(PaymentId=created.PaymentId)
        page = client.service.GetTransactionHistory(Account={"AccountId": "10000003"}, Limit=1)
    finally:
        client.transport.session.close()
    _ledger_moved(core, "10000003", "10000001", 250, before)
    (entry,) = page.Transactions.Transaction
    assert created.CoreTransactionId.startswith("TX")
    assert status.CoreTransactionId == created.CoreTransactionId
    assert (entry.TransactionId, entry.EndToEndId) == (created.CoreTransactionId, "ONE-ID-SOAP")
    # The other side of the same booking, over REST by a caller who may see it.
    with https_client(adapter, "partner", base_url=adapter.base_url) as http:
        credit = http.get("/v1/accounts/10000001/transactions",
                          params={"limit": 1}).json()["transactions"]["booked"][0]
    assert credit["transactionId"] == created.CoreTransactionId


def test_grpc_payment_and_history_name_one_booking(
        live: tuple[RunningCore, RunningAdapter]) -> None:
    core, adapter = live
    before = core.ledger.balance("10000002")[0], core.ledger.balance("10000003")[0]
    creds = grpc_channel_credentials(adapter.client("internal"), adapter.ca)
    with grpc.secure_channel(adapter.grpc_target, creds) as channel:
        stub: Any = pb_grpc.BankingServiceStub(channel)
        payment = stub.TransferFunds(pb.TransferFundsRequest(
            request_id=uuid.uuid4().hex, debtor=pb.AccountRef(id="10000002"),
            creditor=pb.AccountRef(id="10000003"),
            amount=pb.Money(amount="3.75", currency="EUR"), end_to_end_id="ONE-ID-GRPC"),
            timeout=15)
        again = stub.GetPayment(pb.GetPaymentRequest(payment_id=payment.payment_id), timeout=15)
        pages = [stub.ListTransactions(pb.ListTransactionsRequest(
            account=pb.AccountRef(id=account), page_size=1), timeout=15)
            for account in ("10000002", "10000003")]
    _ledger_moved(core, "10000002", "10000003", 375, before)
    assert payment.core_transaction_id.startswith("TX")
    assert again.core_transaction_id == payment.core_transaction_id
    assert [p.transactions[0].transaction_id for p in pages] == [payment.core_transaction_id] * 2
    assert [p.transactions[0].end_to_end_id for p in pages] == ["ONE-ID-GRPC"] * 2
