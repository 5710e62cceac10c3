"""Smoke test of `python -m bench.instructions`: one short run under callgrind against real
processes reports a positive instruction count per answered transfer and no errors. It
asserts that the tool works, never a figure."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.instructions import Run

REPO = Path(__file__).resolve().parents[2]


def test_background_work_is_taken_out_of_each_operation() -> None:
    run = Run(ops=100, errors=0, load_ir=300_000_000, load_s=10.0, idle_ir=10_000_000,
              idle_s=5.0)
    assert run.background_per_s == 2_000_000
    assert run.per_op == (300_000_000 - 20_000_000) / 100


def test_one_short_run_counts_instructions_per_transfer() -> None:
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        message = "valgrind is not installed: apt-get install -y valgrind"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    proc = subprocess.run(
        [sys.executable, "-m", "bench.instructions", "--seconds", "2", "--warmup", "2",
         "--idle", "1"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = proc.stdout.strip().splitlines()[-1]
    found = re.fullmatch(r"adapter rest transfer via iso8583, run 1: ([\d,]+)k Ir per "
                         r"operation \((\d+) answered, 0 errors; raw ([\d,]+)k, background "
                         r"[\d.,]+M Ir/s\)", line)
    assert found is not None, line
    assert int(found.group(2)) > 0
    assert int(found.group(1).replace(",", "")) > 0
