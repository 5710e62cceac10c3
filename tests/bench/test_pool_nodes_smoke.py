"""Smoke test of the core-node pool benchmark: `python -m bench.pool_nodes --quick` runs the
scaling part (no pool, 1, 2, 3 nodes) and the kill part against real processes, writes its
JSON (and the chart, if matplotlib is installed), and its ledger check holds. It asserts that
the benchmark works and that no money was lost or moved twice, never a speed."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_pool_benchmark_quick_run(tmp_path: Path) -> None:
    json_path, png_path = tmp_path / "pool.json", tmp_path / "pool.png"
    chart = importlib.util.find_spec("matplotlib") is not None  # the `bench` extra
    proc = subprocess.run(
        [sys.executable, "-m", "bench.pool_nodes", "--quick", "--json", str(json_path),
         *(["--png", str(png_path)] if chart else [])],
        cwd=REPO, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(json_path.read_text())
    assert [r["config"] for r in report["scaling"]] == ["no pool", "1 node", "2 nodes",
                                                        "3 nodes"]
    for r in report["scaling"]:
        assert r["errors"] == 0 and r["ok"] > 0 and r["ratio_to_no_pool"] is not None, r
    kill = report["kill"]
    assert kill["kill_at_s"] is not None and kill["restart_at_s"] is not None, kill
    assert kill["failures"] == [] and kill["fatal"] == [], kill
    assert kill["victim_unusable_at_s"] is not None, kill  # the pool noticed the kill
    assert len(kill["ok_per_s"]) == len(kill["errors_per_s"]) and sum(kill["ok_per_s"]) > 0
    [check] = report["checks"]
    assert check["ok"] and check["lost"] == 0 and check["booked_without_booked_answer"] == 0
    assert check["totals_unchanged"] and check["postings_with_odd_entries"] == {}, check
    if chart:
        assert png_path.stat().st_size > 0
    assert "ledger check: OK" in proc.stdout
