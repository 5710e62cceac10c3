"""Contract of the ISO 8583 reversal port (`adapter.ports.reversals`), on every backend."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from adapter.ports.reversals import Reversal, ReversalState, ReversalStore, ReversalStoreError
from tests.contract.conftest import T0, Clock, opened, run_with, run_with_two

Opener = Callable[[], ReversalStore]


def original(reference: str) -> dict[str, str]:
    """A 0200's data elements, field number -> value, as the connector sends them."""
    return {"t": "0200", "3": "400000", "4": "000000000100", "7": "1128000000", "11": "000099",
            "37": reference, "41": "ADAPTER1", "49": "978", "102": "10000001",
            "103": "10000002"}


def test_arm_records_the_request_once(open_reversals: Opener) -> None:
    """Rule 1: the first arm of a reference is True and stores the request as sent; a
    second arm is False and changes nothing."""
    async def scenario(r: ReversalStore) -> None:
        sent = original("REF000000001")
        assert await r.arm("REF000000001", sent) is True
        sent["4"] = "999999999999"  # the caller's dict is not the stored one
        assert await r.arm("REF000000001", original("REF000000001") | {"4": "1"}) is False
        assert await r.get("REF000000001") == Reversal(
            "REF000000001", ReversalState.ARMED, original("REF000000001"), 0, None)
        assert await r.get("REF000000002") is None

    run_with(open_reversals, scenario)


def test_disarm_deletes_only_an_armed_row(open_reversals: Opener) -> None:
    """Rule 4: a definite reply removes the ARMED row; a PENDING row stays owed."""
    async def scenario(r: ReversalStore) -> None:
        await r.arm("REFDISARM001", original("REFDISARM001"))
        await r.arm("REFPENDING01", original("REFPENDING01"))
        await r.mark_pending("REFPENDING01")
        await r.disarm("REFDISARM001")
        await r.disarm("REFPENDING01")
        await r.disarm("REFUNKNOWN01")
        assert await r.get("REFDISARM001") is None
        pending = await r.get("REFPENDING01")
        assert pending is not None and pending.state is ReversalState.PENDING

    run_with(open_reversals, scenario)


def test_mark_pending_moves_armed_rows_and_inserts_unknown_ones_with_their_request(
        open_reversals: Opener) -> None:
    """ARMED becomes PENDING (request kept); an unknown reference is inserted PENDING only
    when its request is given; without it there is nothing to mark."""
    async def scenario(r: ReversalStore) -> None:
        await r.arm("REFARMED0001", original("REFARMED0001"))
        moved = await r.mark_pending("REFARMED0001", original("REFARMED0001") | {"4": "2"})
        assert moved == Reversal("REFARMED0001", ReversalState.PENDING,
                                 original("REFARMED0001"), 0, None)
        assert await r.mark_pending("REFNOTHERE01") is None
        assert await r.get("REFNOTHERE01") is None
        fenced = await r.mark_pending("REFFENCE0001", original("REFFENCE0001"))
        assert fenced == Reversal("REFFENCE0001", ReversalState.PENDING,
                                  original("REFFENCE0001"), 0, None)
        assert await r.arm("REFFENCE0001", original("REFFENCE0001")) is False

    run_with(open_reversals, scenario)


def test_attempts_count_and_reversed_is_final(open_reversals: Opener, clock: Clock) -> None:
    """Rule 2: attempts grow by one; REVERSED carries the clock's time, leaves the
    outstanding list, and the reference can never be armed again."""
    async def scenario(r: ReversalStore) -> None:
        await r.mark_pending("REFREV000001", original("REFREV000001"))
        assert [await r.count_attempt("REFREV000001") for _ in range(3)] == [1, 2, 3]
        assert await r.count_attempt("REFNONE00001") == 0
        await r.mark_reversed("REFREV000001")
        assert await r.get("REFREV000001") == Reversal(
            "REFREV000001", ReversalState.REVERSED, original("REFREV000001"), 3, T0)
        assert await r.outstanding() == []
        assert await r.arm("REFREV000001", original("REFREV000001")) is False
        assert await r.mark_pending("REFREV000001") == await r.get("REFREV000001")

    run_with(open_reversals, scenario)


def test_outstanding_lists_armed_and_pending_rows_oldest_first(open_reversals: Opener) -> None:
    """Rule 5: every row still owed, in the order it was written; nothing disarmed or
    reversed."""
    async def scenario(r: ReversalStore) -> list[tuple[str, ReversalState]]:
        for ref in ("REFOUT000001", "REFOUT000002", "REFOUT000003", "REFOUT000004"):
            await r.arm(ref, original(ref))
        await r.mark_pending("REFOUT000002")
        await r.disarm("REFOUT000003")
        await r.mark_pending("REFOUT000004")
        await r.mark_reversed("REFOUT000004")
        await r.mark_pending("REFOUT000005", original("REFOUT000005"))
        return [(x.reference, x.state) for x in await r.outstanding()]

    assert run_with(open_reversals, scenario) == [
        ("REFOUT000001", ReversalState.ARMED), ("REFOUT000002", ReversalState.PENDING),
        ("REFOUT000005", ReversalState.PENDING)]


def test_a_cancelled_arm_leaves_no_row_and_a_cancelled_disarm_is_still_written(
        open_reversals: Opener) -> None:
    """Rule 3: the caller of a cancelled arm never sends, so no row may stay; the caller
    of a cancelled disarm had a definite reply, so its row must go."""
    async def scenario(r: ReversalStore) -> None:
        await r.arm("REFCANDIS001", original("REFCANDIS001"))
        arm = asyncio.ensure_future(r.arm("REFCANARM001", original("REFCANARM001")))
        disarm = asyncio.ensure_future(r.disarm("REFCANDIS001"))
        await asyncio.sleep(0)  # both writes have started and wait to be written
        arm.cancel()
        disarm.cancel()
        for task in (arm, disarm):
            with pytest.raises(asyncio.CancelledError):
                await task
        await r.arm("REFAFTER0001", original("REFAFTER0001"))  # a write after them all
        assert await r.get("REFCANARM001") is None
        assert await r.get("REFCANDIS001") is None
        assert [x.reference for x in await r.outstanding()] == ["REFAFTER0001"]

    run_with(open_reversals, scenario)


def test_a_closed_store_refuses_writes(open_reversals: Opener) -> None:
    """Rule 6: after aclose an arm raises ReversalStoreError (the 0200 must not leave)."""
    async def scenario() -> None:
        r = await opened(open_reversals)
        await r.aclose()
        with pytest.raises(ReversalStoreError):
            await r.arm("REFCLOSED001", original("REFCLOSED001"))

    asyncio.run(scenario())


def test_two_stores_racing_to_arm_a_reference_arm_it_once(open_reversals: Opener) -> None:
    """Rule 1 across connections: two stores on the same data arm each of 10 references at
    once; exactly one arm returns True (only that one's 0200 may be sent)."""
    async def scenario(a: ReversalStore, b: ReversalStore) -> list[int]:
        wins = []
        for i in range(10):
            ref = f"REFRACE{i:05d}"
            results = await asyncio.gather(*(s.arm(ref, original(ref)) for s in (a, b, a, b)))
            wins.append(sum(results))
        return wins

    assert run_with_two(open_reversals, scenario) == [1] * 10
