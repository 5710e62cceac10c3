"""WatchTransactions is capped per connection and per caller (services/stream_slots.py): the
stream past a cap is RESOURCE_EXHAUSTED TOO_MANY_STREAMS naming the cap, and a slot freed by
a stream that ended is usable again. Real mutual TLS, one adapter with caps of 2 and 3."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from adapter.frontends.grpc.gen.bank.adapter.v1.banking_pb2_grpc import BankingServiceStub
from adapter.model.errors import TooManyStreams
from adapter.services.stream_slots import StreamSlots
from tests.grpc.support import Env, rich_error, run
from tests.harness.adapter import run_adapter
from tests.harness.core import running_core

WAIT = 10.0
PER_CONNECTION, PER_CALLER = 2, 3


@pytest.fixture(scope="module")
def capped(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("grpc-caps")
    with running_core(pki_dir, tmp / "core.db") as core, \
            run_adapter(tmp, pki_dir, core_soap_url=core.soap_url,
                        stream_max_per_connection=PER_CONNECTION,
                        stream_max_per_caller=PER_CALLER) as adapter:
        yield Env(core, adapter)


def slots(env: Env) -> StreamSlots:
    streams = env.adapter.app.grpc.servicer.streams
    assert isinstance(streams, StreamSlots)
    return streams


async def opened(stub: BankingServiceStub) -> grpc.aio.UnaryStreamCall:
    """A stream the server admitted: its initial metadata has arrived."""
    call = stub.WatchTransactions(pb.WatchTransactionsRequest())
    await asyncio.wait_for(call.initial_metadata(), WAIT)
    return call


async def refused(stub: BankingServiceStub) -> grpc.aio.AioRpcError:
    call = stub.WatchTransactions(pb.WatchTransactionsRequest())
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await asyncio.wait_for(call.read(), WAIT)
    return info.value


async def until_open_for(env: Env, caller: str, count: int) -> None:
    """The server's own count of the caller's open streams reaches `count`: waited for on the
    adapter's loop, woken as the server gives a slot back (StreamSlots Rule 4)."""
    streams = slots(env)
    reached = streams.wait_until(lambda: streams.open_for(caller) == count, WAIT)
    assert await asyncio.wrap_future(
        asyncio.run_coroutine_threadsafe(reached, env.adapter.loop)), \
        f"{caller} never had {count} streams open"


def test_stream_past_the_per_connection_cap_is_refused_and_a_freed_slot_is_reused(
        capped: Env) -> None:
    """Two streams on one connection; the third is RESOURCE_EXHAUSTED naming the cap of 2 per
    connection; once one is cancelled, a new one on that connection is admitted."""

    async def go():  # type: ignore[no-untyped-def]
        async with capped.channel("internal") as ch:
            stub = capped.stub(ch)
            first, second = await opened(stub), await opened(stub)
            error = rich_error(await refused(stub))
            first.cancel()
            await until_open_for(capped, "internal", 1)
            third = await opened(stub)
            counted = slots(capped).open_for("internal")
            second.cancel()
            third.cancel()
            await until_open_for(capped, "internal", 0)
            return error, counted

    error, counted = run(go())
    assert error.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.info.reason == "TOO_MANY_STREAMS"
    assert error.message == ("at most 2 event streams may be open on one connection "
                             "(stream_max_per_connection); close one, or open another "
                             "connection")
    assert counted == 2


def test_stream_past_the_per_caller_cap_is_refused_on_any_connection(capped: Env) -> None:
    """Three streams of one caller over two connections; a fourth, on a connection with room,
    is refused naming the cap of 3 per caller; a freed slot admits it."""

    async def go():  # type: ignore[no-untyped-def]
        async with capped.channel("internal") as a, capped.channel("internal") as b:
            sa, sb = capped.stub(a), capped.stub(b)
            held = [await opened(sa), await opened(sa), await opened(sb)]
            error = rich_error(await refused(sb))
            held.pop(0).cancel()
            await until_open_for(capped, "internal", 2)
            held.append(await opened(sb))
            for call in held:
                call.cancel()
            await until_open_for(capped, "internal", 0)
            return error

    error = run(go())
    assert error.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.info.reason == "TOO_MANY_STREAMS"
    assert error.message == ("at most 3 event streams may be open for one caller "
                             "(stream_max_per_caller); close one first")


def test_a_refusal_changes_no_count() -> None:
    """StreamSlots Rules 1 and 2: a refused hold takes nothing; leaving a hold gives back both
    slots and forgets zero counts."""
    streams = StreamSlots(per_caller=2, per_connection=1)
    with streams.hold("c", "conn-1"):
        with pytest.raises(TooManyStreams), streams.hold("c", "conn-1"):
            pass
        assert (streams.open_for("c"), streams.open_on("conn-1")) == (1, 1)
        with streams.hold("c", "conn-2"):
            with pytest.raises(TooManyStreams), streams.hold("c", "conn-3"):
                pass
            assert (streams.open_for("c"), streams.open_on("conn-3")) == (2, 0)
    assert (streams._callers, streams._connections) == ({}, {})


def test_wait_until_wakes_on_a_freed_slot_and_gives_up_at_its_timeout() -> None:
    """StreamSlots Rule 4: a waiter for "no stream open" returns True as the hold ends, and
    False after its timeout while the hold stays."""
    async def go() -> tuple[bool, bool]:
        streams = StreamSlots(per_caller=1, per_connection=1)
        with streams.hold("c", "conn-1"):
            expired = await streams.wait_until(lambda: not streams.open_for("c"), 0.01)
            waiter = asyncio.ensure_future(
                streams.wait_until(lambda: not streams.open_for("c"), WAIT))
            await asyncio.sleep(0)  # the waiter is parked on the change event
        return expired, await waiter

    assert asyncio.run(go()) == (False, True)
