"""The pool's per-node state in the adapter's metrics: a live adapter over two real core_sim
nodes (ISO 8583, mutual TLS everywhere), GET /metrics as a caller granted `metrics`."""

from __future__ import annotations

import uuid
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from adapter.connectors.pool.pool import CorePool
from tests.harness.adapter import RunningAdapter, run_adapter
from tests.harness.clients import https_client
from tests.harness.nodes import core_nodes
from tests.pool.support import balances

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(adapter: RunningAdapter) -> Samples:
    with https_client(adapter, "internal", base_url=adapter.base_url) as c:
        response = c.get("/metrics")
    assert response.status_code == 200, response.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples}


def node_value(samples: Samples, name: str, node: str, **labels: str) -> float:
    return samples[(name, tuple(sorted({"node": node, **labels}.items())))]


def test_metrics_show_each_core_node(pki_dir: Path, tmp_path: Path) -> None:
    """Both nodes up, usable, breaker closed; a transfer (money moved once) counts one more
    request at the node it went to; node 2 killed: usable 0 at once (its link is down), and
    the breaker series still name one state per node."""
    with core_nodes(pki_dir, tmp_path / "core.db", 2) as nodes:
        a, b = (n.address for n in nodes.nodes)
        with run_adapter(tmp_path, pki_dir, core_nodes=(a, b), core_connector="iso8583",
                         core_health_interval=0.25) as adapter:
            pool = adapter.app.core_pool
            assert isinstance(pool, CorePool)
            assert adapter.run(pool.wait_until(lambda: all(n.usable() for n in pool.nodes),
                                               30))
            before = scrape(adapter)
            for node in (a, b):
                assert node_value(before, "bank_adapter_core_node_up", node) == 1.0
                assert node_value(before, "bank_adapter_core_node_usable", node) == 1.0
                assert node_value(before, "bank_adapter_core_node_in_flight", node) == 0.0
                for state, expected in (("closed", 1.0), ("open", 0.0), ("half-open", 0.0)):
                    assert node_value(before, "bank_adapter_core_node_breaker", node,
                                      state=state) == expected
            money = balances(nodes.ledger)
            with https_client(adapter, "partner", base_url=adapter.base_url) as c:
                reply = c.post("/v1/transfers", headers={"Idempotency-Key": str(uuid.uuid4())},
                               json={"debtorAccount": {"id": "10000001"},
                                     "creditorAccount": {"id": "10000002"},
                                     "instructedAmount": {"currency": "EUR", "amount": "1.00"},
                                     "endToEndIdentification": "E2E-METRICS"})
            assert reply.status_code == 201, reply.text
            after = balances(nodes.ledger)
            assert after["10000001"] == money["10000001"] - 100
            assert after["10000002"] == money["10000002"] + 100
            grown = scrape(adapter)
            added = sum(node_value(grown, "bank_adapter_core_node_requests_total", n)
                        - node_value(before, "bank_adapter_core_node_requests_total", n)
                        for n in (a, b))
            assert added == 3.0  # the debtor and creditor looked up (first use), the posting
            assert all(node_value(grown, "bank_adapter_core_node_errors_total", n) == 0.0
                       for n in (a, b))

            nodes.nodes[1].kill()
            second = pool.nodes[1]
            assert adapter.run(pool.wait_until(lambda: not second.usable(), 10))
            killed = scrape(adapter)
            assert node_value(killed, "bank_adapter_core_node_usable", b) == 0.0
            assert node_value(killed, "bank_adapter_core_node_usable", a) == 1.0
            assert sum(node_value(killed, "bank_adapter_core_node_breaker", b, state=s)
                       for s in ("closed", "open", "half-open")) == 1.0
