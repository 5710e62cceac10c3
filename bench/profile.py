"""Profile the adapter (and the core) under the benchmark's load with py-spy, and summarise
where the time goes.

    python -m bench.profile --protocol rest --connector iso8583 --operation transfer \
        [--seconds 10] [--connections 32] [--out DIR]

Starts one deployment (core_sim + adapter, as `python -m bench` does), drives the chosen
scenario for `--seconds`, and samples both server processes with `py-spy record --format raw`
(collapsed stacks, native frames off, every thread) at 200 Hz. Prints, per process, the share
of samples by own time (the leaf frame) and by inclusive time for the frames that matter most,
and keeps the collapsed stacks in DIR (feed them to any flame-graph tool).

py-spy samples from outside the process: the adapter runs unmodified, at full speed between
samples (its overhead on the target is the ptrace stop, well under 5 % at 200 Hz).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

from adapter.security import pki
from bench import ledger_growth
from bench.runner import Load, Processes, measure
from bench.scenarios import Options, _provision, _start_deployment, request_for, target_for

RATE = 200


def summarise(raw: Path, top: int = 25) -> str:
    """Own-time and inclusive-time shares from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    files: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        leaf = frames[-1]
        own[leaf] += count
        # py-spy frames read "function (path/file.py:line)": the file shows the layer.
        path = leaf.rpartition("(")[2].split(":")[0]
        files[_layer(path)] += count
        for frame in set(f.rpartition(" (")[0] + " " + _short(f) for f in frames):
            incl[frame] += count
    if not total:
        return "no samples"
    out = [f"{total} samples"]
    out.append("own time by layer:")
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in files.most_common(top)]
    out.append("own time by function:")
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    out.append("inclusive time by function:")
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in incl.most_common(top * 2)]
    return "\n".join(out)


def _short(frame: str) -> str:
    path = frame.rpartition("(")[2].split(":")[0]
    return _layer(path)


def _layer(path: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            tail = path.split(marker, 1)[1]
            parts = tail.split("/")
            return "/".join(parts[:2]) if marker != "lib/python3.11/" else f"stdlib/{parts[0]}"
    return path or "?"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--protocol", choices=["rest", "soap", "grpc"], default="rest")
    p.add_argument("--connector", choices=["soap", "iso8583"], default="iso8583")
    p.add_argument("--operation", choices=["balance", "transfer"], default="transfer")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--adapter-log-level", default="info")
    p.add_argument("--gil", action="store_true",
                   help="sample only the thread holding the GIL: Python CPU, not threads "
                        "blocked in C (fsync, a socket wait)")
    p.add_argument("--out", type=Path, default=Path("bench-profile"))
    args = p.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    args.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bank-adapter-profile-"))
    opts = Options(load=Load(), adapter_log_level=args.adapter_log_level)
    load = Load(connections=args.connections, workers=args.workers, duration=args.seconds,
                warmup=2.0)
    try:
        pki_dir = workdir / "pki"
        pki.init(pki_dir)
        with Processes(workdir) as procs:
            state, password = _provision(workdir, pki_dir, "state")
            ledger_growth.grow(state / "core.db", 0)
            core, adapter = _start_deployment(procs, state, args.connector, opts)
            name = f"{args.protocol}-{args.connector}-{args.operation}"
            raws = {"adapter": args.out / f"{name}.adapter.txt",
                    "core": args.out / f"{name}.core.txt"}
            spies: list[subprocess.Popen[bytes]] = []

            def spy() -> None:
                for proc_name, pid in (("adapter", adapter.pid), ("core", core.pid)):
                    spies.append(subprocess.Popen(
                        [py_spy, "record", "--pid", str(pid), "--rate", str(RATE),
                         "--duration", str(int(args.seconds)), "--format", "raw",
                         "--output", str(raws[proc_name]), "--nonblocking",
                         *(["--gil"] if args.gil else [])],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

            # py-spy starts with the load's warm-up; its duration covers the measured window.
            timer = threading.Timer(load.warmup, spy)
            timer.start()
            m = measure(workdir, name, target_for(args.protocol, adapter.ports, state / "pki"),
                        request_for(args.protocol, args.operation, echo=False,
                                    password=password),
                        load, {"adapter": adapter.pid, "core": core.pid}, uuid.uuid4().hex[:8])
            timer.join()
            for s in spies:
                s.wait(60)
        print(f"{name}: {m.rps:.0f} req/s, p50 {m.latency_ms.get('p50')} ms, p99 "
              f"{m.latency_ms.get('p99')} ms, errors {m.errors}, server CPU s "
              f"{ {k: round(v, 2) for k, v in m.server_cpu_s.items()} }")
        for sample in m.error_samples:
            print(f"  error: {sample}")
        for proc_name, raw in raws.items():
            print(f"\n=== {proc_name} ({raw}) ===")
            print(summarise(raw) if raw.exists() else "py-spy wrote nothing")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
