"""Node failures under load, on three real core_sim processes sharing one ledger, through the
payment service and the pool (real TLS, both connectors): nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from adapter.connectors.pool.breaker import BreakerState
from adapter.connectors.pool.pool import CorePool
from adapter.model import AccountRef, PaymentStatus
from adapter.model.errors import AdapterError
from adapter.services.banking import BankingServices
from adapter.services.clients import ClientRegistry
from adapter.services.payments import utcnow
from adapter.services.resolver import Resolver
from adapter.stores.sqlite import SqliteStore
from tests.harness.nodes import CoreNodes, core_nodes
from tests.pool.support import (
    EUR_ACCOUNTS,
    balances,
    check_ledger_against_journal,
    journal,
    pool_settings,
    posting,
    ready_pool,
    run,
)
from tests.unit.test_services import INTERNAL, cmd, ctx, transfer

CALLERS = 32
EJECT_BOUND_S = 5.0  # health every 0.25 s, 1 s timeout, DOWN after 2: well under this


async def settle_everything(services: BankingServices, store: SqliteStore) -> None:
    """Resolver passes until nothing is left unsettled (each pass resolves, none waits)."""
    resolver = Resolver(services.payments, store.journal, store.keys)
    for _ in range(20):
        await resolver.run_once(include_recent=True)
        if not await store.journal.unresolved(utcnow()):
            return
    raise AssertionError(f"still unresolved: {await store.journal.unresolved(utcnow())}")


@pytest.mark.parametrize("connector", ["soap", "iso8583"])
def test_kill_one_node_and_freeze_another_under_32_callers(pki_dir: Path, tmp_path: Path,
                                                           connector: str) -> None:
    """SIGKILL node 1 and SIGSTOP node 2 (then SIGCONT) while 32 callers send transfers with
    unique keys: 0 payments lost, 0 booked twice, totals per currency unchanged, every
    payment final; node 2 is ejected within a bound and re-admitted through half-open."""
    with core_nodes(pki_dir, tmp_path / "core.db", 3) as nodes:
        figures = run(_kill_and_freeze(nodes, pki_dir, tmp_path, connector))
    print(f"\nkill/freeze ({connector}): {figures}")


async def _kill_and_freeze(nodes: CoreNodes, pki_dir: Path, tmp_path: Path,
                           connector: str) -> dict[str, Any]:
    totals = nodes.ledger.totals()
    before = balances(nodes.ledger)
    settings = pool_settings(tmp_path, pki_dir, nodes, connector, core_timeout=1.5)
    pool = await ready_pool(settings, **({"reversal_retry": 0.2}
                                         if connector == "iso8583" else {}))
    store = SqliteStore(settings.adapter_db, linger=0)
    services = BankingServices.build(pool, store, ClientRegistry([INTERNAL]),
                                     core_timeout=1.5, resolve_timeout=2.0)
    answers: dict[str, tuple[str, str | None]] = {}  # key -> (outcome code, payment id)
    messages: Counter[str] = Counter()
    progress = asyncio.Event()
    goal = [0]
    stop = asyncio.Event()

    async def caller(number: int) -> None:
        i = 0
        while not stop.is_set():
            key = f"c{number}-{i}"
            debtor = EUR_ACCOUNTS[(number + i) % 3]
            creditor = EUR_ACCOUNTS[(number + i + 1) % 3]
            i += 1
            try:
                result = await services.payments.transfer(
                    ctx(INTERNAL), cmd(key, transfer("0.01", debtor, creditor, e2e=key)))
                # Booked, or settled after a lost answer: RJCT / CANC (PaymentService Rule 5).
                answers[key] = (result.payment.status.name, result.payment.payment_id)
            except AdapterError as exc:
                answers[key] = (exc.code, exc.payment_id)
                messages[exc.message] += 1
            if len(answers) >= goal[0]:
                progress.set()

    async def until(count: int) -> None:
        goal[0] = count
        progress.clear()
        if len(answers) < count:
            await asyncio.wait_for(progress.wait(), 60)

    killed, frozen = nodes.nodes[0], nodes.nodes[1]
    callers = [asyncio.create_task(caller(n)) for n in range(CALLERS)]
    try:
        await until(150)
        killed.kill()
        at_kill = len(answers)
        await until(at_kill + 150)

        nodes.freeze(frozen)
        frozen_at = time.monotonic()
        node = next(n for n in pool.nodes if n.name == frozen.node_name)
        assert await pool.wait_until(lambda: not node.usable(), EJECT_BOUND_S), node.snapshot()
        ejected_after = time.monotonic() - frozen_at
        during = len(answers)
        await until(during + 100)  # the last node carries the traffic meanwhile
        frozen.cont()
        resumed_at = time.monotonic()
        seen = len(node.breaker.transitions)
        readmitted = await pool.wait_until(
            lambda: node.usable() and node.breaker.state is BreakerState.CLOSED
            and (BreakerState.HALF_OPEN, BreakerState.CLOSED) in node.breaker.transitions[seen:],
            15)
        assert readmitted, (node.snapshot(), node.breaker.transitions)
        readmitted_after = time.monotonic() - resumed_at
        await until(len(answers) + 100)
    finally:
        stop.set()
        await asyncio.gather(*callers)
    await settle_everything(services, store)
    snapshot = pool.snapshot()
    await pool.aclose()
    await store.aclose()

    payments = journal(settings.adapter_db)
    by_id = {p.payment_id: p for p in payments}
    assert (BreakerState.OPEN, BreakerState.HALF_OPEN) in node.breaker.transitions
    # Nothing lost: every answer that named a payment has it in the journal, final; every
    # payment answered is still in the status it was answered with (a "booked" one never
    # reversed later, never booked again).
    lost = [key for key, (_, payment_id) in answers.items()
            if payment_id is not None and payment_id not in by_id]
    assert lost == []
    for key, (code, payment_id) in answers.items():
        if payment_id is None:
            assert code not in ("BOOKED", "REJECTED", "REVERSED")
            continue
        payment = by_id[payment_id]
        if code in ("BOOKED", "REJECTED", "REVERSED"):
            assert payment.status.name == code, (key, payment)
    booked_twice = [p.payment_id for p in payments
                    if nodes.ledger.entry_count(p.core_reference) > 4
                    or (p.status is PaymentStatus.BOOKED
                        and nodes.ledger.entry_count(p.core_reference) != 2)]
    assert booked_twice == []
    assert nodes.ledger.totals() == totals
    outcomes = check_ledger_against_journal(nodes.ledger, payments, before)
    per_node = Counter(p.core_node for p in payments if p.status is PaymentStatus.BOOKED)
    assert None not in per_node
    return {
        "lost": len(lost), "booked twice": len(booked_twice), "totals unchanged": True,
        "answers": len(answers), "answer codes": dict(Counter(c for c, _ in answers.values())),
        "error messages": dict(messages),
        "journal": dict(outcomes), "booked per node": dict(per_node),
        "ejected after s": round(ejected_after, 2),
        "readmitted after s": round(readmitted_after, 2),
        "frozen node transitions": [f"{a.value}->{b.value}" for a, b in
                                    node.breaker.transitions],
        "requests per node": [r["requests"] for r in snapshot],
    }


class PostSpy:
    """A node's port that records every posting sent through it, and delegates the rest."""

    def __init__(self, port: Any) -> None:
        self._port = port
        self.posted: list[str] = []
        self.resolved: list[str] = []

    async def post(self, posting: Any, *, timeout: float) -> Any:
        self.posted.append(posting.reference)
        return await self._port.post(posting, timeout=timeout)

    async def resolve(self, posting: Any, *, timeout: float) -> Any:
        self.resolved.append(posting.reference)
        return await self._port.resolve(posting, timeout=timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._port, name)


LATE_MS = 2500  # the node's answer comes this long after the posting; the adapter waits 1 s


@pytest.mark.parametrize("mode", ["hang", "late"])
@pytest.mark.parametrize("connector", ["soap", "iso8583"])
def test_a_late_booked_answer_is_settled_once_never_rebooked_elsewhere(
        pki_dir: Path, tmp_path: Path, connector: str, mode: str) -> None:
    """Node 1 books the posting and its answer does not come back within the adapter's 1 s:
    "hang" books and never answers; "late" answers "booked" 2.5 s after the posting (its
    latency switch: ISO 8583 books and sends the approving 0210 after the adapter gave up).
    The payment is resolved, never re-sent. SOAP: the status query finds it booked: BOOKED
    once. ISO 8583: the connector's reversal on timeout undoes it: REVERSED, money back.
    Either way nodes 2 and 3 are never sent the posting, and the ledger gained exactly one
    posting (no second reference anywhere on the shared ledger)."""
    with core_nodes(pki_dir, tmp_path / "core.db", 3) as nodes:
        run(_late_answer(nodes, pki_dir, tmp_path, connector, mode))


def _postings(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute("SELECT COUNT(*) FROM postings").fetchone()[0])
    finally:
        con.close()


async def _late_answer(nodes: CoreNodes, pki_dir: Path, tmp_path: Path,
                       connector: str, mode: str) -> None:
    before = balances(nodes.ledger)
    totals = nodes.ledger.totals()
    postings_before = _postings(nodes.db_path)
    # "late" slows every call of node 1, its SOAP ping too: the health check may take longer
    # than the latency, so node 1 stays usable and the resolution goes to it first.
    extra = {"core_health_timeout": 4.0} if mode == "late" else {}
    settings = pool_settings(tmp_path, pki_dir, nodes, connector, balance="primary-secondary",
                             **extra)
    pool: CorePool = await ready_pool(settings)
    spies = [PostSpy(node.port) for node in pool.nodes]
    for node, spy in zip(pool.nodes, spies, strict=True):
        node.port = spy
    store = SqliteStore(settings.adapter_db, linger=0)
    services = BankingServices.build(pool, store, ClientRegistry([INTERNAL]),
                                     core_timeout=1.0, resolve_timeout=8.0)
    # The account facts are read (and cached) first: with node 1 slowed, a read would spend
    # the transfer's deadline before the posting is ever sent.
    for account_id in ("10000001", "10000002"):
        await services.accounts.get_account(ctx(INTERNAL), AccountRef(id=account_id))
    first = nodes.nodes[0]
    if mode == "hang":
        first.faults(drop_next=1, drop_mode="hang")
    else:
        first.faults(latency_ms=LATE_MS)
    try:
        # Settled in line either way (PaymentService Rule 5): SOAP ACSC, ISO 8583 CANC.
        answered = await services.payments.transfer(ctx(INTERNAL), cmd("late-1", transfer(
            "7.00", "10000001", "10000002", e2e="late")))
        await settle_everything(services, store)
    finally:
        first.faults(drop_next=0, latency_ms=0)
        await pool.aclose()
        await store.aclose()
    [payment] = journal(settings.adapter_db)
    assert answered.payment.status is payment.status
    assert payment.core_node == first.address
    assert spies[0].posted == [payment.core_reference]
    assert spies[1].posted == [] and spies[2].posted == []  # never re-sent elsewhere
    assert _postings(nodes.db_path) == postings_before + 1
    core = nodes.ledger.transfer_status(payment.core_reference)
    assert core is not None
    if connector == "soap":
        assert payment.status is PaymentStatus.BOOKED
        assert core.state == "booked" and nodes.ledger.entry_count(payment.core_reference) == 2
        after = balances(nodes.ledger)
        assert after["10000001"] == before["10000001"] - 700
        assert after["10000002"] == before["10000002"] + 700
    else:
        assert payment.status is PaymentStatus.REVERSED
        assert core.state == "reversed" and nodes.ledger.entry_count(payment.core_reference) == 4
        assert balances(nodes.ledger) == before
    assert nodes.ledger.totals() == totals


def test_posting_refused_before_delivery_fails_over_and_books_once(pki_dir: Path,
                                                                   tmp_path: Path) -> None:
    """Node 1 declines with CORE_UNAVAILABLE (injected, nothing booked): the same posting is
    booked once by node 2, and node 1's error counts against its breaker."""
    with core_nodes(pki_dir, tmp_path / "core.db", 3) as nodes:
        async def main() -> None:
            settings = pool_settings(tmp_path, pki_dir, nodes, "iso8583",
                                     balance="primary-secondary")
            pool = await ready_pool(settings)
            nodes.nodes[0].faults(fail_next=1)
            try:
                booking = await pool.post(posting("FAILOVER0001"), timeout=5)
            finally:
                await pool.aclose()
            assert booking.node == nodes.nodes[1].address
            assert pool.nodes[0].stats.errors == 1 and pool.nodes[0].stats.failovers == 1

        before = balances(nodes.ledger)
        run(main())
        assert nodes.ledger.entry_count("FAILOVER0001") == 2
        assert balances(nodes.ledger)["10000001"] == before["10000001"] - 1
