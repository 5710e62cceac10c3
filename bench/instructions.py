"""Instructions per operation: one server of a live deployment under callgrind.

    python -m bench.instructions [--server adapter|core] [--protocol rest|soap|grpc]
        [--operation transfer|balance] [--connector iso8583|soap] [--seconds 10]
        [--warmup 8] [--connections 4] [--runs 1]

Starts one deployment (core_sim + adapter, mutual TLS, as `python -m bench` does) with the
chosen server under `valgrind --tool=callgrind --instr-atstart=no`, drives the scenario with
`--connections` callers, switches instrumentation on (`callgrind_control -i on`) at the start
of the measured window, off when it ends, and prints the instructions executed (Ir) divided by
the operations answered in the window.

Why instructions and not CPU time: on a shared machine the same tree's CPU per request moves
by a third from one run to the next, so an A/B of two commits by CPU time needs a quiet
machine; an instruction count does not depend on what else runs (repeat spread 1-2 %, from
the few requests in flight at each edge of the window). It weighs every instruction alike
(a cache miss or a syscall's kernel time is not in it), so it ranks Python-level changes, not
I/O-bound ones. Compare trees with the same Python, libraries and options, in the same run.

The cyclic collector's full collections (generation 2) are switched off in the measured
server unless `--full-gc` is given: a full collection costs tens of millions of instructions,
and whether one falls inside a 10-second window or not moved the figure by up to 4 %. Young
collections still run, so an allocation still costs what it costs; what full collections
cost under load is the p99 figures' business (adapter/infra/gctune.py).

Invariants:
- Rule 1: the warm-up (caches, TLS sessions, first-use imports) runs before instrumentation
  starts; the window's count is reset first, so Ir belongs to the window alone.
- Rule 2: operations are those the load workers saw answered as expected in the window;
  a run with errors prints them and its figure is not to be used.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from adapter.security import pki
from bench import ledger_growth
from bench.runner import REPO, Load, Processes, measure
from bench.scenarios import Options, _provision, _start_deployment, request_for, target_for

# Run at the measured server's start (sitecustomize) when asked: no full collections.
_NO_FULL_GC = """import gc
gc.set_threshold(gc.get_threshold()[0], gc.get_threshold()[1], 2**31 - 1)
"""


def callgrind_prefix(out: Path, hook_dir: Path | None = None) -> list[str]:
    """valgrind in front of the interpreter; `hook_dir` holds a sitecustomize to run first."""
    env = ["env", f"PYTHONPATH={hook_dir}{os.pathsep}{REPO}"] if hook_dir else []
    return [*env, "valgrind", "--tool=callgrind", "--instr-atstart=no", "--dump-instr=no",
            "--collect-jumps=no", "--separate-threads=yes", f"--callgrind-out-file={out}"]


def dumped_ir(out: Path, dump: int) -> int:
    """The Ir of callgrind's `dump`-th dump for `out`, summed over its threads' files."""
    total, found = 0, False
    for path in sorted(out.parent.glob(f"{out.name}.{dump}-*")):
        for line in reversed(path.read_text(errors="replace").splitlines()):
            if line.startswith(("totals:", "summary:")):
                total += int(line.split()[1])
                found = True
                break
    if not found:
        raise RuntimeError(f"no callgrind totals for dump {dump} beside {out}")
    return total


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


@dataclass
class Run:
    ops: int
    errors: int
    load_ir: int  # the measured window's instructions
    load_s: float
    idle_ir: int  # as many seconds with no load right after
    idle_s: float

    @property
    def background_per_s(self) -> float:
        return self.idle_ir / self.idle_s if self.idle_s else 0.0

    @property
    def per_op(self) -> float:
        """Ir per operation, the server's background work (timers, checkpoints) taken out:
        otherwise a slower window (a loaded machine) charges each operation more of it."""
        if not self.ops:
            return float("nan")
        return (self.load_ir - self.background_per_s * self.load_s) / self.ops


def run_once(args: argparse.Namespace, workdir: Path) -> Run:
    out = workdir / f"callgrind.{args.server}.out"
    pki_dir = workdir / "pki"
    pki.init(pki_dir)
    hook_dir = None
    if not args.full_gc:
        hook_dir = workdir / "hook"
        hook_dir.mkdir()
        (hook_dir / "sitecustomize.py").write_text(_NO_FULL_GC)
    prefix = callgrind_prefix(out, hook_dir)
    wrap = {"adapter": prefix} if args.server == "adapter" else {"core": prefix}
    with Processes(workdir, wrap=wrap) as procs:
        state, password = _provision(workdir, pki_dir, "state")
        ledger_growth.grow(state / "core.db", 0)
        core, adapter = _start_deployment(procs, state, args.connector,
                                          Options(load=Load(), adapter_log_level="warning"))
        pid = adapter.pid if args.server == "adapter" else core.pid
        load = Load(connections=args.connections, workers=1, duration=args.seconds,
                    warmup=args.warmup)
        timers: list[threading.Timer] = []
        began: list[float] = []

        def arm(start_at: float) -> None:
            def on() -> None:
                _control(pid, "--zero")
                _control(pid, "--instr=on")
                began.append(time.monotonic())
            timer = threading.Timer(max(0.0, start_at - time.time()), on)
            timers.append(timer)
            timer.start()

        m = measure(workdir, f"ir-{args.protocol}", target_for(args.protocol, adapter.ports,
                                                               state / "pki"),
                    request_for(args.protocol, args.operation, echo=False, password=password),
                    load, {}, uuid.uuid4().hex[:8], on_start=arm)
        for timer in timers:
            timer.join()
        _control(pid, "--dump")  # dump 1: the load (counters restart from zero)
        loaded = time.monotonic()
        # The idle window is a measurement interval, not a synchronisation.
        time.sleep(args.idle)
        _control(pid, "--dump")  # dump 2: no load
        idle_end = time.monotonic()
        _control(pid, "--instr=off")
        run = Run(m.ok, m.errors, dumped_ir(out, 1), loaded - began[0], dumped_ir(out, 2),
                  idle_end - loaded)
    for sample in m.error_samples:
        print(f"  error: {sample}", file=sys.stderr)
    return run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", choices=["adapter", "core"], default="adapter")
    p.add_argument("--protocol", choices=["rest", "soap", "grpc"], default="rest")
    p.add_argument("--operation", choices=["balance", "transfer"], default="transfer")
    p.add_argument("--connector", choices=["soap", "iso8583"], default="iso8583")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=8.0)
    p.add_argument("--connections", type=int, default=1)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--idle", type=float, default=5.0,
                   help="seconds measured with no load after the window (background work)")
    p.add_argument("--full-gc", action="store_true",
                   help="leave the cyclic collector's full collections on (by default the "
                        "measured server runs none: one falling inside a window or not "
                        "moves Ir per operation by several per cent)")
    args = p.parse_args(argv)
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        print("valgrind (with callgrind_control) is not installed: apt-get install valgrind",
              file=sys.stderr)
        return 2
    for number in range(args.runs):
        workdir = Path(tempfile.mkdtemp(prefix="bank-adapter-ir-"))
        try:
            run = run_once(args, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print(f"{args.server} {args.protocol} {args.operation} via {args.connector}, run "
              f"{number + 1}: {run.per_op / 1000:,.0f}k Ir per operation ({run.ops} answered, "
              f"{run.errors} errors; raw {run.load_ir / max(run.ops, 1) / 1000:,.0f}k, "
              f"background {run.background_per_s / 1e6:,.1f}M Ir/s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
