"""Smoke test of `python -m bench.iso8583_bench`: it runs its three figures end to end (real
TLS, a real ISO host and ledger) and prints each; it asserts that it works, never a speed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_iso8583_bench_reports_three_figures() -> None:
    """Raw echo, session and get_balance each complete round trips and print a rate."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench.iso8583_bench", "--in-flight", "4", "--seconds", "0.3"],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rates = {name.strip(): float(rate) for name, rate in
             re.findall(r"^(.+?): +(\d+) round trips/s", proc.stdout, re.MULTILINE)}
    assert set(rates) == {"raw echo of the same frames", "session (gate+codec+mux)",
                          "connector get_balance, host"}, proc.stdout
    assert all(rate > 0 for rate in rates.values()), proc.stdout
