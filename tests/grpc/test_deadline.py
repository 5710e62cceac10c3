"""Deadlines: the caller's deadline bounds the core call, and a deadline that expires while the
core is working never leaves a half-done payment."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from tests.grpc.support import Env, money, ref, run
from tests.harness.adapter import run_adapter
from tests.harness.core import running_core


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


def test_deadline_bounds_the_core_call(pki_dir: Path, tmp_path: Path) -> None:
    """The caller's deadline, not the adapter's own core timeout, ends the core call: with a
    core timeout of 60 s and a core that books the posting but never answers, the adapter
    hangs up on the core once the caller's 0.3 s deadline has passed (the core itself reports
    the hang-up), then settles the payment: booked once."""
    with running_core(pki_dir, tmp_path / "core.db") as core, \
            run_adapter(tmp_path, pki_dir, core_soap_url=core.soap_url,
                        core_timeout=60.0) as adapter:
        env = Env(core, adapter)
        released = threading.Event()
        until_disconnect = core.sim._until_disconnect_or_stop

        async def watched(receive):  # type: ignore[no-untyped-def]
            await until_disconnect(receive)
            released.set()

        core.sim._until_disconnect_or_stop = watched  # type: ignore[method-assign]
        key = str(uuid.uuid4())

        async def go():  # type: ignore[no-untyped-def]
            async with env.channel("internal") as ch:
                stub = env.stub(ch)
                await stub.TransferFunds(transfer("0.01", str(uuid.uuid4())))  # warm
                before = env.booked("10000001")
                watch = stub.WatchTransactions(pb.WatchTransactionsRequest(
                    account_ids=["10000001"]))
                await asyncio.wait_for(watch.initial_metadata(), 10)
                core.faults.update(drop_next=1, drop_mode="hang")
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await stub.TransferFunds(transfer("2.22", key), timeout=0.3)
                # Bounded far below the 60 s core timeout: only the deadline explains it.
                assert await asyncio.to_thread(released.wait, 30), \
                    "the adapter kept waiting on the core past the caller's deadline"
                settled = await asyncio.wait_for(watch.read(), 15)  # the payment's outcome
                watch.cancel()
                assert settled.type == pb.EVENT_TYPE_BOOKED and settled.amount.amount == "2.22"
                replay = await stub.TransferFunds(transfer("2.22", key))
                return info.value.code(), before, replay

        code, before, replay = run(go())
        assert code is grpc.StatusCode.DEADLINE_EXCEEDED
        assert replay.replayed and replay.status == pb.PAYMENT_STATUS_BOOKED
        assert env.booked("10000001") == before - 222
