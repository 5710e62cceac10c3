"""The adapter's metrics: Prometheus counters in one registry per adapter, exposed as the
Prometheus text format (GET /metrics on the mutual-TLS listener, operation `metrics`).

    bank_adapter_requests_total{protocol, operation, outcome}   every finished call of the
        pipeline; outcome is `ok` or the canonical error code
    bank_adapter_rate_limited_total{protocol, operation}       calls refused by a rate limit
    bank_adapter_intrusion_signals_total{signal}               services.intrusion's signals
    bank_adapter_security_events_total{signal}                 thresholds crossed
    bank_adapter_rate_limit_storage_errors_total               rate-limit storage failures
                                                                (each call let through)
    bank_adapter_core_node_{up,usable,in_flight,ejections}{node}     with a pool of core
    bank_adapter_core_node_breaker{node, state}                     nodes: each node's state
    bank_adapter_core_node_{requests,errors,failovers}_total{node}  and counts, read from the
                                                                    pool at scrape time

Invariants:
- Rule 1: every label value comes from a closed set (edge names, route templates and RPC
  names, canonical codes, signals): no caller data, address or identity is ever a label, so
  the series are bounded whatever callers send. Per-source and per-identity counts live in
  services.intrusion, and its security events name them. A core node's `node` label is its
  configured name (`--core-nodes` host:soap_port:iso_port): the operator's closed set.
- Rule 2: one registry per adapter (not the library's global one), so two adapters in one
  process (the tests) never share a count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from adapter.model.errors import AdapterError, RateLimited
from adapter.model.security_events import SecurityEvent, Signal
from adapter.services.pipeline import Call

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _FunctionCounter(Collector):
    """A counter whose value is read from a function at scrape time."""

    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self._name, self._doc, self._read = name, documentation, read

    def collect(self):  # type: ignore[no-untyped-def]
        family = CounterMetricFamily(self._name, self._doc)
        family.add_metric([], self._read())
        yield family


NodeSnapshot = Callable[[], Sequence[Mapping[str, object]]]
BREAKER_STATES = ("closed", "open", "half-open")


class _CoreNodes(Collector):
    """Each core node's state and counts, from the pool's snapshot at scrape time."""

    def __init__(self, read: NodeSnapshot) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        nodes = self._read()
        prefix = "bank_adapter_core_node"
        gauges = {
            "up": ("1 while the node's active health checks pass", lambda n: n["health"] == "up"),
            "usable": ("1 while the pool may send the node a call (healthy, link up, breaker "
                       "admitting)", lambda n: n["usable"]),
            "in_flight": ("calls in flight to the node now", lambda n: n["in_flight"]),
            "ejections": ("times the node was ejected in its current streak (forgotten "
                          "after a healthy spell)", lambda n: n["ejections"]),
        }
        for name, (doc, value) in gauges.items():
            family = GaugeMetricFamily(f"{prefix}_{name}", doc, labels=["node"])
            for n in nodes:
                family.add_metric([str(n["node"])], float(value(n)))  # type: ignore[arg-type]
            yield family
        breaker = GaugeMetricFamily(f"{prefix}_breaker", "1 for the node's circuit breaker "
                                    "state, 0 for the others", labels=["node", "state"])
        for n in nodes:
            for state in BREAKER_STATES:
                breaker.add_metric([str(n["node"]), state], float(n["breaker"] == state))
        yield breaker
        counters = {"requests": "calls sent to the node",
                    "errors": "calls that failed at the node (not business refusals)",
                    "failovers": "calls that could not be sent to the node and went to another"}
        for name, doc in counters.items():
            counter = CounterMetricFamily(f"{prefix}_{name}", doc, labels=["node"])
            for n in nodes:
                counter.add_metric([str(n["node"])], float(n[name]))  # type: ignore[arg-type]
            yield counter


class AdapterMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "bank_adapter_requests", "Calls finished by the call pipeline, by protocol, "
            "operation and outcome (ok or the canonical error code)",
            ["protocol", "operation", "outcome"], registry=self.registry)
        self.rate_limited = Counter(
            "bank_adapter_rate_limited", "Calls refused by the caller's rate limit",
            ["protocol", "operation"], registry=self.registry)
        self.signals = Counter(
            "bank_adapter_intrusion_signals", "Intrusion signals counted (services.intrusion)",
            ["signal"], registry=self.registry)
        self.events = Counter(
            "bank_adapter_security_events", "Security events raised: a signal's threshold "
            "crossed by one source or identity within one window", ["signal"],
            registry=self.registry)
        # labels() takes a lock and builds a tuple per call: the children are cached.
        self._children: dict[tuple[str, str, str], Counter] = {}
        for signal in Signal:  # every signal shows, at 0 until it happens
            self.signals.labels(signal.value)
            self.events.labels(signal.value)

    def count_storage_errors(self, read: Callable[[], float]) -> None:
        self.registry.register(_FunctionCounter(
            "bank_adapter_rate_limit_storage_errors_total",
            "Rate-limit storage failures; each call was let through (fail open)", read))

    def watch_core_nodes(self, read: NodeSnapshot) -> None:
        """Expose a pool of core nodes: `read` returns one mapping per node (the pool's
        snapshot: node, health, usable, breaker, in_flight, requests, errors, failovers,
        ejections)."""
        self.registry.register(_CoreNodes(read))

    def observe(self, call: Call, error: AdapterError | None) -> None:
        """The call pipeline's observer."""
        protocol = call.edge.name
        operation = call.operation
        outcome = "ok" if error is None else error.code
        key = (protocol, operation, outcome)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.requests.labels(*key)
        child.inc()
        if isinstance(error, RateLimited) and not error.lockout:
            self.rate_limited.labels(protocol, operation).inc()

    def signal(self, signal: Signal) -> None:
        self.signals.labels(signal.value).inc()

    def event(self, event: SecurityEvent) -> None:
        self.events.labels(event.signal.value).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
