"""The strategies over three real core_sim nodes on one ledger (real TLS, both connectors):
the measured split of postings per node."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapter.model.errors import DuplicateRequest
from tests.harness.nodes import CoreNodes, core_nodes
from tests.pool.support import balances, pool_settings, posting, ready_pool, run

CONNECTORS = ["soap", "iso8583"]


@pytest.fixture(scope="module")
def nodes(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoreNodes]:
    """Three nodes shared by the module (starting them is the slow part): each test checks
    balance deltas and leaves every fault switch off."""
    path = tmp_path_factory.mktemp("nodes")
    with core_nodes(pki_dir, path / "core.db", 3) as running:
        yield running


@pytest.mark.parametrize("connector", CONNECTORS)
def test_weighted_round_robin_over_700_postings(nodes: CoreNodes, tmp_path: Path,
                                                pki_dir: Path, connector: str) -> None:
    """Weights 5:1:1: the first 7 postings go a a b a c a a, and 700 split exactly
    500/100/100 (within 1 % of the weights); the ledger moved by exactly 700 postings."""
    settings = pool_settings(tmp_path, pki_dir, nodes, connector,
                             balance="weighted-round-robin", weights=[5, 1, 1])
    before = balances(nodes.ledger)
    a, b, c = (n.address for n in nodes.nodes)

    async def main() -> list[str | None]:
        pool = await ready_pool(settings)
        try:
            return [(await pool.post(posting(f"W{connector[0]}{i:010d}"), timeout=5)).node
                    for i in range(700)]
        finally:
            await pool.aclose()

    sent = run(main())
    assert sent[:7] == [a, a, b, a, c, a, a]
    split = Counter(sent)
    print(f"\nweighted round robin 5:1:1 over 700 ({connector}): {dict(split)}")
    assert split == {a: 500, b: 100, c: 100}
    after = balances(nodes.ledger)
    assert after["10000001"] == before["10000001"] - 700
    assert after["10000002"] == before["10000002"] + 700


@pytest.mark.parametrize("connector", CONNECTORS)
def test_round_robin_is_even_over_real_nodes(nodes: CoreNodes, tmp_path: Path,
                                             pki_dir: Path, connector: str) -> None:
    """300 postings, round robin: exactly 100 per node, in turn."""
    settings = pool_settings(tmp_path, pki_dir, nodes, connector)
    names = [n.address for n in nodes.nodes]

    async def main() -> list[str | None]:
        pool = await ready_pool(settings)
        try:
            return [(await pool.post(posting(f"R{connector[0]}{i:010d}"), timeout=5)).node
                    for i in range(300)]
        finally:
            await pool.aclose()

    sent = run(main())
    print(f"\nround robin over 300 ({connector}): {dict(Counter(sent))}")
    assert sent == names * 100


@pytest.mark.parametrize("connector", CONNECTORS)
def test_least_outstanding_skews_away_from_a_slowed_node(nodes: CoreNodes, tmp_path: Path,
                                                         pki_dir: Path,
                                                         connector: str) -> None:
    """Node a slowed by 500 ms through its own fault switch: with 8 callers, least
    outstanding sends it less than 15 % of 360 postings (round robin: a third),
    and the other two share the rest."""
    # The latency also slows the SOAP health ping: the check may take longer than it.
    settings = pool_settings(tmp_path, pki_dir, nodes, connector, balance="least-outstanding",
                             core_health_timeout=2.0)
    slow = nodes.nodes[0]
    assert slow.faults(latency_ms=500)["latency_ms"] == 500
    counter = iter(range(360))
    before = balances(nodes.ledger)

    async def main() -> Counter[str | None]:
        pool = await ready_pool(settings)
        split: Counter[str | None] = Counter()

        async def caller() -> None:
            for i in counter:
                booking = await pool.post(posting(f"L{connector[0]}{i:010d}"), timeout=5)
                split[booking.node] += 1

        try:
            await asyncio.gather(*(caller() for _ in range(8)))
        finally:
            await pool.aclose()
            slow.faults(latency_ms=0)
        return split

    split = run(main())
    print(f"\nleast outstanding, node a +500 ms, 8 callers ({connector}): "
          f"{ {k: v for k, v in split.items()} }")
    assert sum(split.values()) == 360
    assert split[slow.address] < 360 * 0.15
    fast = [split[n.address] for n in nodes.nodes[1:]]
    assert min(fast) > 360 * 0.3
    assert balances(nodes.ledger)["10000001"] == before["10000001"] - 360


def test_nodes_share_one_ledger_and_book_a_reference_once(nodes: CoreNodes, tmp_path: Path,
                                                          pki_dir: Path) -> None:
    """A reference booked through node a is refused as a duplicate (different amount) at
    node c: one ledger, at most one booking per reference across nodes."""
    settings = pool_settings(tmp_path, pki_dir, nodes, "soap", balance="primary-secondary")
    before = balances(nodes.ledger)

    async def main() -> None:
        pool = await ready_pool(settings)
        try:
            first = await pool.nodes[0].port.post(posting("ONE000000001"), timeout=5)
            assert first.state.value == "booked"
            with pytest.raises(DuplicateRequest):
                await pool.nodes[2].port.post(posting("ONE000000001", amount="0.02"), timeout=5)
        finally:
            await pool.aclose()

    run(main())
    assert balances(nodes.ledger)["10000001"] == before["10000001"] - 1


@pytest.mark.parametrize("connector", CONNECTORS)
def test_a_pool_books_as_soon_as_it_is_built(nodes: CoreNodes, tmp_path: Path,
                                             pki_dir: Path, connector: str) -> None:
    """No waiting for readiness by the caller: a posting sent the moment the pool is built
    waits for the first health verdicts and is booked. (An ISO 8583 node still signing on
    was once judged DOWN by its first echo, and the posting refused with CORE_UNAVAILABLE.)"""
    # One health round only (the next is 30 s away): its verdict is what the posting gets.
    settings = pool_settings(tmp_path, pki_dir, nodes, connector, core_health_interval=30.0)
    before = balances(nodes.ledger)

    async def main() -> str | None:
        from adapter.app import reversal_stores
        from adapter.connectors.pool.build import build_pool

        pool = await build_pool(settings, reversal_stores=reversal_stores(settings))
        try:
            return (await pool.post(posting(f"F{connector[0]}0000000001"), timeout=5)).node
        finally:
            await pool.aclose()

    assert run(main()) == nodes.nodes[0].address
    assert balances(nodes.ledger)["10000001"] == before["10000001"] - 1
