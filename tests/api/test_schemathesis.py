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

import json
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
# Enough examples for every phase to book and read back payments: about 80 s on a 2-core
# machine at a load of 8. One worker: schemathesis 4.32's generation is not thread-safe (two
# workers crashed in its coverage phase, "AST constructor recursion depth mismatch").
MAX_EXAMPLES = 20


# Customer logins hash a password each (Argon2id): cheap parameters, as tests/customers does.
CHEAP_ARGON2 = {"customer_argon2_time_cost": 1, "customer_argon2_memory_kib": 1024,
                "customer_argon2_parallelism": 1}


@pytest.fixture
def live(pki_dir: Path, tmp_path: Path) -> Iterator[tuple[RunningCore, RunningAdapter]]:
    with running_core(pki_dir, tmp_path / "core.db") as core, \
            run_adapter(tmp_path, pki_dir, core_soap_url=core.soap_url,
                        **CHEAP_ARGON2) as adapter:
        yield core, adapter


def schemathesis(adapter: RunningAdapter, cwd: Path, cert: str, *options: str) -> str:
    """`schemathesis run` against the adapter's document with `cert`'s client certificate,
    every check, deterministic, bounded; its report (the test fails on any failure)."""
    pki = adapter.pki_dir
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.api.schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli",
         "--config-file", str(REPO / "tests" / "api" / "schemathesis.toml"),
         "run", f"{adapter.base_url}/openapi.json",
         "--request-cert", str(pki / f"{cert}.crt"),
         "--request-cert-key", str(pki / f"{cert}.key"),
         "--tls-verify", str(pki / "ca.crt"), "--checks", "all",
         "--generation-deterministic", "--workers", "1", "--no-color",
         "--request-timeout", "30", *options],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    report = run.stdout + run.stderr
    print(report)  # shown by pytest -rP, or on a failure
    assert run.returncode == 0, report
    assert "failures" not in report.split("SUMMARY", 1)[-1].lower(), report
    return report


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
    har = tmp_path / "run.har"
    report = schemathesis(
        adapter, tmp_path, "partner", "--exclude-path-regex", "^/v1/customer/",
        "--phases", "examples,coverage,fuzzing,stateful",
        "--max-examples", str(MAX_EXAMPLES), "--report", "har", "--report-har-path", str(har))
    assert "Stateful" in report and "API Links:" in report, report
    # The stateful phase followed the document's links: payments it created were read back
    # (a payment id is a UUIDv7 no generator guesses, so a 200 here came from a POST).
    entries = json.loads(har.read_text())["log"]["entries"]
    read_back = [e for e in entries if e["request"]["method"] == "GET"
                 and "/v1/payments/" in e["request"]["url"] and e["response"]["status"] == 200]
    assert read_back, "no payment was read back through the links"

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


def test_schemathesis_on_the_customer_routes(live: tuple[RunningCore, RunningAdapter],
                                             tmp_path: Path) -> None:
    """The customer routes (issue 15), statelessly, with the mobile relay's certificate:
    examples and fuzzing, positive and negative (the coverage phase's thousand boundary
    cases would double the suite's time here). No session can be made from generated data,
    so every route behind a token answers 401, and the document requires its
    `WWW-Authenticate: DPoP` challenge (the response-headers check fails without it); the
    open routes refuse generated credentials (400 naming the field, or 401 with the
    challenge). Nothing moves on the ledger."""
    core, adapter = live
    totals_before = core.ledger.totals()
    report = schemathesis(adapter, tmp_path, "mobile", "--include-path-regex", "^/v1/customer/",
                          "--phases", "examples,fuzzing", "--max-examples", "12")
    assert "Selected: 15/" in report, report
    assert core.ledger.totals() == totals_before
    assert _journal(adapter) == []
