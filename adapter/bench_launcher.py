"""`bank-adapter bench`: a launcher for the benchmark, which is not part of the product.

The benchmark (bench/) runs from a checkout of the project, as `python -m bench`; the wheel does
not ship it and no product module imports it (import-linter contract
"product-not-bench-or-tests"). This module looks for it the way `python -m bench` will, and runs
it in a child process of the same interpreter.

Invariants:
- Rule 1: bench is never imported into this process; `importlib.util.find_spec` on a top-level
  name locates it without running any of it.
- Rule 2: where bench cannot be found, one line on stderr says why and what to do, the exit
  status is 2 and nothing runs.
- Rule 3: the child's exit status is this command's (a child killed by signal N: 128 + N, as a
  shell reports it). Ctrl-C reaches the child too (one process group); the launcher waits for
  the child to finish and reports its status rather than leave it running.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

MODULE = "bench"
NOT_FOUND = ("bank-adapter bench: the benchmark is not installed with the product; run it from "
             "a checkout of bank-adapter (its bench/ folder), as `python -m bench`")


def _findable_as_child_will_see_it() -> bool:
    # `python -m` puts the current directory first on sys.path; look with the same path.
    saved = sys.path[:]
    sys.path.insert(0, os.getcwd())
    try:
        spec = importlib.util.find_spec(MODULE)
    finally:
        sys.path[:] = saved
    return spec is not None and spec.submodule_search_locations is not None


def run_bench(args: list[str]) -> int:
    """Run `python -m bench ARGS` and return its exit status (Rules 1-3)."""
    if not _findable_as_child_will_see_it():
        print(NOT_FOUND, file=sys.stderr)
        return 2
    child = subprocess.Popen([sys.executable, "-m", MODULE, *args])
    while True:
        try:
            status = child.wait()
        except KeyboardInterrupt:
            continue  # the child got the same SIGINT; its own exit is what we report
        return 128 - status if status < 0 else status
