"""The balancing strategies: exact sequences and measured splits, no I/O."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import pytest

from adapter.connectors.pool.strategies import (
    BalanceKind,
    LeastOutstanding,
    PrimarySecondary,
    RoundRobin,
    SmoothWeighted,
    make_strategy,
)


@dataclass
class N:
    name: str
    weight: int = 1
    in_flight: int = 0


def picks(strategy, nodes, count):  # type: ignore[no-untyped-def]
    return "".join(strategy.pick(nodes).name for _ in range(count))


def test_smooth_weighted_gives_nginx_sequence_over_7():
    """Weights {a: 5, b: 1, c: 1} give nginx's documented sequence a a b a c a a."""
    nodes = [N("a", 5), N("b", 1), N("c", 1)]
    assert picks(SmoothWeighted(), nodes, 7) == "aabacaa"


def test_smooth_weighted_repeats_exactly_over_700():
    """Over 700 picks the split is exactly 500/100/100 (within 1 % of the weights)."""
    nodes = [N("a", 5), N("b", 1), N("c", 1)]
    sequence = picks(SmoothWeighted(), nodes, 700)
    assert sequence == "aabacaa" * 100
    assert Counter(sequence) == {"a": 500, "b": 100, "c": 100}


def test_smooth_weighted_other_weights_split_exactly():
    """Weights 3:2:1 over 600 picks give 300/200/100, never two b or c in a row."""
    nodes = [N("a", 3), N("b", 2), N("c", 1)]
    sequence = picks(SmoothWeighted(), nodes, 600)
    assert Counter(sequence) == {"a": 300, "b": 200, "c": 100}
    assert "bb" not in sequence and "cc" not in sequence


def test_smooth_weighted_node_leaving_and_returning_keeps_proportions():
    """With c gone the rest split 5:1; once back, every window of 7 is again 5/1/1."""
    a, b, c = N("a", 5), N("b", 1), N("c", 1)
    sw = SmoothWeighted()
    assert Counter(picks(sw, [a, b], 60)) == {"a": 50, "b": 10}
    sequence = picks(sw, [a, b, c], 700)
    assert Counter(sequence[7:]) == {"a": 495, "b": 99, "c": 99}


def test_round_robin_is_even():
    """Round robin over three nodes: 100 each of 300, in order."""
    nodes = [N("a"), N("b"), N("c")]
    sequence = picks(RoundRobin(), nodes, 300)
    assert sequence == "abc" * 100


def test_least_outstanding_prefers_fewest_in_flight():
    """Of two drawn nodes the one with fewer requests in flight wins; a busy node is picked
    only when drawn against an equally busy one."""
    nodes = [N("a", in_flight=0), N("b", in_flight=5), N("c", in_flight=5)]
    strategy = LeastOutstanding(random.Random(7))
    counts = Counter(strategy.pick(nodes).name for _ in range(3000))
    # P2C: a wins whenever drawn (2 of 3 pairs); b/c only in the (b, c) pair.
    assert counts["a"] == pytest.approx(2000, rel=0.05)
    assert counts["b"] + counts["c"] == 3000 - counts["a"]


def test_least_outstanding_with_two_nodes_takes_the_less_loaded():
    """With two candidates there is no draw: always the less loaded one."""
    nodes = [N("a", in_flight=3), N("b", in_flight=1)]
    assert picks(LeastOutstanding(random.Random(1)), nodes, 10) == "b" * 10


def test_primary_secondary_takes_the_first_usable():
    """The first node in configured order always, the second only when it is given first."""
    assert picks(PrimarySecondary(), [N("a"), N("b")], 5) == "aaaaa"
    assert picks(PrimarySecondary(), [N("b")], 2) == "bb"


def test_make_strategy_names():
    """Every `--core-balance` value builds its strategy."""
    assert isinstance(make_strategy(BalanceKind("round-robin")), RoundRobin)
    assert isinstance(make_strategy(BalanceKind("least-outstanding")), LeastOutstanding)
    assert isinstance(make_strategy(BalanceKind("weighted-round-robin")), SmoothWeighted)
    assert isinstance(make_strategy(BalanceKind("primary-secondary")), PrimarySecondary)
