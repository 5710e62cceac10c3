"""The matrix: the same operations through each front-end (REST, SOAP, gRPC) and each
connector (SOAP, ISO 8583) give the same canonical outcome and the same ledger effect.

One core_sim serves two adapters at once, one per connector. Each front-end speaks as its
natural caller (REST: partner, SOAP: legacy with WS-Security, gRPC: internal), so each row
moves money on that caller's accounts; the assertions compare outcomes and ledger deltas.
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import requests
import zeep
import zeep.exceptions
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2_grpc as pb_grpc
from adapter.infra.tls import client_context, grpc_channel_credentials
from tests.harness.adapter import RunningAdapter, run_adapter
from tests.harness.core import RunningCore, running_core

BILLER_ACCOUNT = "90000001"


@dataclass(frozen=True)
class Outcome:
    """What a caller learns: the ISO 20022 status of a payment, or the canonical error code."""

    status: str | None
    error: str | None


class Rest:
    def __init__(self, adapter: RunningAdapter) -> None:
        ctx = client_context(adapter.client("partner"), adapter.ca)
        self.http = httpx.Client(verify=ctx, base_url=adapter.base_url, timeout=10)
        self.debtor, self.creditor = "10000001", "10000002"

    def _post(self, path: str, body: dict[str, Any]) -> Outcome:
        reply = self.http.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        data = reply.json()
        if reply.status_code == 201:
            return Outcome(data["transactionStatus"], None)
        return Outcome(None, data["code"])

    def transfer(self, amount: str) -> Outcome:
        return self._post("/v1/transfers", {
            "debtorAccount": {"id": self.debtor}, "creditorAccount": {"id": self.creditor},
            "instructedAmount": {"currency": "EUR", "amount": amount},
            "endToEndIdentification": "MATRIX-REST"})

    def pay_bill(self, amount: str) -> Outcome:
        return self._post("/v1/bill-payments", {
            "debtorAccount": {"id": self.debtor}, "billerId": "ELEC01",
            "customerReference": "CUST-1",
            "instructedAmount": {"currency": "EUR", "amount": amount},
            "endToEndIdentification": "MATRIX-REST-BILL"})

    def booked_balance(self) -> Decimal:
        data = self.http.get(f"/v1/accounts/{self.debtor}/balances").json()
        booked = next(b for b in data["balances"] if b["balanceType"] == "interimBooked")
        return Decimal(booked["balanceAmount"]["amount"])

    def close(self) -> None:
        self.http.close()


class Soap:
    def __init__(self, adapter: RunningAdapter) -> None:
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = str(adapter.ca)
        self.session.cert = (str(adapter.pki_dir / "legacy.crt"),
                             str(adapter.pki_dir / "legacy.key"))
        self.client = zeep.Client(
            f"{adapter.soap_url}?wsdl", transport=Transport(session=self.session),
            wsse=UsernameToken("legacy", adapter.legacy_password, use_digest=True))
        self.debtor, self.creditor = "10000003", "10000001"

    def _call(self, operation: str, **kwargs: Any) -> Outcome:
        try:
            result = getattr(self.client.service, operation)(
                RequestId=str(uuid.uuid4()), Debtor={"AccountId": self.debtor}, **kwargs)
        except zeep.exceptions.Fault as fault:
            assert fault.detail is not None
            code = fault.detail.find(".//{*}Code")
            assert code is not None
            return Outcome(None, code.text)
        return Outcome(result.Payment.Iso20022Status, None)

    def transfer(self, amount: str) -> Outcome:
        return self._call("TransferFunds", Creditor={"AccountId": self.creditor},
                          Amount=amount, Currency="EUR", EndToEndId="MATRIX-SOAP")

    def pay_bill(self, amount: str) -> Outcome:
        return self._call("PayBill", BillerId="ELEC01", CustomerReference="CUST-1",
                          Amount=amount, Currency="EUR", EndToEndId="MATRIX-SOAP-BILL")

    def booked_balance(self) -> Decimal:
        return Decimal(self.client.service.GetBalance(Account={"AccountId": self.debtor}).Booked)

    def close(self) -> None:
        self.session.close()


class Grpc:
    def __init__(self, adapter: RunningAdapter) -> None:
        creds = grpc_channel_credentials(adapter.client("internal"), adapter.ca)
        self.channel = grpc.secure_channel(adapter.grpc_target, creds)
        self.stub = pb_grpc.BankingServiceStub(self.channel)
        self.debtor, self.creditor = "10000002", "10000003"

    def _call(self, method: Callable[..., pb.Payment], request: Any) -> Outcome:
        try:
            payment = method(request, timeout=10)
        except grpc.RpcError as err:
            status = rpc_status.from_call(err)  # type: ignore[arg-type]
            assert status is not None
            info = error_details_pb2.ErrorInfo()
            assert any(d.Unpack(info) for d in status.details)
            return Outcome(None, info.reason)
        return Outcome(payment.iso20022_status, None)

    def transfer(self, amount: str) -> Outcome:
        return self._call(self.stub.TransferFunds, pb.TransferFundsRequest(
            request_id=str(uuid.uuid4()), debtor=pb.AccountRef(id=self.debtor),
            creditor=pb.AccountRef(id=self.creditor),
            amount=pb.Money(amount=amount, currency="EUR"), end_to_end_id="MATRIX-GRPC"))

    def pay_bill(self, amount: str) -> Outcome:
        return self._call(self.stub.PayBill, pb.PayBillRequest(
            request_id=str(uuid.uuid4()), debtor=pb.AccountRef(id=self.debtor),
            biller_id="ELEC01", customer_reference="CUST-1",
            amount=pb.Money(amount=amount, currency="EUR"), end_to_end_id="MATRIX-GRPC-BILL"))

    def booked_balance(self) -> Decimal:
        balance = self.stub.GetBalance(
            pb.GetBalanceRequest(account=pb.AccountRef(id=self.debtor)), timeout=10)
        return Decimal(balance.booked.amount)

    def close(self) -> None:
        self.channel.close()


FRONTENDS: dict[str, type[Rest | Soap | Grpc]] = {"rest": Rest, "soap": Soap, "grpc": Grpc}
CONNECTORS = ("soap", "iso8583")


@pytest.fixture(scope="module")
def core(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCore]:
    with running_core(pki_dir, tmp_path_factory.mktemp("matrix-core") / "core.db") as running:
        yield running


@pytest.fixture(scope="module")
def adapters(core: RunningCore, pki_dir: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningAdapter]]:
    with run_adapter(tmp_path_factory.mktemp("via-soap"), pki_dir,
                     core_soap_url=core.soap_url, core_connector="soap") as via_soap, \
         run_adapter(tmp_path_factory.mktemp("via-iso"), pki_dir,
                     core_soap_url=core.soap_url, core_connector="iso8583",
                     core_iso_port=core.iso_port) as via_iso:
        yield {"soap": via_soap, "iso8583": via_iso}
        gc.collect()  # zeep Fault tracebacks hold connections; let the servers stop promptly


def _minor(ledger: Any, account_id: str) -> int:
    booked, _, _ = ledger.balance(account_id)
    return int(booked)


@pytest.mark.parametrize("connector", CONNECTORS)
@pytest.mark.parametrize("frontend", list(FRONTENDS))
def test_same_outcome_and_ledger_effect(frontend: str, connector: str, core: RunningCore,
                                        adapters: dict[str, RunningAdapter]) -> None:
    """Transfer, refused transfer, bill payment and balance agree across the whole matrix."""
    ledger = core.ledger
    client = FRONTENDS[frontend](adapters[connector])
    accounts = (client.debtor, client.creditor, BILLER_ACCOUNT)
    try:
        totals = ledger.totals()
        before = {a: _minor(ledger, a) for a in accounts}
        assert client.booked_balance() == Decimal(before[client.debtor]) / 100

        assert client.transfer("1.25") == Outcome("ACSC", None)
        assert client.transfer("999999.00") == Outcome(None, "INSUFFICIENT_FUNDS")
        assert client.pay_bill("2.00") == Outcome("ACSC", None)

        after = {a: _minor(ledger, a) for a in accounts}
        assert {a: after[a] - before[a] for a in accounts} == {
            client.debtor: -325, client.creditor: 125, BILLER_ACCOUNT: 200}
        assert client.booked_balance() == Decimal(after[client.debtor]) / 100
        assert ledger.totals() == totals
    finally:
        client.close()
