"""`python -m bench` (and `bank-adapter bench`): end-to-end throughput, latency and memory per
protocol and connector, each read against the bare framework's echo measured in the same run.

    python -m bench                       # full run (about 10 minutes on 2 cores)
    python -m bench --quick               # a few seconds per part: a smoke test, not figures
    python -m bench --json out.json --png out.png
    python -m bench --parts echo e2e      # only some parts (echo, e2e, scale, memory, workers)
    python -m bench --parts workers       # scale-out: SQLite x1, PostgreSQL x1 and x2 workers

Everything runs on loopback with mutual TLS on every hop, in separate processes: core_sim, the
adapter, each echo server, and the load workers (closed loop, `--connections` in total spread
over `--workers` processes, each scenario bounded by `--duration` and `--max-requests`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import report
from bench.runner import Load
from bench.scenarios import CONNECTORS, OPERATIONS, PROTOCOLS, Options, run

PARTS = ("echo", "e2e", "scale", "memory", "workers")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bank-adapter bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="tiny counts and durations: checks that everything runs and reports")
    p.add_argument("--json", type=Path, help="write every record to this JSON file")
    p.add_argument("--png", type=Path, help="write the chart to this PNG file")
    p.add_argument("--connections", type=int, default=32, help="concurrent callers (default 32)")
    p.add_argument("--workers", type=int, default=2, help="load worker processes (default 2)")
    p.add_argument("--duration", type=float, help="measured seconds per scenario (default 10)")
    p.add_argument("--warmup", type=float, help="warm-up seconds per scenario (default 2)")
    p.add_argument("--max-requests", type=int, default=1_000_000,
                   help="stop a scenario after this many requests (default 1e6)")
    p.add_argument("--grpc-channels", type=int, default=4,
                   help="gRPC channels (HTTP/2 connections) per worker (default 4)")
    p.add_argument("--protocols", nargs="+", choices=PROTOCOLS, default=list(PROTOCOLS))
    p.add_argument("--operations", nargs="+", choices=OPERATIONS, default=list(OPERATIONS))
    p.add_argument("--connectors", nargs="+", choices=CONNECTORS, default=list(CONNECTORS))
    p.add_argument("--rounds", type=int, default=None,
                   help="repeat echo + end-to-end this many times, interleaved; report the "
                        "median round and every round's figure (default 2, quick 1)")
    p.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    p.add_argument("--scale-sizes", nargs="+", type=int,
                   help="ledger sizes in entries (default 10000 100000 1000000)")
    p.add_argument("--memory-seconds", type=float, help="length of the memory run (default 120)")
    p.add_argument("--adapter-log-level", default="info",
                   help="the adapter's log level (default info, as `bank-adapter up`)")
    p.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test",
                   help="PostgreSQL server for the workers part; a database is created on it "
                        "per deployment and dropped after (default the test server)")
    p.add_argument("--keep", action="store_true", help="keep the work folder (logs, databases)")
    return p


def options_from(args: argparse.Namespace) -> Options:
    quick = args.quick
    load = Load(
        connections=args.connections if not quick else min(args.connections, 8),
        workers=args.workers if not quick else 1,
        duration=args.duration if args.duration is not None else (0.4 if quick else 10.0),
        warmup=args.warmup if args.warmup is not None else (0.2 if quick else 2.0),
        max_requests=args.max_requests, grpc_channels=args.grpc_channels,
    )
    scale_sizes = args.scale_sizes or ([1000] if quick else [10_000, 100_000, 1_000_000])
    scale_load = (Load(connections=4, workers=1, duration=0.3, warmup=0.1) if quick
                  else Load(connections=8, workers=1, duration=5.0, warmup=1.0))
    return Options(
        load=load, protocols=tuple(args.protocols), operations=tuple(args.operations),
        connectors=tuple(args.connectors), scale_sizes=tuple(scale_sizes),
        scale_load=scale_load, scale_direct_calls=100 if quick else 2000,
        memory_seconds=args.memory_seconds if args.memory_seconds is not None
        else (1.0 if quick else 120.0),
        adapter_log_level=args.adapter_log_level, database_url=args.database_url,
        rounds=args.rounds if args.rounds is not None else (1 if quick else 2),
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    opts = options_from(args)
    workdir = Path(tempfile.mkdtemp(prefix="bank-adapter-bench-"))
    started = time.monotonic()

    def log(item: dict[str, Any]) -> None:
        brief = {k: v for k, v in item.items() if k not in ("error_samples",)}
        print(f"[{time.monotonic() - started:6.1f}s] {json.dumps(brief, default=str)}",
              file=sys.stderr, flush=True)

    try:
        results = run(workdir, opts, log, parts=tuple(args.parts))
    finally:
        if args.keep:
            print(f"work folder kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    info = report.machine()
    print(f"machine: {info['nproc']} CPUs, {info['cpu_model']}, Python {info['python']}; "
          f"{opts.load.connections} connections over {opts.load.workers} worker processes, "
          f"{opts.load.duration:g} s per scenario after {opts.load.warmup:g} s warm-up")
    print(report.table(results))
    settings = {"quick": args.quick, "load": asdict(opts.load),
                "scale_load": asdict(opts.scale_load), "scale_sizes": list(opts.scale_sizes),
                "memory_seconds": opts.memory_seconds,
                "adapter_log_level": opts.adapter_log_level, "parts": list(args.parts),
                "elapsed_s": round(time.monotonic() - started, 1)}
    if args.json:
        report.write_json(args.json, results, settings)
    if args.png:
        report.write_png(args.png, results)
    failed = any(r["errors"] or r["fatal"] for r in results.scenarios) or any(
        not (c["totals_unchanged"] and c["postings_match"]) for c in results.checks)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
