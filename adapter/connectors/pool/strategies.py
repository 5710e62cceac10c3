"""Balancing strategies: which usable node gets the next request.

A strategy sees only the nodes that are usable right now (healthy, breaker admitting, not
already tried for this request), in the pool's configured order, and picks one. It never
blocks and never does I/O.

    round-robin            each node in turn (a rotating cursor over the configured order)
    least-outstanding      power of two choices (Envoy's least-request balancer): two nodes
                           drawn at random, the one with fewer requests in flight wins; with
                           two or fewer candidates, the least loaded of all
    weighted-round-robin   nginx's smooth weighted round robin: each pick adds every node's
                           weight to its current value, takes the largest, and subtracts the
                           total; weights {a: 5, b: 1, c: 1} give a a b a c a a
    primary-secondary      the first usable node in the configured order (jPOS MUXPool's
                           primary/secondary); later nodes take traffic only while the
                           earlier ones are unusable

Invariants:
- Rule 1: `pick` is given at least one candidate and returns one of them.
- Rule 2: weighted round robin keeps exact proportions over any window of sum(weights) picks
  when the candidate set does not change; a node that drops out keeps its current value, as
  nginx does, so it re-enters smoothly.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from enum import StrEnum
from typing import Protocol, TypeVar


class Balanced(Protocol):
    """What a strategy may read of a node."""

    @property
    def name(self) -> str: ...

    @property
    def weight(self) -> int: ...

    @property
    def in_flight(self) -> int: ...


N = TypeVar("N", bound=Balanced)


class Strategy(Protocol):
    def pick(self, candidates: Sequence[N]) -> N: ...


class BalanceKind(StrEnum):
    ROUND_ROBIN = "round-robin"
    LEAST_OUTSTANDING = "least-outstanding"
    WEIGHTED_ROUND_ROBIN = "weighted-round-robin"
    PRIMARY_SECONDARY = "primary-secondary"


class RoundRobin:
    def __init__(self) -> None:
        self._next = 0

    def pick(self, candidates: Sequence[N]) -> N:
        chosen = candidates[self._next % len(candidates)]
        self._next += 1
        return chosen


class LeastOutstanding:
    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()

    def pick(self, candidates: Sequence[N]) -> N:
        if len(candidates) <= 2:
            return min(candidates, key=lambda n: n.in_flight)
        a, b = self._rng.sample(range(len(candidates)), 2)
        first, second = candidates[a], candidates[b]
        return first if first.in_flight <= second.in_flight else second


class SmoothWeighted:
    """nginx `ngx_http_upstream_get_peer` (src/http/ngx_http_upstream_round_robin.c)."""

    def __init__(self) -> None:
        self._current: dict[str, int] = {}

    def pick(self, candidates: Sequence[N]) -> N:
        total = 0
        best: N | None = None
        best_value = 0
        for node in candidates:
            value = self._current.get(node.name, 0) + node.weight
            self._current[node.name] = value
            total += node.weight
            if best is None or value > best_value:
                best, best_value = node, value
        assert best is not None  # Rule 1
        self._current[best.name] = best_value - total
        return best


class PrimarySecondary:
    def pick(self, candidates: Sequence[N]) -> N:
        return candidates[0]


def make_strategy(kind: BalanceKind, *, rng: random.Random | None = None) -> Strategy:
    if kind is BalanceKind.ROUND_ROBIN:
        return RoundRobin()
    if kind is BalanceKind.LEAST_OUTSTANDING:
        return LeastOutstanding(rng)
    if kind is BalanceKind.WEIGHTED_ROUND_ROBIN:
        return SmoothWeighted()
    return PrimarySecondary()
