"""The mux: replies matched by (field 11, field 41) and MTI; never to the wrong caller."""

from __future__ import annotations

import asyncio
import random

import pytest

from adapter.connectors.iso8583.codec import Message
from adapter.connectors.iso8583.mux import ConnectionLost, DuplicateKey, Mux, MuxTimeout
from tests.iso8583.support import run


def echo_request(stan: str, tid: str = "ADAPTER1") -> Message:
    return {"t": "0800", "11": stan, "41": tid, "70": "301"}


def reply_to(msg: Message, **extra: str) -> Message:
    mti = {"0800": "0810", "0200": "0210", "0420": "0430", "0421": "0430"}[msg["t"]]
    return {**msg, "t": mti, "39": "00", **extra}


def test_many_in_flight_matched_out_of_order() -> None:
    """500 requests answered in random order each get their own reply."""

    async def scenario() -> None:
        mux = Mux()
        sent: list[Message] = []
        all_sent = asyncio.Event()

        async def send(m: Message) -> None:
            sent.append(m)
            if len(sent) == 500:
                all_sent.set()

        tasks = [asyncio.create_task(mux.request(echo_request(f"{i:06d}", f"T{i % 3:07d}"),
                                                 send, 5.0)) for i in range(1, 501)]
        await all_sent.wait()
        random.Random(7).shuffle(sent)
        for m in sent:
            assert mux.deliver(reply_to(m, **{"7": m["11"]}))
        replies = await asyncio.gather(*tasks)
        for i, r in enumerate(replies, start=1):
            assert (r["11"], r["41"], r["7"]) == (f"{i:06d}", f"T{i % 3:07d}", f"{i:06d}")
        assert mux.pending_count == 0 and mux.unmatched_count == 0

    run(scenario())


def test_duplicate_key_refused_before_sending() -> None:
    """A second request with a key in flight is refused; the first still gets its reply."""

    async def scenario() -> None:
        mux = Mux()
        sent: list[Message] = []

        async def send(m: Message) -> None:
            sent.append(m)

        first = asyncio.create_task(mux.request(echo_request("000001"), send, 5.0))
        await asyncio.sleep(0)  # let it register (a scheduling point, not a wait for time)
        with pytest.raises(DuplicateKey, match="STAN 000001 of terminal ADAPTER1"):
            await mux.request(echo_request("000001"), send, 5.0)
        assert len(sent) == 1
        mux.deliver(reply_to(sent[0]))
        assert (await first)["39"] == "00"

    run(scenario())


def test_timeout_then_late_reply_goes_to_nobody() -> None:
    """After a timeout the key is free; its late reply is counted late, not delivered."""

    async def scenario() -> None:
        seen: list[tuple[str, str]] = []
        mux = Mux(lambda m, why: seen.append((m["11"], why)))

        async def send(m: Message) -> None:
            return None

        with pytest.raises(MuxTimeout, match=r"no reply to 0800 STAN 000001 within 0\.010s"):
            await mux.request(echo_request("000001"), send, 0.01)
        assert mux.pending_count == 0
        assert not mux.deliver(reply_to(echo_request("000001")))
        assert seen == [("000001", "late")]
        assert mux.late_count == 1

    run(scenario())


def test_reply_with_wrong_mti_or_unknown_key_not_delivered() -> None:
    """Same key but an MTI that does not answer the request: unmatched; request still waits."""

    async def scenario() -> None:
        seen: list[str] = []
        mux = Mux(lambda m, why: seen.append(why))
        sent: list[Message] = []

        async def send(m: Message) -> None:
            sent.append(m)

        task = asyncio.create_task(mux.request(echo_request("000005"), send, 5.0))
        await asyncio.sleep(0)
        assert not mux.deliver({"t": "0210", "11": "000005", "41": "ADAPTER1", "39": "00"})
        assert not mux.deliver({"t": "0810", "11": "000006", "41": "ADAPTER1", "39": "00"})
        assert not mux.deliver({"t": "0810", "11": "000005", "41": "OTHERTID", "39": "00"})
        assert seen == ["unmatched"] * 3
        assert not task.done()
        assert mux.deliver(reply_to(sent[0]))
        assert (await task)["11"] == "000005"

    run(scenario())


def test_connection_loss_fails_everyone_in_flight() -> None:
    """fail_all: each caller learns the request was sent and its answer is lost."""

    async def scenario() -> None:
        mux = Mux()

        async def send(m: Message) -> None:
            return None

        tasks = [asyncio.create_task(mux.request(echo_request(f"{i:06d}"), send, 5.0))
                 for i in (1, 2)]
        await asyncio.sleep(0)
        mux.fail_all("gone")
        for t in tasks:
            with pytest.raises(ConnectionLost) as info:
                await t
            assert info.value.sent is True
        assert mux.pending_count == 0

    run(scenario())


def test_send_failure_releases_the_key() -> None:
    """A request whose send raised is not in flight any more."""

    async def scenario() -> None:
        mux = Mux()

        async def broken(m: Message) -> None:
            raise OSError("closed")

        with pytest.raises(OSError):
            await mux.request(echo_request("000001"), broken, 1.0)
        assert not mux.in_flight(("000001", "ADAPTER1"))

    run(scenario())
