"""WatchTransactions: events of payments made over gRPC (and REST and SOAP), from the moment of
the call, filtered by what the caller may see, resumable from a cursor, and the slow-consumer
cut-off with its resume cursor."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import grpc

from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from adapter.frontends.grpc.servicer import STREAM_CURSOR
from adapter.model import Money, PaymentKind, PaymentStatus
from adapter.model.events import EventType, TransactionEvent
from tests.grpc.support import Env, call_error, money, ref, rich_error, run

WAIT = 10.0  # upper bound for an event to arrive; the read returns as soon as it does


def transfer(debtor: str, creditor: str, amount: str, currency: str = "EUR"
             ) -> pb.TransferFundsRequest:
    return pb.TransferFundsRequest(
        request_id=str(uuid.uuid4()), debtor=ref(debtor), creditor=ref(creditor),
        amount=money(amount, currency), end_to_end_id="E2E-STREAM")


async def started(call: grpc.aio.UnaryStreamCall) -> str:
    """Wait until the server fixed the stream's start; return that cursor."""
    metadata = await asyncio.wait_for(call.initial_metadata(), WAIT)
    return dict(metadata)[STREAM_CURSOR]


async def next_event(call: grpc.aio.UnaryStreamCall) -> pb.TransactionEvent:
    event = await asyncio.wait_for(call.read(), WAIT)
    assert isinstance(event, pb.TransactionEvent)
    return event


def test_stream_starts_now_and_sees_booked_and_rejected(env: Env) -> None:
    """A new stream skips earlier payments and then delivers booked and rejected events."""
    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("partner") as p, env.channel("internal") as i:
            payer = env.stub(p)
            await payer.TransferFunds(transfer("10000001", "10000002", "1.00"))  # before
            call = env.stub(i).WatchTransactions(pb.WatchTransactionsRequest())
            start = await started(call)
            booked = await payer.TransferFunds(transfer("10000001", "10000002", "2.00"))
            await call_error(payer.TransferFunds(transfer("10000002", "10000001", "99999.00")))
            events = [await next_event(call), await next_event(call)]
            call.cancel()
            return start, booked, events

    start, booked, (first, second) = run(go())
    assert (first.type, first.payment_id, first.status) == (
        pb.EVENT_TYPE_BOOKED, booked.payment_id, pb.PAYMENT_STATUS_BOOKED)
    assert (first.debtor_account_id, first.creditor_account_id, first.amount.amount,
            first.amount.currency, first.kind) == (
        "10000001", "10000002", "2.00", "EUR", pb.PAYMENT_KIND_TRANSFER)
    assert int(first.cursor) > int(start)
    assert (second.type, second.status, second.reason_code, second.amount.amount) == (
        pb.EVENT_TYPE_REJECTED, pb.PAYMENT_STATUS_REJECTED, "INSUFFICIENT_FUNDS", "99999.00")
    assert int(second.cursor) > int(first.cursor)


def test_stream_resumes_after_a_cursor(env: Env) -> None:
    """A stream opened with the cursor of an event replays exactly what followed it."""
    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("legacy") as lg, env.channel("internal") as i:
            watcher = env.stub(i)
            call = watcher.WatchTransactions(pb.WatchTransactionsRequest())
            await started(call)
            payments = [await env.stub(lg).TransferFunds(transfer("10000003", "10000001", a))
                        for a in ("0.11", "0.12", "0.13")]
            first = await next_event(call)
            call.cancel()
            resumed = watcher.WatchTransactions(pb.WatchTransactionsRequest(cursor=first.cursor))
            replayed = [await next_event(resumed), await next_event(resumed)]
            resumed.cancel()
            return payments, first, replayed

    payments, first, replayed = run(go())
    assert first.payment_id == payments[0].payment_id
    assert [e.payment_id for e in replayed] == [p.payment_id for p in payments[1:]]


def test_stream_filters_by_requested_accounts(env: Env) -> None:
    """account_ids narrows the stream to events touching those accounts."""
    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("partner") as p, env.channel("legacy") as lg, \
                env.channel("internal") as i:
            call = env.stub(i).WatchTransactions(
                pb.WatchTransactionsRequest(account_ids=["10000003"]))
            await started(call)
            await env.stub(p).TransferFunds(transfer("10000001", "10000002", "0.50"))
            legacy = await env.stub(lg).TransferFunds(transfer("10000003", "10000002", "0.51"))
            event = await next_event(call)
            call.cancel()
            return legacy, event

    legacy, event = run(go())
    assert (event.payment_id, event.debtor_account_id, event.amount.amount) == (
        legacy.payment_id, "10000003", "0.51")


def test_slow_consumer_is_cut_off_with_a_resume_cursor(env: Env) -> None:
    """A consumer whose queue overflows gets RESOURCE_EXHAUSTED / SLOW_CONSUMER and a cursor."""
    bus = env.adapter.services.events

    async def flood(start: int) -> None:
        # Published in one go, without yielding to the loop, so the subscriber cannot keep up.
        now = datetime.now(UTC)
        for seq in range(start + 1, start + 2 + bus._queue_size):
            bus.publish(TransactionEvent(
                seq=seq, type=EventType.BOOKED, payment_id=f"synthetic-{seq}",
                kind=PaymentKind.TRANSFER, status=PaymentStatus.BOOKED,
                debtor_account_id="10000001", creditor_account_id="10000002",
                amount=Money(amount=Decimal("0.01"), currency="EUR"), end_to_end_id="FLOOD",
                occurred_at=now))

    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("internal") as i:
            call = env.stub(i).WatchTransactions(pb.WatchTransactionsRequest())
            await started(call)
            # The server sends the start cursor before it subscribes to the bus, and synthetic
            # events are not in the outbox to be replayed: flood only once a real event has
            # come through, which proves the subscription is live.
            await env.stub(i).TransferFunds(transfer("10000001", "10000002", "0.01"))
            start = int((await next_event(call)).cursor)
            env.adapter.run(flood(start))
            received = []
            try:
                while (event := await asyncio.wait_for(call.read(), WAIT)) is not grpc.aio.EOF:
                    received.append(event)
            except grpc.aio.AioRpcError as err:
                return received, rich_error(err)
            raise AssertionError("the stream ended without an error")

    received, err = run(go())
    assert (err.code, err.info.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "SLOW_CONSUMER")
    assert err.info.metadata["resume_cursor"] == received[-1].cursor
    assert len(received) == bus._queue_size - 1
