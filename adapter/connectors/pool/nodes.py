"""Core nodes: how one is named on the command line, and what the pool knows about it.

Owns the `--core-nodes host:soap_port:iso_port[:weight]` grammar (`NodeAddress.parse`) and a
node's live state (`Node`): its port (one connector), breaker, active-health verdict and
counters.

Invariants:
- Rule 1: a node is *usable* only while its link is up (for ISO 8583: signed on), its last
  active health checks passed, and its breaker admits a call. The pool sends nothing to a
  node that is not usable.
- Rule 2: `in_flight` counts calls between admission and their end, whatever the end; it is
  what least-outstanding balances on.
- Rule 3: counters only grow (requests, errors, ejections); they are read, never reset, by
  status and metrics.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from adapter.connectors.pool.breaker import Breaker, BreakerState
from adapter.ports.core import CorePort

MAX_WEIGHT = 1000
_HOST = re.compile(r"^[A-Za-z0-9.\-]{1,253}$")  # a name or an IPv4 address (no IPv6 literal)


@dataclass(frozen=True)
class NodeAddress:
    host: str
    soap_port: int
    iso_port: int
    weight: int = 1

    @property
    def name(self) -> str:
        """Stable and unique per node: what payments, logs and status call the node."""
        return f"{self.host}:{self.soap_port}:{self.iso_port}"

    @property
    def soap_url(self) -> str:
        return f"https://{self.host}:{self.soap_port}/core/v1"

    def __str__(self) -> str:
        return f"{self.name}:{self.weight}"

    @classmethod
    def parse(cls, text: str) -> NodeAddress:
        """`host:soap_port:iso_port[:weight]`; ValueError naming what is wrong."""
        parts = text.strip().split(":")
        if len(parts) not in (3, 4):
            raise ValueError(f"core node {text!r}: expected host:soap_port:iso_port[:weight]")
        host = parts[0]
        if not _HOST.match(host):
            raise ValueError(f"core node {text!r}: {host!r} is not a host name or address")
        soap_port = _number(text, "SOAP port", parts[1], 1, 65535)
        iso_port = _number(text, "ISO 8583 port", parts[2], 1, 65535)
        weight = _number(text, "weight", parts[3], 1, MAX_WEIGHT) if len(parts) == 4 else 1
        return cls(host, soap_port, iso_port, weight)


def _number(text: str, what: str, value: str, low: int, high: int) -> int:
    if not value.isdigit() or not low <= int(value) <= high:
        raise ValueError(f"core node {text!r}: the {what} must be a whole number from "
                         f"{low} to {high}, not {value!r}")
    return int(value)


def parse_nodes(values: list[str]) -> list[NodeAddress]:
    """Every `--core-nodes`; ValueError on a bad one or on the same node named twice."""
    nodes = [NodeAddress.parse(v) for v in values]
    names = [n.name for n in nodes]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"core node {name} is given more than once")
    return nodes


class Health(StrEnum):
    STARTING = "starting"  # no health check has finished yet
    UP = "up"
    DOWN = "down"


@dataclass
class NodeStats:
    requests: int = 0
    errors: int = 0  # calls that ended in a failure of the node (not business refusals)
    answered: int = 0  # calls the node answered (booked, read, or refused by the bank)
    failovers: int = 0  # calls that could not be sent here and went to another node
    checks_failed: int = 0


@dataclass(eq=False)
class Node:
    address: NodeAddress
    port: CorePort
    breaker: Breaker
    link_up: Callable[[], bool] = lambda: True
    health: Health = Health.STARTING
    in_flight: int = 0
    stats: NodeStats = field(default_factory=NodeStats)
    failed_checks_in_a_row: int = 0
    passed_checks_in_a_row: int = 0
    answered_at_last_check: int = 0

    @property
    def name(self) -> str:
        return self.address.name

    @property
    def weight(self) -> int:
        return self.address.weight

    def usable(self) -> bool:
        """Rule 1 (an OPEN breaker whose time is up reads HALF_OPEN and admits a probe)."""
        return self.health is Health.UP and self.link_up() and self.breaker.would_admit()

    def snapshot(self) -> dict[str, object]:
        state: BreakerState = self.breaker.state
        return {
            "node": self.name, "weight": self.weight, "health": self.health.value,
            "link": "up" if self.link_up() else "down", "breaker": state.value,
            "in_flight": self.in_flight, "requests": self.stats.requests,
            "errors": self.stats.errors, "failovers": self.stats.failovers,
            "ejections": self.breaker.times_ejected, "usable": self.usable(),
        }
