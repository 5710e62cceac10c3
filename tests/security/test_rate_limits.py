"""Rate limits as a step of the call pipeline, over real mutual TLS on all three protocols:
the refusal in each protocol's own form, nothing changed by a refused call (ledger balances,
journal rows, idempotency keys), one budget per caller across protocols, refills on the
adapter's injected clock, and two adapters sharing one budget through a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
import zeep
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from lxml import etree

from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2_grpc as pb_grpc
from adapter.infra.tls import TlsFiles, grpc_channel_credentials
from adapter.stores.redis import RedisRateLimitStore
from tests.contract.conftest import redis_url_or_skip
from tests.harness.adapter import RunningAdapter, run_adapter
from tests.harness.clients import https_client, zeep_client
from tests.harness.core import running_core
from tests.security.conftest import LIMITS, Bank, WallClock

TNS = {"b": "urn:bank:adapter:soap:v1"}


def rest_transfer(client: Any, key: str, amount: str = "1.00") -> Any:
    return client.post("/v1/transfers", headers={"Idempotency-Key": key}, json={
        "debtorAccount": {"id": "10000001"}, "creditorAccount": {"id": "10000002"},
        "instructedAmount": {"currency": "EUR", "amount": amount},
        "endToEndIdentification": "E2E-LIMIT"})


def test_rest_answers_429_with_retry_after_and_changes_nothing(bank: Bank) -> None:
    """Two transfers a minute: the third is 429 RATE_LIMITED with Retry-After: 30, and moves
    no money, writes no payment and stores no key; 30 s later (the adapter's clock moved) the
    same key books once."""
    with https_client(bank.adapter, "partner", base_url=bank.adapter.base_url) as c:
        for _ in range(2):
            assert rest_transfer(c, str(uuid.uuid4())).status_code == 201
        before = bank.booked("10000001"), bank.booked("10000002"), bank.journal_rows()
        key = str(uuid.uuid4())
        refused = rest_transfer(c, key)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "30"
        body = refused.json()
        assert (body["code"], body["status"], body["detail"]) == (
            "RATE_LIMITED", 429, "too many transfer requests from this client (limit "
            "2/minute); retry in 30 s")
        assert (bank.booked("10000001"), bank.booked("10000002"),
                bank.journal_rows()) == before
        # Reads have their own budget.
        assert c.get("/v1/accounts/10000001/balances").status_code == 200
        bank.clock.now += 30
        again = rest_transfer(c, key)
        assert again.status_code == 201 and "idempotent-replayed" not in again.headers
        assert (bank.booked("10000001"), bank.booked("10000002")) == (
            before[0] - 100, before[1] + 100)


def test_soap_answers_a_client_rate_limited_fault_with_retry_after(bank: Bank) -> None:
    """The legacy caller's third TransferFunds in a minute is Client.RATE_LIMITED with
    RetryAfter 30 in its AdapterFault, before its UsernameToken is checked; no money moves."""
    client: zeep.Client = zeep_client(bank.adapter)
    try:
        def transfer() -> Any:
            return client.service.TransferFunds(
                RequestId=uuid.uuid4().hex, Debtor={"AccountId": "10000003"},
                Creditor={"AccountId": "10000001"}, Amount=Decimal("1.00"), Currency="EUR",
                EndToEndId="E2E-LIMIT")

        bank.clock.now += 60  # a rested budget whatever ran before
        for _ in range(2):
            assert transfer().Payment.Status == "BOOKED"
        before = bank.booked("10000003"), bank.booked("10000001"), bank.journal_rows()
        with pytest.raises(zeep.exceptions.Fault) as fault:
            transfer()
        detail = fault.value.detail.find("b:AdapterFault", TNS)
        assert str(fault.value.code).split(":", 1)[-1] == "Client.RATE_LIMITED"
        assert (detail.findtext("b:Code", None, TNS), detail.findtext("b:RetryAfter", None, TNS)
                ) == ("RATE_LIMITED", "30")
        assert etree.QName(detail).localname == "AdapterFault"
        assert (bank.booked("10000003"), bank.booked("10000001"),
                bank.journal_rows()) == before
    finally:
        client.transport.session.close()


def _grpc_transfer(request_id: str) -> pb.TransferFundsRequest:
    return pb.TransferFundsRequest(
        request_id=request_id, debtor=pb.AccountRef(id="10000003"),
        creditor=pb.AccountRef(id="10000002"), amount=pb.Money(amount="1.00", currency="EUR"),
        end_to_end_id="E2E-LIMIT")


def test_grpc_answers_resource_exhausted_with_retry_info(bank: Bank) -> None:
    """The internal caller's third TransferFunds in a minute is RESOURCE_EXHAUSTED with
    ErrorInfo RATE_LIMITED and RetryInfo 30 s; its REST transfer then is refused too (one
    budget per caller and operation, whatever the protocol); no money moves."""
    bank.clock.now += 60
    files = TlsFiles.from_dir(bank.adapter.pki_dir, "internal")

    async def go() -> tuple[grpc.aio.AioRpcError, int]:
        creds = grpc_channel_credentials(files, bank.adapter.ca)
        async with grpc.aio.secure_channel(bank.adapter.grpc_target, creds) as ch:
            stub = pb_grpc.BankingServiceStub(ch)
            for _ in range(2):
                await stub.TransferFunds(_grpc_transfer(str(uuid.uuid4())), timeout=10)
            try:
                await stub.TransferFunds(_grpc_transfer(str(uuid.uuid4())), timeout=10)
            except grpc.aio.AioRpcError as err:
                with https_client(bank.adapter, "internal",
                                  base_url=bank.adapter.base_url) as c:
                    return err, rest_transfer(c, str(uuid.uuid4())).status_code
        raise AssertionError("the third transfer was allowed")

    err, rest_status = asyncio.run(go())
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None
    info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            detail.Unpack(retry)
    assert (err.code(), info.reason, retry.retry_delay.ToSeconds()) == (
        grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED", 30)
    assert rest_status == 429


def test_grpc_refusal_moves_no_money(bank: Bank) -> None:
    """Balances and journal rows before and after a refused gRPC transfer are equal."""
    bank.clock.now += 60
    files = TlsFiles.from_dir(bank.adapter.pki_dir, "internal")

    async def spend() -> None:
        creds = grpc_channel_credentials(files, bank.adapter.ca)
        async with grpc.aio.secure_channel(bank.adapter.grpc_target, creds) as ch:
            stub = pb_grpc.BankingServiceStub(ch)
            for _ in range(2):
                await stub.TransferFunds(_grpc_transfer(str(uuid.uuid4())), timeout=10)

    async def refused() -> grpc.StatusCode:
        creds = grpc_channel_credentials(files, bank.adapter.ca)
        async with grpc.aio.secure_channel(bank.adapter.grpc_target, creds) as ch:
            try:
                await pb_grpc.BankingServiceStub(ch).TransferFunds(
                    _grpc_transfer(str(uuid.uuid4())), timeout=10)
            except grpc.aio.AioRpcError as err:
                return err.code()
        raise AssertionError("allowed")

    asyncio.run(spend())
    before = bank.booked("10000003"), bank.booked("10000002"), bank.journal_rows()
    assert asyncio.run(refused()) is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert (bank.booked("10000003"), bank.booked("10000002"), bank.journal_rows()) == before


def test_two_adapters_on_one_redis_share_a_callers_budget(
        pki_dir: Path, tmp_path: Path) -> None:
    """Two adapters naming one Redis: the partner's two transfers on the first leave none
    for the second, which answers 429 and moves no money; a minute later (both clocks moved)
    the second books."""
    url = redis_url_or_skip()
    clock = WallClock()
    settings = {**LIMITS, "rate_limit_storage": url}

    async def forget() -> None:
        store = RedisRateLimitStore(url)
        await store.reset()
        await store.aclose()

    asyncio.run(forget())  # budgets left by an earlier run of this test
    with running_core(pki_dir, tmp_path / "core.db") as core, \
            run_adapter(tmp_path / "one", pki_dir, core_soap_url=core.soap_url,
                        wall_clock=clock, **settings) as one, \
            run_adapter(tmp_path / "two", pki_dir, core_soap_url=core.soap_url,
                        wall_clock=clock, **settings) as two:
        def client(a: RunningAdapter) -> Any:
            return https_client(a, "partner", base_url=a.base_url)

        with client(one) as c1, client(two) as c2:
            for _ in range(2):
                assert rest_transfer(c1, str(uuid.uuid4())).status_code == 201
            before = core.ledger.balance("10000001")[0], core.ledger.balance("10000002")[0]
            refused = rest_transfer(c2, str(uuid.uuid4()))
            assert (refused.status_code, refused.json()["code"],
                    refused.headers["retry-after"]) == (429, "RATE_LIMITED", "30")
            assert (core.ledger.balance("10000001")[0],
                    core.ledger.balance("10000002")[0]) == before
            clock.now += 60
            assert rest_transfer(c2, str(uuid.uuid4())).status_code == 201
            assert core.ledger.balance("10000001")[0] == before[0] - 100
    asyncio.run(forget())
