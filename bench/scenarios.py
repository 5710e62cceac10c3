"""The benchmark's scenarios: bare echoes, end-to-end per front-end and connector, ledger scale,
and a long run for memory.

Invariants:
- Rule 1: every end-to-end figure has a bare echo of the same protocol from the same run beside
  it (`ratio_to_echo`); the SOAP echo is one spyne operation, the REST and gRPC echoes answer the
  very requests the adapter gets (same paths, same messages), so each op has its own echo.
- Rule 2: transfers are real bookings. Before a deployment's run the ledger's totals per currency
  are read; after it (core stopped) they must be unchanged, and the number of booked postings
  must equal the number of transfers the load workers saw succeed. Any difference is reported
  as a failed check, never hidden.
- Rule 3: a scenario whose front-end or connector is missing from the tree is left out with a
  note saying so, not faked.
"""

from __future__ import annotations

import importlib.util
import shutil
import sqlite3
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapter.security import pki
from bench import ledger_growth, procstats
from bench.runner import Load, Measured, Processes, measure, percentiles

PROTOCOLS = ("rest", "soap", "grpc")
OPERATIONS = ("balance", "transfer")
CONNECTORS = ("soap", "iso8583")
CLIENT_OF = {"rest": "partner", "soap": "legacy", "grpc": "internal"}
SOAP_PATH = "/soap/v1"
# Debtor -> creditor per protocol, within what each demo caller may touch (provision.py).
TRANSFER_ACCOUNTS = {"rest": ("10000001", "10000002"), "soap": ("10000003", "10000001"),
                     "grpc": ("10000001", "10000002")}
BALANCE_ACCOUNT = {"rest": "10000001", "soap": "10000003", "grpc": "10000001"}
MODULES = {"rest": "adapter.frontends.rest", "soap": "adapter.frontends.soap",
           "grpc": "adapter.frontends.grpc.server", "soap-connector": "adapter.connectors.soap",
           "iso8583-connector": "adapter.connectors.iso8583"}


@dataclass
class Options:
    load: Load
    protocols: tuple[str, ...] = PROTOCOLS
    operations: tuple[str, ...] = OPERATIONS
    connectors: tuple[str, ...] = CONNECTORS
    scale_sizes: tuple[int, ...] = (10_000, 100_000)
    scale_load: Load = field(default_factory=lambda: Load(connections=8, workers=1,
                                                          duration=5, warmup=1))
    scale_direct_calls: int = 2000
    scale_connector: str = "iso8583"
    memory_seconds: float = 120.0
    rounds: int = 1
    adapter_log_level: str = "info"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass
class Results:
    scenarios: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    scale: list[dict[str, Any]] = field(default_factory=list)
    memory: dict[str, Any] = field(default_factory=dict)
    workers: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def available(what: str) -> bool:
    try:
        return importlib.util.find_spec(MODULES[what]) is not None
    except ModuleNotFoundError:
        return False


# -- requests and targets ---------------------------------------------------------------------


def request_for(protocol: str, operation: str, *, echo: bool, password: str = "") -> dict[str, Any]:
    if protocol == "rest":
        if operation == "balance":
            return {"op": "rest_balance", "account": BALANCE_ACCOUNT["rest"],
                    "expect_status": [200]}
        if operation == "history":
            return {"op": "rest_history", "account": BALANCE_ACCOUNT["rest"], "limit": 20,
                    "expect_status": [200]}
        debtor, creditor = TRANSFER_ACCOUNTS["rest"]
        return {"op": "rest_transfer", "debtor": debtor, "creditor": creditor, "amount": "0.01",
                "currency": "EUR", "expect_status": [201], "expect_body": '"ACSC"'}
    if protocol == "soap":
        base = {"username": "legacy", "password": password or "unused", "path": SOAP_PATH,
                "expect_status": [200]}
        if echo:
            return {**base, "op": "soap_echo", "expect_body": "ACSC"}
        if operation == "balance":
            return {**base, "op": "soap_balance", "account": BALANCE_ACCOUNT["soap"],
                    "expect_body": "Booked>"}
        debtor, creditor = TRANSFER_ACCOUNTS["soap"]
        return {**base, "op": "soap_transfer", "debtor": debtor, "creditor": creditor,
                "amount": "0.01", "currency": "EUR", "expect_body": ">ACSC<"}
    if operation == "balance":
        return {"op": "grpc_balance", "account": BALANCE_ACCOUNT["grpc"]}
    if operation == "history":
        return {"op": "grpc_history", "account": BALANCE_ACCOUNT["grpc"], "limit": 20}
    debtor, creditor = TRANSFER_ACCOUNTS["grpc"]
    # Payment.iso20022_status is field 4: tag 0x22, length 4, "ACSC".
    return {"op": "grpc_transfer", "debtor": debtor, "creditor": creditor, "amount": "0.01",
            "currency": "EUR", "expect_body": '"\x04ACSC'}


def target_for(protocol: str, ports: dict[str, int], pki_dir: Path) -> dict[str, Any]:
    if protocol == "grpc":
        return {"kind": "grpc", "host": "127.0.0.1", "port": ports["grpc"],
                "pki_dir": str(pki_dir), "client": CLIENT_OF["grpc"]}
    return {"kind": "http", "host": "127.0.0.1", "port": ports["http"], "pki_dir": str(pki_dir),
            "client": CLIENT_OF[protocol]}


def record(protocol: str, connector: str, operation: str, m: Measured, load: Load,
           **extra: Any) -> dict[str, Any]:
    return {"protocol": protocol, "connector": connector, "operation": operation,
            **m.as_record(), "connections": load.connections, "duration_s": load.duration,
            **extra}


# -- the parts of a run -------------------------------------------------------------------------


def _provision(workdir: Path, pki_dir: Path, name: str) -> tuple[Path, str]:
    from adapter.provision import provision

    state = workdir / name
    shutil.copytree(pki_dir, state / "pki", dirs_exist_ok=True)
    return state, provision(state).legacy_password


def _ledger_state(db: Path) -> tuple[dict[str, int], int]:
    con = sqlite3.connect(db)
    try:
        totals = {r[0]: int(r[1]) for r in con.execute(
            "SELECT currency, SUM(balance_minor) FROM accounts GROUP BY currency")}
        booked = int(con.execute("SELECT COUNT(*) FROM postings WHERE state = 'booked'")
                     .fetchone()[0])
    finally:
        con.close()
    return totals, booked


def _start_deployment(procs: Processes, state: Path, connector: str, opts: Options,
                      tag: str = "") -> tuple[Any, Any]:
    core = procs.start_core(f"core-{connector}{tag}", state / "core.db", state / "pki")
    adapter = procs.start_server(
        f"adapter-{connector}{tag}", "adapter", "--state-dir", str(state), "--connector",
        connector, "--core-soap-port", str(core.ports["soap"]), "--core-iso-port",
        str(core.ports["iso"]), "--log-level", opts.adapter_log_level)
    return core, adapter


@dataclass
class Deployment:
    """One adapter with one connector in front of its own core_sim, and its ledger check."""

    connector: str
    state: Path
    password: str
    core: Any
    adapter: Any
    totals_before: dict[str, int]
    booked_before: int
    transfers_ok: int = 0
    transfer_errors: int = 0


def _median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median throughput stands for the scenario; every round's throughput
    and ratio are kept beside it, so the spread between rounds is visible."""
    ordered = sorted(rounds, key=lambda r: r["rps"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["rps_rounds"] = [r["rps"] for r in rounds]
    chosen["errors"] = sum(r["errors"] for r in rounds)
    chosen["fatal"] = [f for r in rounds for f in r["fatal"]]
    chosen["error_samples"] = [e for r in rounds for e in r["error_samples"]][:5]
    return chosen


def run_throughput(procs: Processes, workdir: Path, pki_dir: Path, opts: Options, run_id: str,
                   results: Results, log: Any, *, with_echo: bool, with_e2e: bool) -> None:
    """Echo and end-to-end scenarios, interleaved: for each protocol and operation the echo is
    measured right before the adapter's paths, round after round, so that a ratio compares
    figures taken minutes apart at most, on a machine whose other load changes."""
    protocols = list(opts.protocols)
    e2e_protocols = [p for p in protocols if available(p)] if with_e2e else []
    if with_e2e:
        for p in protocols:
            if p not in e2e_protocols:
                results.notes.append(f"{p} front-end not in the tree: its end-to-end scenarios "
                                     "are left out")
    echoes = {}
    if with_echo:
        for protocol in protocols:
            name = f"echo-{protocol}"
            echoes[protocol] = procs.start_server(name, name, "--pki-dir", str(pki_dir))
    deployments: list[Deployment] = []
    if with_e2e and e2e_protocols:
        for connector in opts.connectors:
            if not available(f"{connector}-connector"):
                results.notes.append(f"{connector} connector not in the tree: left out")
                continue
            state, password = _provision(workdir, pki_dir, f"state-{connector}")
            db = state / "core.db"
            ledger_growth.grow(db, 0)  # schema and demo accounts, as the core would seed them
            totals, booked = _ledger_state(db)
            core, adapter = _start_deployment(procs, state, connector, opts)
            deployments.append(Deployment(connector, state, password, core, adapter, totals,
                                          booked))
    rounds: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for round_no in range(opts.rounds):
        for protocol in protocols:
            for op in opts.operations:
                echo_op = "echo" if protocol == "soap" else op
                echo_rec = None
                if protocol in echoes and not (protocol == "soap" and op != opts.operations[0]):
                    server = echoes[protocol]
                    m = measure(workdir, f"r{round_no}-echo-{protocol}-{echo_op}",
                                target_for(protocol, server.ports, pki_dir),
                                request_for(protocol, echo_op, echo=True), opts.load,
                                {"server": server.pid}, run_id)
                    echo_rec = record(protocol, "echo", echo_op, m, opts.load, round=round_no)
                    rounds.setdefault((protocol, "echo", echo_op), []).append(echo_rec)
                    log(echo_rec)
                if protocol not in e2e_protocols:
                    continue
                for d in deployments:
                    m = measure(workdir, f"r{round_no}-{d.connector}-{protocol}-{op}",
                                target_for(protocol, d.adapter.ports, d.state / "pki"),
                                request_for(protocol, op, echo=False, password=d.password),
                                opts.load, {"adapter": d.adapter.pid, "core": d.core.pid},
                                run_id)
                    if op == "transfer":
                        d.transfers_ok += m.ok + m.warmup_ok
                        d.transfer_errors += m.errors
                    rec = record(protocol, d.connector, op, m, opts.load, round=round_no)
                    base = rounds.get((protocol, "echo", echo_op), [])
                    same_round = [b for b in base if b["round"] == round_no]
                    if same_round and same_round[0]["rps"]:
                        rec["round_ratio"] = round(rec["rps"] / same_round[0]["rps"], 3)
                    rounds.setdefault((protocol, d.connector, op), []).append(rec)
                    log(rec)
    for recs in rounds.values():
        chosen = _median_round(recs)
        ratios = [r["round_ratio"] for r in recs if "round_ratio" in r]
        if ratios:
            chosen["ratio_rounds"] = ratios
        results.scenarios.append(chosen)
    for protocol in echoes:
        procs.stop(f"echo-{protocol}")
    for d in deployments:
        procs.stop(d.adapter.name)
        procs.stop(d.core.name)
        totals_after, booked_after = _ledger_state(d.state / "core.db")
        check = {
            "connector": d.connector, "totals_before": d.totals_before,
            "totals_after": totals_after, "totals_unchanged": d.totals_before == totals_after,
            "postings_booked": booked_after - d.booked_before,
            "transfers_answered_booked": d.transfers_ok, "transfer_errors": d.transfer_errors,
        }
        check["postings_match"] = check["postings_booked"] == d.transfers_ok
        results.checks.append(check)
        log(check)


def add_ratios(results: Results) -> None:
    """ratio_to_echo: the median over rounds of (adapter rps / echo rps of the same round)."""
    echo: dict[tuple[str, str], float] = {}
    for r in results.scenarios:
        if r["connector"] == "echo":
            echo[(r["protocol"], r["operation"])] = r["rps"]
    for r in results.scenarios:
        base = echo.get((r["protocol"], r["operation"])) or echo.get((r["protocol"], "echo"))
        r["echo_rps"] = base
        if r["connector"] == "echo":
            r["ratio_to_echo"] = 1.0
        elif r.get("ratio_rounds"):
            r["ratio_to_echo"] = round(statistics.median(r["ratio_rounds"]), 3)
        else:
            r["ratio_to_echo"] = round(r["rps"] / base, 3) if base else None


# -- scale ----------------------------------------------------------------------------------------


def _direct_ledger(db: Path, calls: int) -> dict[str, Any]:
    """Latency of the ledger's own calls in this process: SQLite alone, no network."""
    from core_sim.ledger import Ledger

    ledger = Ledger(db)
    out: dict[str, Any] = {}
    try:
        for name, fn in (
            ("balance", lambda i: ledger.balance("10000001")),
            ("history_page", lambda i: ledger.history("10000001", None, 20)),
            ("transfer", lambda i: ledger.post_transfer(
                f"SCALE{uuid.uuid4().hex[:20]}", "10000001", 1, "EUR", "BENCH",
                creditor_id="10000002")),
        ):
            n = calls if name != "transfer" else max(1, calls // 4)
            lat = []
            for i in range(n):
                t0 = time.perf_counter()
                fn(i)
                lat.append((time.perf_counter() - t0) * 1000)
            out[name] = percentiles(lat)
    finally:
        ledger.close()
    return out


def run_scale(procs: Processes, workdir: Path, pki_dir: Path, opts: Options, run_id: str,
              results: Results, log: Any) -> None:
    connector = opts.scale_connector
    if not available("rest") or not available(f"{connector}-connector"):
        results.notes.append("scale: REST front-end or connector missing, left out")
        return
    state, _ = _provision(workdir, pki_dir, "state-scale")
    db = state / "core.db"
    for size in opts.scale_sizes:
        entries = ledger_growth.grow(db, size)
        direct = _direct_ledger(db, opts.scale_direct_calls)
        core, adapter = _start_deployment(procs, state, connector, opts)
        servers = {"adapter": adapter.pid, "core": core.pid}
        row: dict[str, Any] = {"entries": entries, "connector": connector,
                               "db_mb": round(db.stat().st_size / 2**20, 1),
                               "direct_ledger_ms": direct}
        for op in ("balance", "history", "transfer"):
            m = measure(workdir, f"scale-{size}-{op}",
                        target_for("rest", adapter.ports, state / "pki"),
                        request_for("rest", op, echo=False), opts.scale_load, servers, run_id)
            row[op] = {"rps": round(m.rps, 1), **{k + "_ms": v for k, v in m.latency_ms.items()},
                       "errors": m.errors, "error_samples": m.error_samples}
        procs.stop(adapter.name)
        procs.stop(core.name)
        results.scale.append(row)
        log(row)


# -- memory over a long run ---------------------------------------------------------------------


def run_memory(procs: Processes, workdir: Path, pki_dir: Path, opts: Options, run_id: str,
               results: Results, log: Any) -> None:
    """All available front-ends at once (transfers), for `memory_seconds`, RSS sampled."""
    connector = "iso8583" if available("iso8583-connector") else "soap"
    protocols = [p for p in opts.protocols if available(p)]
    if not protocols or not available(f"{connector}-connector"):
        results.notes.append("memory: nothing to run")
        return
    state, password = _provision(workdir, pki_dir, "state-memory")
    ledger_growth.grow(state / "core.db", 0)
    core, adapter = _start_deployment(procs, state, connector, opts)
    servers = {"adapter": adapter.pid, "core": core.pid}
    per = Load(connections=max(1, opts.load.connections // len(protocols)), workers=1,
               duration=opts.memory_seconds, warmup=1.0, max_requests=10**9,
               grpc_channels=opts.load.grpc_channels)
    outcome: dict[str, Measured] = {}

    def one(protocol: str) -> None:
        outcome[protocol] = measure(
            workdir, f"memory-{protocol}", target_for(protocol, adapter.ports, state / "pki"),
            request_for(protocol, "transfer", echo=False, password=password), per, {},
            f"{run_id}m")

    interval = max(0.25, opts.memory_seconds / 120)
    with procstats.RssSampler(servers, interval) as sampler:
        threads = [threading.Thread(target=one, args=(p,)) for p in protocols]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    procs.stop(adapter.name)
    procs.stop(core.name)
    summary: dict[str, Any] = {"seconds": opts.memory_seconds, "connector": connector,
                               "protocols": protocols, "processes": {}}
    for name, samples in sampler.samples.items():
        if not samples:
            continue
        values = [v for _, v in samples]
        half = samples[len(samples) // 2:]
        summary["processes"][name] = {
            "start_mb": round(values[0], 1), "end_mb": round(values[-1], 1),
            "peak_mb": round(max(values), 1),
            "second_half_slope_mb_per_min": round(_slope(half) * 60, 3),
            "samples": [(round(t, 2), round(v, 1)) for t, v in samples],
        }
    summary["requests"] = {p: m.ok for p, m in outcome.items()}
    summary["errors"] = {p: m.errors for p, m in outcome.items()}
    results.memory = summary
    log({k: v for k, v in summary.items() if k != "processes"}
        | {"processes": {n: {k: v for k, v in p.items() if k != "samples"}
                         for n, p in summary["processes"].items()}})


def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope (MB per second)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    den = sum((t - mx) ** 2 for t, _ in points)
    return sum((t - mx) * (v - my) for t, v in points) / den if den else 0.0


def run(workdir: Path, opts: Options, log: Any, *, parts: tuple[str, ...]) -> Results:
    results = Results()
    pki_dir = workdir / "pki"
    pki.init(pki_dir)
    run_id = uuid.uuid4().hex[:8]
    with Processes(workdir) as procs:
        if "echo" in parts or "e2e" in parts:
            run_throughput(procs, workdir, pki_dir, opts, run_id, results, log,
                           with_echo="echo" in parts, with_e2e="e2e" in parts)
        add_ratios(results)
        # A failure in a later part must not lose the figures already taken: it is reported.
        from bench.workers_bench import run_workers

        def workers(*args: Any) -> None:
            run_workers(*args, server=opts.database_url)

        for part, fn in (("scale", run_scale), ("memory", run_memory), ("workers", workers)):
            if part in parts:
                try:
                    fn(procs, workdir, pki_dir, opts, run_id, results, log)
                except Exception as exc:
                    results.notes.append(f"{part} FAILED: {type(exc).__name__}: {exc}")
                    procs.stop_all()
    return results
