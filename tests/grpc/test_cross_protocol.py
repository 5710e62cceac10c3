"""One event source for all protocols: transfers made over REST and SOAP appear on the gRPC
WatchTransactions stream."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from tests.grpc.support import Env, run
from tests.grpc.test_stream import next_event, started
from tests.harness.clients import https_client, zeep_client


def rest_transfer(env: Env) -> dict[str, Any]:
    with https_client(env.adapter, "partner", base_url=env.adapter.base_url) as client:
        r = client.post("/v1/transfers", headers={"Idempotency-Key": str(uuid.uuid4())}, json={
            "debtorAccount": {"id": "10000001"}, "creditorAccount": {"id": "10000002"},
            "instructedAmount": {"currency": "EUR", "amount": "7.01"},
            "endToEndIdentification": "E2E-REST"})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def soap_transfer(env: Env) -> Any:
    client = zeep_client(env.adapter)
    try:
        return client.service.TransferFunds(
            RequestId=str(uuid.uuid4()), Debtor={"AccountId": "10000003"},
            Creditor={"AccountId": "10000001"}, Amount="7.02", Currency="EUR",
            EndToEndId="E2E-SOAP")
    finally:
        client.transport.session.close()


def test_rest_and_soap_transfers_reach_the_grpc_stream(env: Env) -> None:
    """A REST transfer and a SOAP transfer arrive on the stream as booked events, in order."""
    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("internal") as ch:
            call = env.stub(ch).WatchTransactions(pb.WatchTransactionsRequest())
            await started(call)
            rest = await asyncio.to_thread(rest_transfer, env)
            soap = await asyncio.to_thread(soap_transfer, env)
            events = [await next_event(call), await next_event(call)]
            call.cancel()
            return rest, soap, events

    rest, soap, events = run(go())
    assert [(e.payment_id, e.type, e.debtor_account_id, e.amount.amount) for e in events] == [
        (rest["paymentId"], pb.EVENT_TYPE_BOOKED, "10000001", "7.01"),
        (soap.Payment.PaymentId, pb.EVENT_TYPE_BOOKED, "10000003", "7.02"),
    ]
