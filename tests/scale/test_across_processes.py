"""What two adapter processes on one PostgreSQL refuse together: a WS-Security nonce
replayed to the other process, an idempotency key reused on the other process with another
payload; and what they share: a replay on the other process answers the stored outcome, and
an event booked on one reaches a gRPC watcher on the other, and an ISO 8583 reversal one
owed when it died is completed by another."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import grpc
import httpx
import pytest

from adapter.connectors.iso8583 import mapping
from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2_grpc as pb_grpc
from adapter.infra import tls
from adapter.infra.tls import TlsFiles
from adapter.model import Money
from adapter.ports.core import CorePosting
from adapter.ports.reversals import ReversalState
from adapter.stores.postgres import PostgresReversalStore
from tests.harness.core import RunningCore
from tests.harness.postgres import fresh_database_url
from tests.harness.replicas import AdapterProcess, StateTemplate
from tests.soap.conftest import Token, envelope, fault_of

LEGACY_DEBTOR, LEGACY_CREDITOR = "10000003", "10000001"


@pytest.fixture
def replicas(tmp_path: Path, pki_dir: Path, core_sim: RunningCore,
             ) -> Iterator[tuple[list[AdapterProcess], StateTemplate]]:
    with fresh_database_url() as url:
        template = StateTemplate(tmp_path, pki_dir)
        pair = [AdapterProcess(name, template, core_host=core_sim.host,
                               core_soap_port=core_sim.soap_port, core_iso_port=None,
                               extra=["--database-url", url]) for name in ("p1", "p2")]
        try:
            for replica in pair:
                replica.start()
            yield pair, template
        finally:
            for replica in pair:
                replica.stop()


def _client(template: StateTemplate, name: str) -> httpx.Client:
    ctx = tls.client_context(TlsFiles.from_dir(template.pki, name), template.pki / "ca.crt")
    return httpx.Client(verify=ctx, timeout=10)


def _transfer_envelope(security: str, amount: str) -> bytes:
    return envelope(
        f"<b:TransferFunds><b:RequestId>{uuid.uuid4().hex}</b:RequestId>"
        f"<b:Debtor><b:AccountId>{LEGACY_DEBTOR}</b:AccountId></b:Debtor>"
        f"<b:Creditor><b:AccountId>{LEGACY_CREDITOR}</b:AccountId></b:Creditor>"
        f"<b:Amount>{amount}</b:Amount><b:Currency>EUR</b:Currency>"
        "<b:EndToEndId>E2E-ACROSS</b:EndToEndId></b:TransferFunds>", security)


def test_a_nonce_used_on_one_process_is_refused_on_the_other(
        replicas: tuple[list[AdapterProcess], StateTemplate], core_sim: RunningCore) -> None:
    """The same UsernameToken to process 1, then to process 2: the second is
    Client.UNAUTHENTICATED "already used", and the ledger moved once."""
    pair, template = replicas
    before = core_sim.ledger.balance(LEGACY_DEBTOR)[0]
    security = Token("legacy", template.legacy_password).xml()
    headers = {"content-type": "text/xml; charset=utf-8", "soapaction": '"TransferFunds"'}
    with _client(template, "legacy") as http:
        first = http.post(f"https://localhost:{pair[0].http_port}/soap/v1",
                          content=_transfer_envelope(security, "0.07"), headers=headers)
        second = http.post(f"https://localhost:{pair[1].http_port}/soap/v1",
                           content=_transfer_envelope(security, "0.07"), headers=headers)
    assert first.status_code == 200, first.text
    fault = fault_of(second)
    assert (fault.code, "already used" in fault.faultstring) == ("UNAUTHENTICATED", True)
    assert core_sim.ledger.balance(LEGACY_DEBTOR)[0] == before - 7


def test_an_idempotency_key_is_one_request_across_processes(
        replicas: tuple[list[AdapterProcess], StateTemplate], core_sim: RunningCore) -> None:
    """Key K books on process 1; on process 2 the same payload replays the stored payment
    and another payload is 422 IDEMPOTENCY_CONFLICT; one booking in the ledger."""
    pair, template = replicas
    before = core_sim.ledger.balance("10000001")[0]
    key = str(uuid.uuid4())

    def body(amount: str) -> dict[str, object]:
        return {"debtorAccount": {"id": "10000001"}, "creditorAccount": {"id": "10000002"},
                "instructedAmount": {"currency": "EUR", "amount": amount},
                "endToEndIdentification": "E2E-ACROSS"}

    with _client(template, "partner") as http:
        first = http.post(f"https://localhost:{pair[0].http_port}/v1/transfers",
                          json=body("3.00"), headers={"Idempotency-Key": key})
        replay = http.post(f"https://localhost:{pair[1].http_port}/v1/transfers",
                           json=body("3.00"), headers={"Idempotency-Key": key})
        other = http.post(f"https://localhost:{pair[1].http_port}/v1/transfers",
                          json=body("4.00"), headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    assert first.json()["transactionStatus"] == "ACSC"
    assert replay.status_code in (200, 201)
    assert replay.json()["paymentId"] == first.json()["paymentId"]
    assert other.status_code == 422 and other.json()["code"] == "IDEMPOTENCY_CONFLICT"
    assert core_sim.ledger.balance("10000001")[0] == before - 300


def test_an_event_booked_on_one_process_reaches_a_watcher_on_the_other(
        replicas: tuple[list[AdapterProcess], StateTemplate]) -> None:
    """WatchTransactions on process 2; transfers booked through process 1 arrive on it, in
    order, once each (the outbox table feeds every process, LISTEN/NOTIFY wakes it)."""
    pair, template = replicas
    files = TlsFiles.from_dir(template.pki, "internal")
    creds = grpc.ssl_channel_credentials((template.pki / "ca.crt").read_bytes(),
                                         files.key.read_bytes(), files.cert.read_bytes())
    with grpc.secure_channel(f"localhost:{pair[1].grpc_port}", creds) as channel:
        call = pb_grpc.BankingServiceStub(channel).WatchTransactions(
            pb.WatchTransactionsRequest(), timeout=30)
        # The start position is fixed once the stream-cursor metadata is sent.
        assert any(k == "stream-cursor" for k, _ in call.initial_metadata())
        booked = []
        with _client(template, "partner") as http:
            for amount in ("1.11", "1.12"):
                reply = http.post(
                    f"https://localhost:{pair[0].http_port}/v1/transfers",
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                    json={"debtorAccount": {"id": "10000001"},
                          "creditorAccount": {"id": "10000002"},
                          "instructedAmount": {"currency": "EUR", "amount": amount},
                          "endToEndIdentification": "E2E-EVENTS"})
                assert reply.status_code == 201, reply.text
                booked.append(reply.json()["paymentId"])
        events = [next(call), next(call)]
        call.cancel()
    assert [(e.payment_id, e.type, e.amount.amount) for e in events] == [
        (booked[0], pb.EVENT_TYPE_BOOKED, "1.11"), (booked[1], pb.EVENT_TYPE_BOOKED, "1.12")]


def test_a_reversal_owed_by_a_dead_process_is_completed_by_a_live_one(
        tmp_path: Path, pki_dir: Path, core_sim: RunningCore) -> None:
    """A process booked a posting at the core, got no answer, wrote its reversal PENDING and
    died (the row and the booking are made here as it left them). A live ISO 8583 process on
    the same database reverses it: the row ends REVERSED, the ledger posting is reversed and
    both balances are back where they were."""
    ledger = core_sim.ledger
    before = ledger.balance("10000001")[0], ledger.balance("10000002")[0]
    reference = "DEADPROC0001"
    posting = CorePosting(reference=reference, debtor_account_id="10000001",
                          creditor_account_id="10000002",
                          amount=Money(amount=Decimal("2.50"), currency="EUR"),
                          end_to_end_id="E2E-DEAD")
    ledger.post_transfer(reference, "10000001", 250, "EUR", "E2E-DEAD",
                         creditor_id="10000002")
    original = mapping.financial_request(posting, "000042", "DEADPROC", datetime.now(UTC))

    async def owe(url: str) -> None:
        store = await PostgresReversalStore.open(url)
        try:
            assert await store.mark_pending(reference, original) is not None
        finally:
            await store.aclose()

    async def state(url: str) -> ReversalState | None:
        store = await PostgresReversalStore.open(url)
        try:
            row = await store.get(reference)
            return None if row is None else row.state
        finally:
            await store.aclose()

    with fresh_database_url() as url:
        template = StateTemplate(tmp_path, pki_dir)
        live = AdapterProcess("live", template, core_host=core_sim.host,
                              core_soap_port=core_sim.soap_port,
                              core_iso_port=core_sim.iso_port,
                              extra=["--database-url", url, "--core-connector", "iso8583"])
        live.start()
        try:
            asyncio.run(owe(url))
            deadline = time.monotonic() + 30
            while asyncio.run(state(url)) is not ReversalState.REVERSED:
                assert time.monotonic() < deadline, "the live process did not reverse it"
                time.sleep(0.2)  # the reverser runs on its own schedule; this only watches
        finally:
            live.stop()
    recorded = ledger.transfer_status(reference)
    assert recorded is not None and recorded.state == "reversed"
    assert ledger.entry_count(reference) == 4
    assert (ledger.balance("10000001")[0], ledger.balance("10000002")[0]) == before


def test_a_second_process_with_the_same_terminal_id_is_refused(
        tmp_path: Path, pki_dir: Path, core_sim: RunningCore) -> None:
    """ISO 8583 (41, 11) never collides: a process on the same database asking for a terminal
    id a live process holds is refused at start-up in one line, naming the setting; once
    the holder is gone, the same id starts."""
    with fresh_database_url() as url:
        template = StateTemplate(tmp_path, pki_dir)

        def replica(name: str) -> AdapterProcess:
            return AdapterProcess(name, template, core_host=core_sim.host,
                                  core_soap_port=core_sim.soap_port,
                                  core_iso_port=core_sim.iso_port,
                                  extra=["--database-url", url, "--core-connector", "iso8583",
                                         "--iso-terminal-id", "SAMETERM"])

        first, second = replica("first"), replica("second")
        first.start()
        try:
            refused = second.run_to_end()
        finally:
            first.kill()  # SIGKILL: the id is free again once the process is gone
        assert refused.returncode == 1
        assert refused.stderr == (
            "bank-adapter up: the ISO 8583 terminal id SAMETERM is in use by another running "
            "adapter on this database: give each process its own "
            "(--iso-terminal-id, BANK_ADAPTER_ISO_TERMINAL_ID)\n")
        second.start()
        second.stop()
