"""`CorePool` over fake nodes sharing one fake ledger: failover only where safe, breaker
bookkeeping, readiness, resolve routing. Time comes from an injected clock."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapter.connectors.pool.breaker import Breaker, BreakerOptions, BreakerState
from adapter.connectors.pool.health import HealthOptions
from adapter.connectors.pool.nodes import Health, Node, NodeAddress
from adapter.connectors.pool.pool import CorePool
from adapter.connectors.pool.strategies import PrimarySecondary, RoundRobin
from adapter.model import AccountRef, Money
from adapter.model.errors import CoreTimeout, CoreUnavailable, InsufficientFunds
from adapter.ports.core import CoreBooking, CoreBookingState, CoreOutcomeUnknown, CorePosting
from adapter.services.banking import BankingServices
from adapter.services.clients import ClientRegistry
from adapter.stores.sqlite import SqliteStore
from tests.fakes import FakeCore
from tests.unit.test_services import INTERNAL, PARTNER, cmd, ctx, make_core, transfer


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeNode:
    """One node of a fake core: its own script, the shared ledger behind it."""

    ledger: FakeCore
    script: deque[str] = field(default_factory=deque)  # what the next post / resolve does
    read_script: deque[str] = field(default_factory=deque)  # what the next read does
    posts: list[str] = field(default_factory=list)
    resolves: list[str] = field(default_factory=list)
    reads: int = 0
    healthy_answer: bool = True
    probe_started: asyncio.Event | None = None  # set when a health probe of this node begins
    probe_gate: asyncio.Event | None = None  # the probe answers only once this is set

    async def list_accounts(self, *, timeout: float) -> Any:
        return await self._read(self.ledger.list_accounts(timeout=timeout))

    async def get_account(self, ref: AccountRef, *, timeout: float) -> Any:
        return await self._read(self.ledger.get_account(ref, timeout=timeout))

    async def get_balance(self, account_id: str, *, timeout: float) -> Any:
        return await self._read(self.ledger.get_balance(account_id, timeout=timeout))

    async def get_history(self, account_id: str, query: Any, *, timeout: float) -> Any:
        return await self._read(self.ledger.get_history(account_id, query, timeout=timeout))

    async def _read(self, coro: Any) -> Any:
        self.reads += 1
        action = self.read_script.popleft() if self.read_script else "ok"
        if action == "unavailable":
            coro.close()
            raise CoreUnavailable()
        if action == "timeout":
            coro.close()
            raise CoreTimeout()
        return await coro

    async def post(self, posting: CorePosting, *, timeout: float) -> CoreBooking:
        self.posts.append(posting.reference)
        action = self.script.popleft() if self.script else "ok"
        if action == "unavailable":
            raise CoreUnavailable()
        if action == "crash":
            raise RuntimeError("a bug in a connector")
        booking = self.ledger._book(posting)
        if action == "lose_reply":
            raise CoreOutcomeUnknown()
        return booking

    async def resolve(self, posting: CorePosting, *, timeout: float) -> CoreBooking:
        self.resolves.append(posting.reference)
        action = self.script.popleft() if self.script else "ok"
        if action == "timeout":
            raise CoreOutcomeUnknown()
        return await self.ledger.resolve(posting, timeout=timeout)

    async def healthy(self) -> bool:
        if self.probe_started is not None:
            self.probe_started.set()
        if self.probe_gate is not None:
            await self.probe_gate.wait()
        return self.healthy_answer

    async def aclose(self) -> None:
        return None


def posting(ref: str, amount: str = "10.00") -> CorePosting:
    return CorePosting(reference=ref, debtor_account_id="A1", creditor_account_id="A2",
                       amount=Money(amount=Decimal(amount), currency="EUR"),
                       end_to_end_id=f"E2E-{ref}")


def make_pool(count: int = 3, *, strategy: Any = None, failures_to_open: int = 3,
              up: bool = True) -> tuple[CorePool, list[FakeNode], FakeCore, Clock]:
    ledger = make_core()
    clock = Clock()
    fakes = [FakeNode(ledger) for _ in range(count)]
    nodes = []
    for i, fake in enumerate(fakes):
        breaker = Breaker(BreakerOptions(failures_to_open=failures_to_open, base_ejection=2.0,
                                         max_ejection=10.0), clock=clock)
        node = Node(NodeAddress("127.0.0.1", 7000 + i, 8000 + i), fake, breaker)
        if up:
            node.health = Health.UP
        nodes.append(node)
    probes = {n.name: f.healthy for n, f in zip(nodes, fakes, strict=True)}
    pool = CorePool(nodes, strategy or RoundRobin(), probes,
                    health=HealthOptions(interval=3600, timeout=1.0), clock=clock)
    return pool, fakes, ledger, clock


def run(coro: Any) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coro, 10)

    return asyncio.run(bounded())


def test_round_robin_over_the_pool_and_node_recorded():
    """Six postings go a, b, c, a, b, c; each booking names the node that booked it."""
    pool, fakes, ledger, _ = make_pool()

    async def main() -> list[str | None]:
        return [(await pool.post(posting(f"R{i}"), timeout=1)).node for i in range(6)]

    names = run(main())
    assert names == [n.name for n in pool.nodes] * 2
    assert [len(f.posts) for f in fakes] == [2, 2, 2]
    assert ledger.balances["A1"] == Decimal("40.00")


def test_failover_when_the_request_certainly_did_not_leave():
    """CoreUnavailable at a: the same posting goes to b and is booked once there."""
    pool, fakes, ledger, _ = make_pool()
    fakes[0].script.append("unavailable")
    booking = run(pool.post(posting("F1"), timeout=1))
    assert booking.node != pool.nodes[0].name
    assert fakes[0].posts == ["F1"] and sorted(fakes[1].posts + fakes[2].posts) == ["F1"]
    assert ledger.balances["A1"] == Decimal("90.00")
    assert pool.nodes[0].stats.failovers == 1 and pool.nodes[0].stats.errors == 1


def test_unknown_outcome_is_never_sent_elsewhere():
    """A lost reply at a raises CoreOutcomeUnknown naming a; b and c never see the posting,
    and the money moved once."""
    pool, fakes, ledger, _ = make_pool()
    fakes[0].script.append("lose_reply")
    with pytest.raises(CoreOutcomeUnknown) as caught:
        run(pool.post(posting("U1"), timeout=1))
    assert caught.value.core_node == pool.nodes[0].name
    assert fakes[1].posts == [] and fakes[2].posts == []
    assert ledger.balances["A1"] == Decimal("90.00")
    assert pool.sent_to("U1") == pool.nodes[0].name


def test_an_unexpected_error_after_sending_is_in_doubt_not_failed_over():
    """A connector bug while posting is treated as 'may have booked': unknown, no failover."""
    pool, fakes, _, _ = make_pool()
    fakes[0].script.append("crash")
    with pytest.raises(CoreOutcomeUnknown) as caught:
        run(pool.post(posting("X1"), timeout=1))
    assert caught.value.core_node == pool.nodes[0].name
    assert fakes[1].posts == []


def test_business_refusal_is_returned_not_failed_over_and_counts_as_success():
    """Insufficient funds at a: raised to the caller, b never asked, a's breaker unharmed."""
    pool, fakes, _, _ = make_pool(failures_to_open=1)
    with pytest.raises(InsufficientFunds):
        run(pool.post(posting("B1", amount="1000.00"), timeout=1))
    assert fakes[1].posts == []
    assert pool.nodes[0].breaker.state is BreakerState.CLOSED
    assert pool.nodes[0].stats.errors == 0


def test_all_nodes_unusable_answers_core_unavailable_at_once():
    """Every node DOWN: CORE_UNAVAILABLE without waiting and without calling any node."""
    pool, fakes, _, _ = make_pool()
    for node in pool.nodes:
        node.health = Health.DOWN

    async def main() -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(CoreUnavailable, match="no core node is usable"):
            await pool.post(posting("N1"), timeout=5)
        return loop.time() - started

    assert run(main()) < 0.5
    assert all(f.posts == [] for f in fakes)


def test_every_node_refusing_delivery_is_core_unavailable():
    """Each node in turn CoreUnavailable: the last one's error, each tried once."""
    pool, fakes, ledger, _ = make_pool()
    for fake in fakes:
        fake.script.append("unavailable")
    with pytest.raises(CoreUnavailable):
        run(pool.post(posting("A1"), timeout=1))
    assert [f.posts for f in fakes] == [["A1"], ["A1"], ["A1"]]
    assert ledger.balances["A1"] == Decimal("100.00")


def test_callers_wait_on_readiness_while_nodes_are_starting():
    """Nodes STARTING: a posting waits (no polling) until a health round makes one usable."""
    pool, fakes, ledger, _ = make_pool(up=False)

    async def main() -> CoreBooking:
        started, gate = asyncio.Event(), asyncio.Event()
        for fake in fakes:
            fake.probe_started, fake.probe_gate = started, gate
        task = asyncio.create_task(pool.post(posting("S1"), timeout=5))
        # The caller starts the health schedule and waits on readiness: the first probe
        # begins while it waits, and nothing is posted before a probe has answered.
        await asyncio.wait_for(started.wait(), 5)
        assert not task.done() and all(f.posts == [] for f in fakes)
        gate.set()
        return await task

    booking = run(main())
    assert booking.state is CoreBookingState.BOOKED
    assert ledger.balances["A1"] == Decimal("90.00")


def test_failed_calls_eject_a_node_then_half_open_readmits_it():
    """Three failures eject a for 2 s (clock): traffic skips it; at 2 s one probe goes to it
    and its success closes the breaker."""
    pool, fakes, _, clock = make_pool(strategy=PrimarySecondary())
    a = pool.nodes[0]
    fakes[0].script.extend(["unavailable"] * 3)

    async def main() -> None:
        for i in range(3):
            await pool.post(posting(f"E{i}"), timeout=1)
        assert a.breaker.state is BreakerState.OPEN and not a.usable()
        await pool.post(posting("E3"), timeout=1)
        assert fakes[0].posts == ["E0", "E1", "E2"]
        clock.now += 2.0
        assert a.breaker.state is BreakerState.HALF_OPEN
        booking = await pool.post(posting("E4"), timeout=1)
        assert booking.node == a.name
        assert a.breaker.state is BreakerState.CLOSED

    run(main())
    assert fakes[1].posts == ["E0", "E1", "E2", "E3"]


def test_health_probe_readmits_a_half_open_node_without_a_payment():
    """An ejected node whose probe passes after the ejection is closed by the health round."""
    pool, fakes, _, clock = make_pool(failures_to_open=1)
    a = pool.nodes[0]
    fakes[0].script.append("unavailable")
    run(pool.post(posting("H1"), timeout=1))
    assert a.breaker.state is BreakerState.OPEN
    clock.now += 2.0
    run(pool.check_now())
    assert a.breaker.state is BreakerState.CLOSED
    assert fakes[0].posts == ["H1"]


def test_health_down_after_failed_checks_and_readiness_follows():
    """unhealthy_after=2: one failed check keeps a node UP, the second takes it DOWN; with
    every node DOWN the pool is not ready."""
    pool, fakes, _, _ = make_pool(count=2)
    for fake in fakes:
        fake.healthy_answer = False
    run(pool.check_now())
    assert [n.health for n in pool.nodes] == [Health.UP, Health.UP]
    run(pool.check_now())
    assert [n.health for n in pool.nodes] == [Health.DOWN, Health.DOWN]
    assert run(pool.healthy()) is False
    fakes[1].healthy_answer = True
    run(pool.check_now())
    assert pool.nodes[1].health is Health.UP and run(pool.healthy()) is True


def test_resolve_goes_to_the_node_that_was_sent_the_posting():
    """The in-doubt posting went to b; resolve asks b first and finds it booked."""
    pool, fakes, ledger, _ = make_pool()
    run(pool.post(posting("P0"), timeout=1))  # a
    fakes[1].script.append("lose_reply")
    with pytest.raises(CoreOutcomeUnknown):
        run(pool.post(posting("P1"), timeout=1))
    booking = run(pool.resolve(posting("P1"), timeout=1))
    assert booking.state is CoreBookingState.BOOKED
    assert fakes[1].resolves == ["P1"] and fakes[0].resolves == fakes[2].resolves == []
    assert pool.sent_to("P1") is None
    assert ledger.balances["A1"] == Decimal("80.00")


def test_resolve_fails_over_to_another_node_on_the_same_ledger():
    """b cannot settle (timeout): the next node settles it on the shared ledger."""
    pool, fakes, ledger, _ = make_pool()
    fakes[0].script.append("lose_reply")
    with pytest.raises(CoreOutcomeUnknown):
        run(pool.post(posting("Q1"), timeout=1))
    fakes[0].script.append("timeout")
    booking = run(pool.resolve(posting("Q1"), timeout=1))
    assert booking.state is CoreBookingState.BOOKED
    assert fakes[0].resolves == ["Q1"] and len(fakes[1].resolves + fakes[2].resolves) == 1
    assert ledger.balances["A1"] == Decimal("90.00")


def test_reads_fail_over_after_a_timeout():
    """A balance read that times out at a is answered by b."""
    pool, fakes, _, _ = make_pool()
    fakes[0].read_script.append("timeout")
    balance = run(pool.get_balance("A1", timeout=1))
    assert balance.booked.amount == Decimal("100.00")
    assert fakes[0].reads == 1 and fakes[1].reads + fakes[2].reads == 1


def test_snapshot_shows_each_node():
    """Status rows carry health, breaker, in flight, requests and errors per node."""
    pool, fakes, _, _ = make_pool(count=2, failures_to_open=1)
    fakes[0].script.append("unavailable")
    run(pool.post(posting("T1"), timeout=1))
    rows = pool.snapshot()
    assert rows[0] | {} == {
        "node": "127.0.0.1:7000:8000", "weight": 1, "health": "up", "link": "up",
        "breaker": "open", "in_flight": 0, "requests": 1, "errors": 1, "failovers": 1,
        "ejections": 1, "usable": False}
    assert rows[1]["requests"] == 1 and rows[1]["errors"] == 0


def test_payment_records_the_node_it_was_sent_to(tmp_path: Path):
    """Through the payment service: a booked payment and an in-doubt one name their node."""
    pool, fakes, _, _ = make_pool(strategy=PrimarySecondary())
    fakes[0].script.extend(["unavailable", "lose_reply"])

    async def main() -> tuple[Any, Any]:
        store = SqliteStore(tmp_path / "adapter.db")
        services = BankingServices.build(pool, store, ClientRegistry([PARTNER, INTERNAL]),
                                         core_timeout=1.0, resolve_timeout=1.0)
        try:
            first = await services.payments.transfer(ctx(), cmd("k-1", transfer(e2e="E-1")))
            second = await services.payments.transfer(ctx(), cmd("k-2", transfer(e2e="E-2")))
            stored = await store.journal.get(second.payment.payment_id)
            return first.payment, stored
        finally:
            await store.aclose()

    first, second = run(main())
    # The first went to b after a refused delivery; the second's reply was lost at a and
    # it was resolved (booked) through a: each names the node it was sent to.
    assert first.core_node == pool.nodes[1].name
    assert second.status.value == "booked" and second.core_node == pool.nodes[0].name


def test_a_failed_probe_does_not_take_down_a_node_that_answers_calls():
    """Probes time out while real calls succeed (congestion): the node stays UP; once it
    answers nothing between rounds, two failed probes take it DOWN."""
    pool, fakes, _, _ = make_pool(count=1)
    fakes[0].healthy_answer = False
    for i in range(3):
        run(pool.post(posting(f"C{i}"), timeout=1))
        run(pool.check_now())
    assert pool.nodes[0].health is Health.UP and pool.nodes[0].stats.checks_failed == 3
    run(pool.check_now())
    assert pool.nodes[0].health is Health.UP
    run(pool.check_now())
    assert pool.nodes[0].health is Health.DOWN
