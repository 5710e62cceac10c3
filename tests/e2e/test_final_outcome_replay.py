"""Issue 13 item 8: once the resolver settles a payment that was left in doubt, a replay of
its idempotency key answers the payment in its final status (PaymentService Rule 5), on
REST, SOAP and gRPC, instead of CORE_TIMEOUT "pending" for ever.

One real core_sim and one adapter (core and resolve timeouts of 1 s), real mutual TLS. Each
case puts the payment in doubt with the core's fault switches, checks the first answer is
CORE_TIMEOUT naming the payment, clears the faults, runs the resolver's pass, replays the
key and checks the ledger:
- "rejected": the core ignores every request (stop_answering): the posting never arrives
  and the in-line status query is unanswered; the resolver then fences the reference (RJCT,
  nothing moved, and a late original would be refused).
- "booked": the core answers after 2.5 s: the posting books after the adapter gave up, the
  in-line status query times out too; the resolver then finds it booked (ACSC, moved once).
"""

from __future__ import annotations

import asyncio
import gc
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
import zeep.exceptions

from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from adapter.frontends.grpc.gen.bank.adapter.v1.banking_pb2_grpc import BankingServiceStub
from adapter.infra.tls import TlsFiles, grpc_channel_credentials
from adapter.services.resolver import Resolver
from tests.grpc.support import rich_error
from tests.harness.adapter import RunningAdapter, run_adapter
from tests.harness.clients import https_client, zeep_client
from tests.harness.core import RunningCore, running_core
from tests.soap.conftest import zeep_fault

WAIT = 15.0


@dataclass
class Bank:
    core: RunningCore
    adapter: RunningAdapter

    def booked(self, *accounts: str) -> tuple[int, ...]:
        return tuple(self.core.ledger.balance(a)[0] for a in accounts)

    def settle_in_doubt(self) -> int:
        """One pass of the in-doubt resolver the adapter runs (the same class and services),
        now rather than after its interval."""
        services = self.adapter.services
        # Under the adapter's own resolver's name: that resolver may already hold the lease
        # on the payment (it wakes as soon as one is in doubt), and a lease is re-taken only
        # by its holder until it lapses (resolver Rule 1).
        running = self.adapter.app._resolver
        assert running is not None
        resolver = Resolver(services.payments, services.storage.journal, services.storage.keys,
                            owner=running.owner)
        return self.adapter.run(resolver.run_once(include_recent=True))

    def status(self, payment_id: str) -> str:
        payment = self.adapter.run(self.adapter.services.storage.journal.get(payment_id))
        return str(payment.status.value)


@pytest.fixture(scope="module")
def bank(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bank]:
    tmp = tmp_path_factory.mktemp("final-outcome")
    with running_core(pki_dir, tmp / "core.db") as core, \
            run_adapter(tmp, pki_dir, core_soap_url=core.soap_url, core_timeout=1.0,
                        resolve_timeout=1.0) as adapter:
        yield Bank(core, adapter)
        gc.collect()  # zeep Faults keep their HTTPS connections in reference cycles


@dataclass(frozen=True)
class Answer:
    """One protocol's answer reduced to what the assertions compare."""

    error: str | None  # the canonical code of a refusal
    payment_id: str
    status: str | None = None  # ISO 20022 status of an answered payment
    reason: str | None = None
    replayed: bool | None = None


class Rest:
    debtor, creditor = "10000001", "10000002"

    def __init__(self, bank: Bank) -> None:
        self._http = https_client(bank.adapter, "partner", base_url=bank.adapter.base_url,
                                  timeout=WAIT)

    def close(self) -> None:
        self._http.close()

    def transfer(self, key: str, amount: str) -> Answer:
        r = self._http.post("/v1/transfers", headers={"Idempotency-Key": key}, json={
            "debtorAccount": {"id": self.debtor}, "creditorAccount": {"id": self.creditor},
            "instructedAmount": {"currency": "EUR", "amount": amount},
            "endToEndIdentification": "E2E-FINAL"})
        body = r.json()
        if r.status_code != 201:
            assert (r.status_code, body["code"]) == (504, "CORE_TIMEOUT"), r.text
            return Answer(body["code"], body["paymentId"])
        return Answer(None, body["paymentId"], body["transactionStatus"], body.get("reasonCode"),
                      r.headers.get("idempotent-replayed") == "true")


class Soap:
    debtor, creditor = "10000003", "10000001"
    ISO = {"BOOKED": "ACSC", "REJECTED": "RJCT", "REVERSED": "CANC"}

    def __init__(self, bank: Bank) -> None:
        self._client = zeep_client(bank.adapter)

    def close(self) -> None:
        self._client.transport.session.close()

    def transfer(self, key: str, amount: str) -> Answer:
        try:
            result = self._client.service.TransferFunds(
                RequestId=key, Debtor={"AccountId": self.debtor},
                Creditor={"AccountId": self.creditor}, Amount=Decimal(amount), Currency="EUR",
                EndToEndId="E2E-FINAL")
        except zeep.exceptions.Fault as exc:
            fault = zeep_fault(exc)
            assert (fault["faultcode"], fault["code"]) == ("Server.CORE_TIMEOUT",
                                                            "CORE_TIMEOUT"), fault
            return Answer(fault["code"], fault["payment_id"])
        p = result.Payment
        assert p.Iso20022Status == self.ISO[p.Status]
        return Answer(None, p.PaymentId, p.Iso20022Status, p.ReasonCode, bool(result.Replayed))


class Grpc:
    debtor, creditor = "10000002", "10000001"
    ISO = {pb.PAYMENT_STATUS_BOOKED: "ACSC", pb.PAYMENT_STATUS_REJECTED: "RJCT",
           pb.PAYMENT_STATUS_REVERSED: "CANC"}

    def __init__(self, bank: Bank) -> None:
        self._adapter = bank.adapter

    def close(self) -> None:
        pass

    def transfer(self, key: str, amount: str) -> Answer:
        async def call() -> Answer:
            creds = grpc_channel_credentials(
                TlsFiles.from_dir(self._adapter.pki_dir, "internal"), self._adapter.ca)
            async with grpc.aio.secure_channel(self._adapter.grpc_target, creds) as channel:
                try:
                    p = await BankingServiceStub(channel).TransferFunds(pb.TransferFundsRequest(
                        request_id=key, debtor=pb.AccountRef(id=self.debtor),
                        creditor=pb.AccountRef(id=self.creditor),
                        amount=pb.Money(amount=amount, currency="EUR"),
                        end_to_end_id="E2E-FINAL"), timeout=WAIT)
                except grpc.aio.AioRpcError as exc:
                    error = rich_error(exc)
                    assert (error.code, error.info.reason) == (
                        grpc.StatusCode.DEADLINE_EXCEEDED, "CORE_TIMEOUT"), error
                    return Answer(error.info.reason, error.info.metadata["payment_id"])
            return Answer(None, p.payment_id, self.ISO[p.status], p.reason_code or None,
                          p.replayed)

        return asyncio.run(call())


PROTOCOLS: dict[str, Callable[[Bank], Any]] = {"rest": Rest, "soap": Soap, "grpc": Grpc}


def put_in_doubt(bank: Bank, outcome: str) -> None:
    """The fault switches of the module docstring's two cases."""
    if outcome == "rejected":
        bank.core.faults.update(stop_answering=True)
    else:
        bank.core.faults.update(latency_ms=2500)


@pytest.mark.parametrize("outcome", ["rejected", "booked"])
@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_replay_after_the_resolver_settles_answers_the_final_status(
        bank: Bank, protocol: str, outcome: str) -> None:
    """In doubt (CORE_TIMEOUT naming the payment) -> resolver settles -> the replay is the
    payment, RJCT (reason CORE_TIMEOUT, nothing moved) or ACSC (moved once), on every
    protocol; a second replay answers the same."""
    client = PROTOCOLS[protocol](bank)
    try:
        # Warm the connection to the core and the account directory: only the posting meets
        # the faults.
        warm = client.transfer(str(uuid.uuid4()), "0.01")
        assert (warm.error, warm.status) == (None, "ACSC")
        accounts = (client.debtor, client.creditor)
        before = bank.booked(*accounts)
        key = str(uuid.uuid4())
        try:
            put_in_doubt(bank, outcome)
            first = client.transfer(key, "7.25")
            assert first.error == "CORE_TIMEOUT" and first.payment_id
            if outcome == "booked":
                # The core books once its latency is over: wait for that, faults still on, so
                # no resolution the adapter sends meanwhile can reach the ledger first.
                # The ledger wakes the test at each commit (core_sim ledger.wait_until).
                assert bank.core.ledger.wait_until(
                    lambda: bank.booked(*accounts) == (before[0] - 725, before[1] + 725),
                    WAIT), "the delayed posting was never booked"
        finally:
            bank.core.faults.reset()
        assert bank.status(first.payment_id) == "in_doubt"
        assert bank.settle_in_doubt() >= 1
        replay = client.transfer(key, "7.25")
        again = client.transfer(key, "7.25")
    finally:
        client.close()
    moved = 725 if outcome == "booked" else 0
    expected = (Answer(None, first.payment_id, "ACSC", None, True) if outcome == "booked"
                else Answer(None, first.payment_id, "RJCT", "CORE_TIMEOUT", True))
    assert replay == expected
    assert again == expected
    assert bank.booked(*accounts) == (before[0] - moved, before[1] + moved)
    payment = bank.adapter.run(bank.adapter.services.storage.journal.get(first.payment_id))
    core_state = bank.core.ledger.transfer_status(payment.core_reference)
    if outcome == "booked":
        assert core_state is not None and core_state.state == "booked"
    else:
        # Fenced: a late arrival of the original posting would be refused.
        assert core_state is not None and core_state.state == "cancelled"
