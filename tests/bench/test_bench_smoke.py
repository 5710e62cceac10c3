"""Smoke test of the benchmark command: `python -m bench --quick` runs every part it is given
against real processes and reports records with the required keys and no errors. It asserts
that the benchmark works, never a speed."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REQUIRED = {"protocol", "connector", "operation", "rps", "p50_ms", "p95_ms", "p99_ms",
            "ratio_to_echo", "cpu_s", "peak_rss_mb", "client_cpu_s", "errors"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench")
    json_path, png_path = out / "bench.json", out / "bench.png"
    # The chart needs matplotlib, which only the `bench` extra installs (CI installs `test`).
    chart = importlib.util.find_spec("matplotlib") is not None
    # One connector keeps the smoke test near 20 s; the full run covers both.
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--parts", "echo", "e2e", "scale",
         "--connectors", "iso8583", "--json", str(json_path),
         *(["--png", str(png_path)] if chart else [])],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    if chart:
        assert png_path.stat().st_size > 0
    return json.loads(json_path.read_text()), proc.stdout


def test_every_scenario_is_reported_with_the_required_keys(quick_run: tuple[dict, str]) -> None:
    """Each echo and each front-end x operation has one record with every required key."""
    report, _ = quick_run
    seen = {(r["protocol"], r["connector"], r["operation"]) for r in report["scenarios"]}
    for protocol in ("rest", "grpc"):
        assert {(protocol, "echo", "balance"), (protocol, "echo", "transfer")} <= seen
    assert ("soap", "echo", "echo") in seen
    for protocol in ("rest", "soap", "grpc"):
        assert {(protocol, "iso8583", "balance"), (protocol, "iso8583", "transfer")} <= seen
    for r in report["scenarios"]:
        assert r.keys() >= REQUIRED, r
        assert r["errors"] == 0 and not r["fatal"], r
        assert r["ok"] > 0 and r["rps"] > 0, r
        assert r["ratio_to_echo"] is not None, r


def test_transfers_are_booked_once_each_and_money_is_conserved(
        quick_run: tuple[dict, str]) -> None:
    """The ledger's totals are unchanged and one posting was booked per booked answer."""
    report, _ = quick_run
    assert report["checks"], "no ledger check was made"
    for check in report["checks"]:
        assert check["totals_unchanged"], check
        assert check["postings_match"], check
        assert check["postings_booked"] > 0, check


def test_scale_and_table_are_reported(quick_run: tuple[dict, str]) -> None:
    """The scale part reports the three operations, and stdout carries the table."""
    report, stdout = quick_run
    assert report["scale"] and {"balance", "history", "transfer"} <= report["scale"][0].keys()
    assert "protocol connector operation" in stdout
    assert report["machine"]["nproc"] >= 1
