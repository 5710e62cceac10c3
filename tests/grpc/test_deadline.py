"""Deadlines: the caller's deadline bounds the core call, and a deadline that expires while the
core is working never leaves a half-done payment."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import grpc
import pytest

from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from tests.grpc.support import Env, money, ref, run


@pytest.fixture
def slow_core(env: Env) -> Iterator[Env]:
    yield env
    env.core.faults.reset()


def transfer(amount: str, request_id: str) -> pb.TransferFundsRequest:
    return pb.TransferFundsRequest(
        request_id=request_id, debtor=ref("10000001"), creditor=ref("10000002"),
        amount=money(amount), end_to_end_id="E2E-DEADLINE")


def test_expired_deadline_leaves_a_final_payment_moved_at_most_once(slow_core: Env) -> None:
    """A deadline shorter than the core's latency is DEADLINE_EXCEEDED to the client; the
    payment still reaches a final state, and the ledger moved exactly as that state says."""
    env = slow_core
    key = str(uuid.uuid4())

    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("internal") as ch:
            stub = env.stub(ch)
            # Warm the connection and the account cache: only the posting meets the latency.
            await stub.TransferFunds(transfer("0.01", str(uuid.uuid4())))
            before = (env.booked("10000001"), env.booked("10000002"))
            watch = stub.WatchTransactions(pb.WatchTransactionsRequest(
                account_ids=["10000001"]))
            await asyncio.wait_for(watch.initial_metadata(), 10)
            env.core.faults.update(latency_ms=400)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.TransferFunds(transfer("3.33", key), timeout=0.15)
            # The payment's final event is the condition to wait for (bounded).
            event = await asyncio.wait_for(watch.read(), 15)
            watch.cancel()
            env.core.faults.reset()
            payment = await stub.GetPayment(pb.GetPaymentRequest(payment_id=event.payment_id))
            replay = await stub.TransferFunds(transfer("3.33", key)) \
                if payment.status == pb.PAYMENT_STATUS_BOOKED else None
            return info.value.code(), before, event, payment, replay

    code, before, event, payment, replay = run(go())
    assert code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert event.amount.amount == "3.33" and payment.payment_id == event.payment_id
    assert payment.status in (pb.PAYMENT_STATUS_BOOKED, pb.PAYMENT_STATUS_REJECTED,
                              pb.PAYMENT_STATUS_REVERSED)
    moved = 333 if payment.status == pb.PAYMENT_STATUS_BOOKED else 0
    assert (env.booked("10000001"), env.booked("10000002")) == (before[0] - moved,
                                                                before[1] + moved)
    if replay is not None:
        assert replay.replayed and replay.payment_id == payment.payment_id
        assert env.booked("10000001") == before[0] - moved


def test_deadline_bounds_the_core_call(slow_core: Env) -> None:
    """With a slow core, a read with a short deadline fails at the deadline, not the core's
    own timeout."""
    env = slow_core

    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("internal") as ch:
            stub = env.stub(ch)
            await stub.ListAccounts(pb.ListAccountsRequest())
            env.core.faults.update(latency_ms=2000)
            loop = asyncio.get_running_loop()
            start = loop.time()
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.GetBalance(pb.GetBalanceRequest(account=ref("10000001")),
                                      timeout=0.3)
            return info.value.code(), loop.time() - start

    code, took = run(go())
    assert code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert took < 1.5

