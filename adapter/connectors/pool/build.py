"""Build a `CorePool` from the settings: one SOAP connector per node, and for ISO 8583 one
ISO connector per node that reads through that node's SOAP connector.

Invariants:
- Rule 1: each node's ISO 8583 connector keeps its reversals in its own store
  (`STATE/iso8583-nodes/<host>_<soap>_<iso>/`), so two connectors never share one SQLite
  file and a node's owed reversals survive a restart next to its name.
- Rule 2: a node's SOAP connection set-up is bounded by the health-check timeout, so a node
  that accepts TCP but never finishes TLS (a stopped process) fails fast as CoreUnavailable
  (nothing sent) instead of holding a caller for its whole deadline.
- Rule 3: every node's SOAP connector is sized to carry the whole load alone. When the
  other nodes fail, their traffic lands on the survivors; an undersized connection pool
  would time its callers out in its local queue (CoreUnavailable), and the breaker would
  eject a healthy node for the pool's own congestion.
- Rule 4: an ISO 8583 node's health check first waits, within the check's timeout, for its
  session to be signed on, then sends the 0800 echo. The first check runs the moment the
  pool starts, while the session is still connecting: an echo then would judge a healthy
  node DOWN and refuse every call until the next round. A node whose link is down is
  unusable anyway (`Node.usable` reads the link), so the wait costs no failover time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapter.config import ConnectorKind, Settings
from adapter.connectors.pool.breaker import Breaker, BreakerOptions, Clock
from adapter.connectors.pool.health import HealthOptions, Probe
from adapter.connectors.pool.nodes import Node, NodeAddress, parse_nodes
from adapter.connectors.pool.pool import CorePool
from adapter.connectors.pool.strategies import BalanceKind, make_strategy
from adapter.ports.core import CorePort

if TYPE_CHECKING:
    from adapter.connectors.factory import ReversalStores
    from adapter.connectors.iso8583 import IsoCoreConnector
    from adapter.infra.tls import ReloadableClientContext

STATUS_FILE = "core-nodes.json"
# Each node's SOAP connector can carry the whole load alone (Rule 3).
NODE_CONNECTIONS = 32


def node_state_dir(state_dir: Path, address: NodeAddress) -> Path:
    return Path(state_dir) / "iso8583-nodes" / address.name.replace(":", "_")


def breaker_options(settings: Settings) -> BreakerOptions:
    return BreakerOptions(
        failures_to_open=settings.core_eject_after, base_ejection=settings.core_eject_seconds,
        max_ejection=max(settings.core_eject_seconds, settings.core_eject_max_seconds),
        max_probes=settings.core_half_open_probes)


async def build_pool(settings: Settings, *, reversal_stores: ReversalStores | None = None,
                     on_reversed: Callable[[str], None] | None = None,
                     clock: Clock | None = None,
                     link_tls: ReloadableClientContext | None = None,
                     **iso_overrides: Any) -> CorePool:
    """The pool for `settings.core_nodes`; started (its first health round is under way).
    `link_tls`: the link's reloadable client context, shared by every node's connectors (None:
    each reads the files once)."""
    from adapter.connectors.soap import SoapCoreConnector

    addresses = parse_nodes(list(settings.core_nodes))
    health = HealthOptions(interval=settings.core_health_interval,
                           timeout=settings.core_health_timeout)
    options = breaker_options(settings)
    nodes: list[Node] = []
    probes: dict[str, Probe] = {}
    closers: list[Callable[[], Awaitable[None]]] = []
    for address in addresses:
        soap = SoapCoreConnector.create(address.soap_url, settings.pki_dir,
                                        max_connections=NODE_CONNECTIONS,  # Rule 3
                                        default_timeout=health.timeout,  # Rule 2
                                        tls=link_tls)
        closers.append(soap.aclose)
        port: CorePort = soap
        link_up: Callable[[], bool] = _always
        probe: Probe = soap.healthy  # GetTransferStatus of a reference never booked
        if settings.core_connector is ConnectorKind.ISO8583:
            from adapter.connectors.factory import iso_options
            from adapter.connectors.iso8583 import IsoCoreConnector

            if reversal_stores is None:
                raise ValueError("ISO 8583 nodes need a reversal store (reversal_stores=)")
            # As the single-core factory builds it (the journal is the write-ahead log), at
            # this node's address, with set-up bounded like a health check (Rule 2).
            node_options = dataclasses.replace(
                iso_options(settings), host=address.host, port=address.iso_port,
                connect_timeout=health.timeout, **iso_overrides)
            iso = IsoCoreConnector.create(
                node_options, settings.pki_dir,
                reversal_stores(node_state_dir(settings.state_dir, address)),  # Rule 1
                reads=soap, on_reversed=on_reversed, tls=link_tls)
            await iso.start()
            closers.insert(0, iso.aclose)
            port, link_up, probe = iso, _signed_on(iso), _echo_once_signed_on(iso, health)
        breaker = Breaker(options) if clock is None else Breaker(options, clock=clock)
        nodes.append(Node(address, port, breaker, link_up=link_up))
        probes[address.name] = probe
    kind = BalanceKind(settings.core_balance)
    pool = CorePool(nodes, make_strategy(kind), probes, health=health, balance=kind,
                    closers=closers, status_path=Path(settings.state_dir) / STATUS_FILE,
                    **({} if clock is None else {"clock": clock}))
    await pool.start()
    return pool


def _always() -> bool:
    return True


def _signed_on(iso: IsoCoreConnector) -> Callable[[], bool]:
    return lambda: iso.signed_on


def _echo_once_signed_on(iso: IsoCoreConnector, health: HealthOptions) -> Probe:
    """The 0800 echo (field 70 = 301), after waiting for the sign-on within the check's own
    timeout (Rule 4)."""
    async def probe() -> bool:
        return await iso.wait_ready(health.timeout) and await iso.echo()

    return probe
