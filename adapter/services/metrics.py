"""The adapter's metrics: Prometheus counters in one registry per adapter, exposed as the
Prometheus text format (GET /metrics on the mutual-TLS listener, operation `metrics`).

    bank_adapter_requests_total{protocol, operation, outcome}   every finished call of the
        pipeline; outcome is `ok` or the canonical error code
    bank_adapter_rate_limited_total{protocol, operation}       calls refused by a rate limit
    bank_adapter_intrusion_signals_total{signal}               services.intrusion's signals
    bank_adapter_security_events_total{signal}                 thresholds crossed
    bank_adapter_rate_limit_storage_errors_total               rate-limit storage failures
                                                                (each call let through)

Invariants:
- Rule 1: every label value comes from a closed set (edge names, route templates and RPC
  names, canonical codes, signals): no caller data, address or identity is ever a label, so
  the series are bounded whatever callers send. Per-source and per-identity counts live in
  services.intrusion, and its security events name them.
- Rule 2: one registry per adapter (not the library's global one), so two adapters in one
  process (the tests) never share a count.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily
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
