"""The scale-out part of the benchmark (`--parts workers`): REST and gRPC transfers through the
ISO 8583 connector, on three deployments measured in one run:

    sqlite x1       `bank-adapter up --no-core` on SQLite (the baseline of the ratios)
    postgresql x1   the same on PostgreSQL (a database of its own, dropped afterwards)
    postgresql x2   `up --workers 2` on PostgreSQL: two worker processes on one port

Each deployment has its own core_sim (own ledger) and is measured with the same load. Reported
per scenario: throughput, p50/p99, and CPU milliseconds per transfer of each adapter process,
of the core, and of PostgreSQL (the backends serving this deployment's database, found in
pg_stat_activity after a warm-up that opens the pools; the server's shared background
processes are not counted). On a 2-core machine the second worker cannot double throughput:
the CPU per transfer is the figure that carries to a bigger machine (README "Running in
production" has the computation).

Invariants:
- Rule 1: transfers are real bookings: each deployment's ledger totals per currency are
  unchanged afterwards, and its booked postings equal the transfers answered as booked
  (warm-ups included), or the check fails (scenarios.py, Rule 2).
- Rule 2: without a reachable PostgreSQL the PostgreSQL deployments are left out with a note,
  never replaced by something else.
- Rule 3: rate limits stay on, far above the load (as bench/servers.py sets them), in the
  storage each deployment needs in production: memory on SQLite, the database on PostgreSQL
  (`up --workers 2` refuses budgets in each worker's memory). The PostgreSQL figures include
  the budget's round trip per call, as a deployment pays it.
"""

from __future__ import annotations

import re
import socket
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import ledger_growth
from bench.runner import Load, Processes, measure

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/test"
DEPLOYMENTS = (("sqlite", 1), ("postgresql", 1), ("postgresql", 2))
PROTOCOLS = ("rest", "grpc")
# Rule 3: limits on, never reached.
RATE_LIMITS = ("--rate-limit-default", "1000000/second",
               "--rate-limit-operations", "transfer=1000000/second")
_WORKERS_LINE = re.compile(rb"^bank-adapter up: (\d+) workers, pids ([\d ]+)")
_UP_LINE = re.compile(rb"^bank-adapter is up")


def _free_ports(n: int) -> list[int]:
    socks = [socket.create_server(("127.0.0.1", 0)) for _ in range(n)]
    try:
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _database(server: str, name: str, *, create: bool) -> str:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server, autocommit=True) as con:
        if create:
            con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        else:
            con.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
    base, _, _ = server.rpartition("/")
    return f"{base}/{name}"


def _backends(server: str, name: str) -> list[int]:
    import psycopg

    with psycopg.connect(server) as con:
        rows = con.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                           (name,)).fetchall()
    return [int(r[0]) for r in rows]


def reachable(server: str) -> str | None:
    """None if PostgreSQL answers at `server`, else why not."""
    try:
        import psycopg

        with psycopg.connect(server, connect_timeout=3):
            return None
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).strip()[:100]}"


def run_workers(procs: Processes, workdir: Path, pki_dir: Path, opts: Any, run_id: str,
                results: Any, log: Any, *, server: str = DEFAULT_SERVER) -> None:
    from bench.scenarios import _ledger_state, _provision, record, request_for, target_for

    why_not = reachable(server)
    if why_not is not None:
        results.notes.append(f"workers: PostgreSQL deployments left out ({why_not})")
    warm = replace(opts.load, duration=min(2.0, opts.load.duration),
                   warmup=min(0.5, opts.load.warmup))
    baseline: dict[str, float] = {}
    for store, processes in DEPLOYMENTS:
        if store == "postgresql" and why_not is not None:
            continue
        tag = f"{store}-x{processes}"
        state, password = _provision(workdir, pki_dir, f"state-workers-{tag}")
        db = state / "core.db"
        ledger_growth.grow(db, 0)
        totals_before, booked_before = _ledger_state(db)
        core = procs.start_core(f"core-workers-{tag}", db, state / "pki")
        database = f"ba_bench_{run_id}_{store[:2]}{processes}_{uuid.uuid4().hex[:4]}"
        url = _database(server, database, create=True) if store == "postgresql" else None
        http, grpc = _free_ports(2)
        args = ["-m", "adapter.cli", "up", "--no-core", "--state-dir", str(state),
                "--http-port", str(http), "--grpc-port", str(grpc),
                "--core-connector", "iso8583", "--core-soap-port", str(core.ports["soap"]),
                "--core-iso-port", str(core.ports["iso"]),
                "--log-level", opts.adapter_log_level, "--workers", str(processes),
                *RATE_LIMITS,
                *(["--database-url", url, "--rate-limit-storage", "database"] if url else [])]
        ok_total, errors_total = 0, 0
        try:
            server_proc, match = procs.start(f"adapter-workers-{tag}", args,
                                             _WORKERS_LINE if processes > 1 else _UP_LINE,
                                             timeout=120)
            pids = ({"adapter": server_proc.pid} if processes == 1 else
                    {f"worker{i}": int(p) for i, p in
                     enumerate(match.group(2).split(), start=1)})
            ports = {"http": http, "grpc": grpc}
            for protocol in PROTOCOLS:
                target = target_for(protocol, ports, state / "pki")
                request = request_for(protocol, "transfer", echo=False, password=password)
                # A short warm-up run first: it opens the store pools (their backends are
                # then known) and its bookings count in the ledger check.
                m = measure(workdir, f"workers-{tag}-{protocol}-warm", target, request, warm,
                            {}, run_id)
                ok_total += m.ok + m.warmup_ok
                errors_total += m.errors
                backends = _backends(server, database) if url else []
                watched = {**pids, "core": core.pid, **{f"pg{p}": p for p in backends}}
                m = measure(workdir, f"workers-{tag}-{protocol}", target, request, opts.load,
                            watched, run_id)
                ok_total += m.ok + m.warmup_ok
                errors_total += m.errors
                rec = record(protocol, "iso8583", "transfer", m, opts.load, part="workers",
                             store=store, processes=processes)
                cpu = dict(m.server_cpu_s)
                pg = sum(v for k, v in cpu.items() if k.startswith("pg"))
                cpu = {k: v for k, v in cpu.items() if not k.startswith("pg")}
                if url:
                    cpu["postgresql"] = pg
                rec["cpu_ms_per_transfer"] = {
                    k: round(1000 * v / m.ok, 3) if m.ok else None for k, v in cpu.items()}
                rec["postgres_backends"] = len(backends)
                if store == "sqlite":
                    baseline[protocol] = m.rps
                if baseline.get(protocol):
                    rec["ratio_to_sqlite_x1"] = round(m.rps / baseline[protocol], 3)
                results.workers.append(rec)
                log(rec)
        finally:
            procs.stop(f"adapter-workers-{tag}")
            procs.stop(core.name)
            if url:
                _database(server, database, create=False)
        totals_after, booked_after = _ledger_state(db)
        check = {"connector": f"iso8583, {store} x{processes}",
                 "totals_before": totals_before, "totals_after": totals_after,
                 "totals_unchanged": totals_before == totals_after,
                 "postings_booked": booked_after - booked_before,
                 "transfers_answered_booked": ok_total, "transfer_errors": errors_total}
        check["postings_match"] = check["postings_booked"] == ok_total
        results.checks.append(check)
        log(check)


def table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'store':10} {'procs':>5} {'protocol':8} {'rps':>7} {'ratio':>6} {'p99 ms':>7} "
            f"{'errors':>6}  CPU ms per transfer")
    lines = ["\nscale-out: transfers via ISO 8583 (ratio: to sqlite x1, same protocol)", head,
             "-" * (len(head) + 30)]
    for r in rows:
        cpu = " ".join(f"{k} {v:.2f}" for k, v in r["cpu_ms_per_transfer"].items()
                       if v is not None)
        ratio, p99 = r.get("ratio_to_sqlite_x1"), r["p99_ms"]
        ratio_text = "-" if ratio is None else f"{ratio:.2f}"
        p99_text = "-" if p99 is None else f"{p99:.1f}"
        lines.append(
            f"{r['store']:10} {r['processes']:>5} {r['protocol']:8} {r['rps']:>7.0f} "
            f"{ratio_text:>6} {p99_text:>7} {r['errors']:>6}  {cpu}")
    return "\n".join(lines)


__all__ = ["DEFAULT_SERVER", "Load", "run_workers", "table"]
