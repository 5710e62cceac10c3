"""`bank-adapter bench` launches the benchmark without importing it, and says plainly when
the benchmark is not there (an installed product without a checkout)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_launcher_runs_python_m_bench_in_a_child_and_passes_its_status(tmp_path: Path) -> None:
    """From a checkout: bench's own help, its exit status, and bench never in the launcher."""
    code = ("import sys\nfrom adapter.cli import main\nstatus = main(['bench', '--help'])\n"
            "print('bench imported here:', 'bench' in sys.modules, 'status:', status)")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("usage: bank-adapter bench ")
    assert result.stdout.endswith("\nbench imported here: False status: 0\n")


def test_without_bench_the_launcher_says_so_and_runs_nothing(tmp_path: Path) -> None:
    """No bench on the path (only the product, no site-packages): one line, status 2."""
    product = tmp_path / "product"
    product.mkdir()
    (product / "adapter").symlink_to(REPO / "adapter")
    code = ("import sys\nsys.path.insert(0, sys.argv[1])\n"
            "from adapter.bench_launcher import run_bench\nsys.exit(run_bench(['--quick']))")
    # -S: no site-packages (where a development install may map bench); -E: no PYTHONPATH.
    result = subprocess.run([sys.executable, "-S", "-E", "-c", code, str(product)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", (
        "bank-adapter bench: the benchmark is not installed with the product; run it from a "
        "checkout of bank-adapter (its bench/ folder), as `python -m bench`\n"))
