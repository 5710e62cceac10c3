"""schemathesis against a live adapter (issue 12.2): the OpenAPI document the adapter serves
is exact enough for a fuzzer to reach the money path, and the server keeps every promise in it.

A real core_sim and a real adapter on port 0, over real mutual TLS with the partner's client
certificate: `schemathesis run` with every check, every phase (examples, coverage, fuzzing,
stateful: POST /v1/transfers -> GET /v1/payments/{payment_id} through the document's
links), deterministic generation and a bounded number of examples, so a failure reproduces
and the run stays well inside CI's time. Then the ledger: per currency, the total is what it
was (double entry: a booking moves money, it never makes or loses any), every payment the
journal holds is final (none left PDNG or unsent), and each booked one is exactly one
posting of the core with its two entries.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.adapter import RunningAdapter, run_adapter
from tests.harness.core import RunningCore, running_core

REPO = Path(__file__).resolve().parents[2]
# Enough examples for every phase to book and read back payments; the whole run takes about
# 40 s on a loaded 2-core machine.
MAX_EXAMPLES = 30


@pytest.fixture
def live(pki_dir: Path, tmp_path: Path) -> Iterator[tuple[RunningCore, RunningAdapter]]:
    with running_core(pki_dir, tmp_path / "core.db") as core, \
            run_adapter(tmp_path, pki_dir, core_soap_url=core.soap_url) as adapter:
        yield core, adapter


def _journal(adapter: RunningAdapter) -> list[tuple[str, str, str]]:
    """(payment id, status, core reference) of every payment the adapter's journal holds."""
    con = sqlite3.connect(f"file:{adapter.state_dir / 'adapter.db'}?mode=ro", uri=True)
    try:
        return con.execute("SELECT payment_id, status, core_reference FROM payments").fetchall()
    finally:
        con.close()


def test_schemathesis_finds_nothing_and_the_ledger_balances(
        live: tuple[RunningCore, RunningAdapter], tmp_path: Path) -> None:
    core, adapter = live
    totals_before = core.ledger.totals()
    pki = adapter.pki_dir
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.api.schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli",
         "--config-file", str(REPO / "tests" / "api" / "schemathesis.toml"),
         "run", f"{adapter.base_url}/openapi.json",
         "--request-cert", str(pki / "partner.crt"),
         "--request-cert-key", str(pki / "partner.key"),
         "--tls-verify", str(pki / "ca.crt"),
         "--checks", "all", "--phases", "examples,coverage,fuzzing,stateful",
         "--generation-deterministic", "--max-examples", str(MAX_EXAMPLES),
         "--workers", "1", "--no-color",
         "--request-timeout", "30"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    report = run.stdout + run.stderr
    print(report)
    assert run.returncode == 0, report
    assert "failures" not in report.split("SUMMARY", 1)[-1].lower(), report
    assert "Stateful" in report and "API Links:" in report, report

    # Double entry: no currency gained or lost anything.
    assert core.ledger.totals() == totals_before

    payments = _journal(adapter)
    booked = [p for p in payments if p[1] == "booked"]
    assert booked, "the run booked no payment: the fuzzer never reached the money path"
    # Every payment is final: booked or rejected, none in doubt, none unsent.
    assert {status for _, status, _ in payments} <= {"booked", "rejected"}, payments
    for _, _, reference in booked:
        posting = core.ledger.transfer_status(reference)
        assert posting is not None and posting.state == "booked", reference
        assert core.ledger.entry_count(reference) == 2, reference
    for _, status, reference in payments:
        if status == "rejected":
            posting = core.ledger.transfer_status(reference)
            assert posting is None or posting.state != "booked", reference
