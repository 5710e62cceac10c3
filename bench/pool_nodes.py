"""The core-node pool under load: REST transfers via ISO 8583 over 1, 2 and 3 core nodes, and a
node killed (SIGKILL) and restarted during a run, as a per-second time series and a PNG.

    python -m bench.pool_nodes                         # about 3 minutes on 2 cores
    python -m bench.pool_nodes --json bench/results/pool-nodes.json \\
                               --png bench/results/pool-kill.png
    python -m bench.pool_nodes --quick                 # a smoke run: seconds, not figures
    python -m bench.pool_nodes --replot RUN.json --png CHART.png   # redraw, run nothing

Every process is real and separate (`bench.runner`): three core_sim nodes on one SQLite ledger,
the adapter (`bench.servers adapter --core-nodes ...`, the ISO 8583 connector, one pool), and
the load workers; every hop is mutual TLS.

Parts:
- **scaling**: the same closed-loop load (REST `POST /v1/transfers`, 32 connections) against
  the adapter with no pool (one core, as without `--core-nodes`), then a pool of 1, 2 and 3
  nodes; rounds interleave the four, and each figure is read as a ratio to the no-pool
  adapter of the same round.
- **kill**: the adapter over all three nodes (round robin), the load running for `--kill-run`
  seconds; at `--kill-at` node 3 is SIGKILLed, at `--restart-at` it is started again on the
  same ports. Per second: transfers answered booked, and errors (any other answer). The
  adapter's `STATE/core-nodes.json` is sampled to time when node 3 stops being usable and
  when it is usable again.

Invariants:
- Rule 1: transfers are real bookings on the one ledger. After each adapter stops, the run
  checks the ledger: totals per currency unchanged, every posting either booked with exactly
  two entries or undone (none or four), and the postings booked equal to the transfers
  answered booked (nothing lost, nothing booked without a "booked" answer, nothing twice).
  In-doubt transfers of the killed node are reversed by the adapter (at another node, one
  ledger) before it is stopped; the check waits for that, within a deadline, and reports
  what it found either way.
- Rule 2: figures are ratios within one run; absolute req/s on a shared machine move a lot.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapter.security import pki
from bench import ledger_growth, report
from bench.runner import Load, Processes, Server, measure
from bench.scenarios import _ledger_state, _provision, request_for, target_for

NODES = 3
STATUS_FILE = "core-nodes.json"
SETTLE_DEADLINE_S = 60.0


@dataclass
class Options:
    load: Load
    rounds: int = 2
    operations: tuple[str, ...] = ("transfer",)
    kill_run: float = 30.0
    kill_at: float = 8.0
    restart_at: float = 18.0
    balance: str = "round-robin"


@dataclass
class Deployment:
    """The three nodes on one ledger, and the ledger's state before any adapter ran."""

    state: Path
    nodes: list[Server]
    totals_before: dict[str, int]
    booked_before: int
    answered_booked: int = 0
    errors: int = 0


@dataclass
class Results:
    scaling: list[dict[str, Any]] = field(default_factory=list)
    kill: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _address(node: Server) -> str:
    return f"127.0.0.1:{node.ports['soap']}:{node.ports['iso']}"


def _start_adapter(procs: Processes, workdir: Path, name: str, d: Deployment,
                   nodes: list[Server] | None, balance: str) -> tuple[Server, Path]:
    """The adapter with the ISO 8583 connector: over a pool of `nodes`, or (None) over the
    first node alone without a pool. Each adapter gets a fresh state folder (its own
    journal), so a later configuration never pays for a journal the earlier ones grew."""
    state = workdir / f"state-{name}"
    shutil.copytree(d.state / "pki", state / "pki")
    first = d.nodes[0]
    extra: list[str] = []
    if nodes is not None:
        for node in nodes:
            extra += ["--core-nodes", _address(node)]
        extra += ["--core-balance", balance]
    server = procs.start_server(
        name, "adapter", "--state-dir", str(state), "--connector", "iso8583",
        "--core-soap-port", str(first.ports["soap"]), "--core-iso-port",
        str(first.ports["iso"]), "--log-level", "warning", *extra)
    return server, state


def _ledger_shape(db: Path) -> dict[str, int]:
    """Postings by (state, entry count): 'booked/2' is booked once, 'reversed/4' booked and
    undone, 'reversed/0' fenced before it could book; anything else is a defect."""
    con = sqlite3.connect(db)
    try:
        rows = con.execute(
            "SELECT p.state, (SELECT COUNT(*) FROM entries e WHERE e.posting = p.reference) "
            "AS n, COUNT(*) FROM postings p GROUP BY p.state, n").fetchall()
    finally:
        con.close()
    return {f"{state}/{n}": int(count) for state, n, count in rows}


def _settled_check(d: Deployment, stop_adapter: Any) -> dict[str, Any]:
    """Rule 1: wait (deadline) until the postings booked equal the transfers answered booked,
    i.e. the adapter reversed every in-doubt transfer, then stop it and check the ledger."""
    db = d.state / "core.db"
    deadline = time.monotonic() + SETTLE_DEADLINE_S
    booked = _ledger_state(db)[1] - d.booked_before
    while booked != d.answered_booked and time.monotonic() < deadline:
        # Reading another process's ledger on a schedule: there is no event to wait on
        # across processes, and the deadline bounds it.
        time.sleep(0.5)
        booked = _ledger_state(db)[1] - d.booked_before
    stop_adapter()
    totals_after, booked_after = _ledger_state(db)
    shape = _ledger_shape(db)
    odd = {k: v for k, v in shape.items() if k not in ("booked/2", "reversed/4", "reversed/0",
                                                       "cancelled/0")}
    postings_booked = booked_after - d.booked_before
    lost = max(0, d.answered_booked - postings_booked)
    unanswered = max(0, postings_booked - d.answered_booked)
    check: dict[str, Any] = {
        "totals_unchanged": totals_after == d.totals_before,
        "postings_booked": postings_booked,
        "transfers_answered_booked": d.answered_booked,
        "transfer_errors": d.errors,
        "postings_by_state_and_entries": shape,
        "postings_with_odd_entries": odd,
    }
    check["lost"] = lost
    check["booked_without_booked_answer"] = unanswered
    check["ok"] = totals_after == d.totals_before and not odd and lost == 0 and unanswered == 0
    return check


def run_scaling(procs: Processes, workdir: Path, d: Deployment, opts: Options,
                results: Results, run_id: str, log: Any) -> None:
    """Each round: the no-pool adapter, then pools of 1, 2 and 3 nodes, each measured for
    every operation; a ratio compares a figure with the no-pool one of its round and op."""
    configs: list[tuple[str, list[Server] | None]] = [("no pool", None)] + [
        (f"{n} node{'s' if n > 1 else ''}", d.nodes[:n]) for n in range(1, NODES + 1)]
    rounds: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for round_no in range(opts.rounds):
        base_rps: dict[str, float] = {}
        # The no-pool baseline opens every round (ratios need it); the pools rotate, so no
        # configuration is always the one measured last.
        shift = round_no % (len(configs) - 1)
        order = [configs[0], *configs[1 + shift:], *configs[1:1 + shift]]
        for label, nodes in order:
            name = f"adapter-r{round_no}-{label.replace(' ', '')}"
            adapter, _ = _start_adapter(procs, workdir, name, d, nodes, opts.balance)
            servers = {"adapter": adapter.pid, **{f"node{i + 1}": n.pid
                                                  for i, n in enumerate(d.nodes)}}
            for op in opts.operations:
                m = measure(workdir, f"{name}-{op}",
                            target_for("rest", adapter.ports, d.state / "pki"),
                            request_for("rest", op, echo=False), opts.load, servers, run_id)
                if op == "transfer":
                    d.answered_booked += m.ok + m.warmup_ok
                    d.errors += m.errors
                rec = {"config": label, "operation": op,
                       "nodes": 0 if nodes is None else len(nodes), "round": round_no,
                       **m.as_record()}
                # CPU per request moves far less than req/s when other jobs take the cores.
                cores = sum(v for k, v in m.server_cpu_s.items() if k != "adapter")
                rec["adapter_cpu_ms_per_req"] = (
                    round(1000 * m.server_cpu_s.get("adapter", 0.0) / m.ok, 3) if m.ok else None)
                rec["core_cpu_ms_per_req"] = round(1000 * cores / m.ok, 3) if m.ok else None
                if nodes is None:
                    base_rps[op] = rec["rps"]
                base = base_rps.get(op)
                rec["ratio_to_no_pool"] = round(rec["rps"] / base, 3) if base else None
                rounds.setdefault((label, op), []).append(rec)
                log({k: rec[k] for k in ("config", "operation", "round", "rps", "p50_ms",
                                         "p99_ms", "errors", "ratio_to_no_pool", "cpu_pct")})
            procs.stop(adapter.name)
    for _, recs in sorted(rounds.items(), key=lambda kv: (
            [c[0] for c in configs].index(kv[0][0]), opts.operations.index(kv[0][1]))):
        ordered = sorted(recs, key=lambda r: r["rps"])
        chosen = dict(ordered[(len(ordered) - 1) // 2])
        chosen["rps_rounds"] = [r["rps"] for r in recs]
        chosen["p99_rounds"] = [r["p99_ms"] for r in recs]
        chosen["ratio_rounds"] = [r["ratio_to_no_pool"] for r in recs]
        for key in ("adapter_cpu_ms_per_req", "core_cpu_ms_per_req"):
            values = [r[key] for r in recs if r[key] is not None]
            chosen[key] = round(statistics.median(values), 3) if values else None
        ratios = [r["ratio_to_no_pool"] for r in recs if r["ratio_to_no_pool"] is not None]
        chosen["ratio_to_no_pool"] = round(statistics.median(ratios), 3) if ratios else None
        chosen["errors"] = sum(r["errors"] for r in recs)
        results.scaling.append(chosen)


class StatusSampler(threading.Thread):
    """Reads the adapter's per-node status file on a schedule: (time, node, usable, breaker)."""

    def __init__(self, path: Path, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.interval = interval
        self.samples: list[tuple[float, dict[str, tuple[bool, str, str]]]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        last: dict[str, Any] | None = None
        while not self.stop.wait(self.interval):
            try:
                body = json.loads(self.path.read_text())
            except (OSError, ValueError):
                continue
            if body == last:
                continue
            last = body
            self.samples.append((time.time(), {
                n["node"]: (bool(n["usable"]), str(n["breaker"]), str(n["health"]))
                for n in body.get("nodes", [])}))


def run_kill(procs: Processes, workdir: Path, d: Deployment, opts: Options,
             results: Results, run_id: str, log: Any) -> None:
    adapter, adapter_state = _start_adapter(procs, workdir, "adapter-kill", d, d.nodes,
                                            opts.balance)
    victim = d.nodes[-1]
    name, db, ports = victim.name, d.state / "core.db", dict(victim.ports)
    events: dict[str, float] = {}
    failures: list[str] = []

    def act(start_at: float) -> None:
        """Kill the node at kill_at and start it again at restart_at (a schedule)."""
        try:
            time.sleep(max(0.0, start_at + opts.kill_at - time.time()))
            victim.proc.send_signal(signal.SIGKILL)
            events["kill"] = time.time() - start_at
            victim.proc.wait(10)
            procs.servers.pop(name, None)
            time.sleep(max(0.0, start_at + opts.restart_at - time.time()))
            back = procs.start_core(name, db, d.state / "pki", soap_port=ports["soap"],
                                    iso_port=ports["iso"])
            d.nodes[-1] = back
            events["restart"] = time.time() - start_at
        except Exception as exc:  # reported in the results, never hidden
            failures.append(f"{type(exc).__name__}: {exc}")

    started: list[float] = []
    actor: list[threading.Thread] = []

    def on_start(start_at: float) -> None:
        started.append(start_at)
        thread = threading.Thread(target=act, args=(start_at,), daemon=True)
        actor.append(thread)
        thread.start()

    sampler = StatusSampler(adapter_state / STATUS_FILE)
    sampler.start()
    load = Load(connections=opts.load.connections, workers=opts.load.workers,
                duration=opts.kill_run, warmup=opts.load.warmup,
                max_requests=10**9, grpc_channels=opts.load.grpc_channels)
    m = measure(workdir, "kill", target_for("rest", adapter.ports, d.state / "pki"),
                request_for("rest", "transfer", echo=False), load, {"adapter": adapter.pid},
                run_id, timeline=True, on_start=on_start)
    for thread in actor:
        thread.join(60)
    sampler.stop.set()
    sampler.join(5)
    d.answered_booked += m.ok + m.warmup_ok
    d.errors += m.errors
    start_at = started[0] if started else 0.0
    seconds = int(opts.kill_run)  # whole seconds only: a last partial one would read as a dip
    ok_per_s = [0] * seconds
    err_per_s = [0] * seconds
    for t in m.ok_at:
        if t < seconds:
            ok_per_s[int(t)] += 1
    for t in m.error_at:
        if t < seconds:
            err_per_s[int(t)] += 1
    victim_name = f"127.0.0.1:{ports['soap']}:{ports['iso']}"
    usable_series = [(round(t - start_at, 2), s[victim_name][0]) for t, s in sampler.samples
                     if victim_name in s]
    kill_t = events.get("kill")
    restart_t = events.get("restart")
    unusable_at = next((t for t, u in usable_series if kill_t is not None and t >= kill_t
                        and not u), None)
    usable_again_at = next((t for t, u in usable_series if restart_t is not None
                            and t >= restart_t and u), None)
    before_kill = [ok_per_s[i] for i in range(1, int(kill_t or 0))]
    after_recovery = [ok_per_s[i] for i in range(int(restart_t or 0) + 3, seconds - 1)]
    between = [ok_per_s[i] for i in range(int(kill_t or 0) + 3, int(restart_t or 0))]
    results.kill = {
        "balance": opts.balance, "connections": opts.load.connections,
        "run_s": opts.kill_run, "kill_at_s": kill_t, "restart_at_s": restart_t,
        "victim_unusable_at_s": unusable_at, "victim_usable_again_at_s": usable_again_at,
        "ejected_after_s": round(unusable_at - kill_t, 2) if unusable_at and kill_t else None,
        "readmitted_after_s": (round(usable_again_at - restart_t, 2)
                               if usable_again_at and restart_t else None),
        "ok_per_s": ok_per_s, "errors_per_s": err_per_s,
        "median_ok_per_s_before_kill": statistics.median(before_kill) if before_kill else None,
        "median_ok_per_s_two_nodes": statistics.median(between) if between else None,
        "median_ok_per_s_after_restart": (statistics.median(after_recovery)
                                          if after_recovery else None),
        "errors": m.errors, "error_samples": m.error_samples, "ok": m.ok,
        "p99_ms": m.latency_ms.get("p99"), "victim_usable_series": usable_series,
        "failures": failures, "fatal": m.fatal,
    }
    results.checks.append({"part": "all", **_settled_check(d, lambda: procs.stop(adapter.name))})
    names = {_address(n): f"node{i + 1}" for i, n in enumerate(d.nodes)}
    per_node = _journal_per_node(adapter_state / "adapter.db", start_at, seconds, names)
    results.kill["booked_per_s_by_node"] = per_node
    victim_series = per_node[names[victim_name]]
    last_before = max((i for i, c in enumerate(victim_series)
                       if kill_t is not None and i <= kill_t and c), default=None)
    first_after = min((i for i, c in enumerate(victim_series)
                       if restart_t is not None and i >= restart_t and c), default=None)
    results.kill["victim_last_second_with_traffic"] = last_before
    results.kill["victim_first_second_with_traffic_after_restart"] = first_after
    log({k: v for k, v in results.kill.items() if k not in ("victim_usable_series",)})


def _journal_per_node(adapter_db: Path, start_at: float, seconds: int,
                      names: dict[str, str]) -> dict[str, list[int]]:
    """Booked payments per second per node, from the adapter's journal (each payment records
    the node it was sent to, and when it was created): which node carried the traffic."""
    from adapter.model import Payment, PaymentStatus

    series = {label: [0] * seconds for label in names.values()}
    con = sqlite3.connect(adapter_db)
    try:
        rows = con.execute("SELECT body FROM payments").fetchall()
    finally:
        con.close()
    for (body,) in rows:
        payment = Payment.model_validate_json(body)
        at = payment.created_at.timestamp() - start_at
        label = names.get(payment.core_node or "")
        if label is None or not 0 <= at < seconds or payment.status is not PaymentStatus.BOOKED:
            continue
        series[label][int(at)] += 1
    return series


def write_png(path: Path, results: Results) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = results.kill
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(13, 6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1]})
    xs = list(range(len(k["ok_per_s"])))
    top.plot(xs, k["ok_per_s"], marker=".", color="tab:blue", lw=2,
             label="transfers answered booked / s (clients)")
    for (node, series), colour in zip(sorted(k.get("booked_per_s_by_node", {}).items()),
                                      ("tab:cyan", "tab:olive", "tab:brown"), strict=False):
        top.plot(xs, series, lw=1, color=colour, label=f"booked via {node} / s (journal)")
    bottom.bar(xs, k["errors_per_s"], color="tab:red", label="errors / s")
    for ax in (top, bottom):
        for key, label, colour in (("kill_at_s", "SIGKILL node 3", "black"),
                                   ("victim_unusable_at_s", "node 3 unusable (status file)",
                                    "tab:orange"),
                                   ("restart_at_s", "node 3 restarted", "tab:green"),
                                   ("victim_usable_again_at_s", "node 3 usable again (status file)",
                                    "tab:purple")):
            if k.get(key) is not None:
                ax.axvline(k[key], ls="--", lw=1, color=colour,
                           label=label if ax is top else None)
    top.set_ylabel("booked per second")
    top.set_title(f"REST transfers via ISO 8583, 3 core nodes ({k['balance']}, "
                  f"{k['connections']} connections): node 3 killed, then restarted")
    top.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    bottom.set_ylabel("errors / s")
    bottom.set_xlabel("seconds since the measured window opened")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(results: Results) -> str:
    lines = [f"{'config':10} {'op':9} {'rps':>7} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7} "
             f"{'errors':>6} {'CPU ms/req adapter core':>24}  rounds (rps / p99 / ratio)"]
    for r in results.scaling:
        lines.append(f"{r['config']:10} {r['operation']:9} {r['rps']:>7.0f} "
                     f"{r['ratio_to_no_pool'] or 0:>6.2f} "
                     f"{r['p50_ms'] or 0:>7.1f} {r['p99_ms'] or 0:>7.1f} {r['errors']:>6} "
                     f"{r['adapter_cpu_ms_per_req'] or 0:>16.2f} "
                     f"{r['core_cpu_ms_per_req'] or 0:>7.2f}  "
                     f"{r['rps_rounds']} / {r['p99_rounds']} / {r['ratio_rounds']}")
    k = results.kill
    if k:
        lines.append(
            f"kill: node 3 SIGKILLed at {k['kill_at_s']} s, unusable at "
            f"{k['victim_unusable_at_s']} s (after {k['ejected_after_s']} s), restarted at "
            f"{k['restart_at_s']} s, usable again at {k['victim_usable_again_at_s']} s (after "
            f"{k['readmitted_after_s']} s); booked/s median before "
            f"{k['median_ok_per_s_before_kill']}, on two nodes "
            f"{k['median_ok_per_s_two_nodes']}, after the restart "
            f"{k['median_ok_per_s_after_restart']}; errors {k['errors']} "
            f"(per s: {k['errors_per_s']})")
        if k["failures"] or k["fatal"]:
            lines.append(f"kill FAILURES: {k['failures']} {k['fatal']}")
    for c in results.checks:
        lines.append(f"ledger check: {'OK' if c['ok'] else 'MISMATCH'}: {c}")
    for note in results.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def run(workdir: Path, opts: Options, log: Any, *, parts: tuple[str, ...]) -> Results:
    results = Results()
    pki_dir = workdir / "pki"
    pki.init(pki_dir)
    run_id = uuid.uuid4().hex[:8]
    with Processes(workdir) as procs:
        state, _ = _provision(workdir, pki_dir, "state-pool")
        db = state / "core.db"
        ledger_growth.grow(db, 0)  # schema and demo accounts once, before any node starts
        totals, booked = _ledger_state(db)
        nodes = [procs.start_core(f"node{i + 1}", db, state / "pki") for i in range(NODES)]
        d = Deployment(state, nodes, totals, booked)
        if "scaling" in parts:
            run_scaling(procs, workdir, d, opts, results, run_id, log)
        if "kill" in parts:
            run_kill(procs, workdir, d, opts, results, run_id, log)
        else:
            results.checks.append({"part": "all", **_settled_check(d, lambda: None)})
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.pool_nodes", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a smoke run: seconds, not figures")
    p.add_argument("--json", type=Path, help="write every figure to this JSON file")
    p.add_argument("--png", type=Path, help="write the kill time series to this PNG file")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--duration", type=float, default=8.0, help="seconds per scaling scenario")
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--operations", nargs="+", choices=["transfer", "balance"],
                   default=["transfer"], help="REST operations of the scaling part "
                   "(balance: an ISO 8583 balance inquiry, no ledger write)")
    p.add_argument("--kill-run", type=float, default=30.0)
    p.add_argument("--kill-at", type=float, default=8.0)
    p.add_argument("--restart-at", type=float, default=18.0)
    p.add_argument("--balance", default="round-robin",
                   choices=["round-robin", "least-outstanding", "weighted-round-robin"])
    p.add_argument("--parts", nargs="+", choices=["scaling", "kill"],
                   default=["scaling", "kill"])
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument("--replot", type=Path, metavar="JSON",
                   help="draw --png from the JSON of an earlier run; run nothing")
    args = p.parse_args(argv)
    if args.replot is not None:
        if args.png is None:
            p.error("--replot needs --png")
        write_png(args.png, Results(kill=json.loads(args.replot.read_text())["kill"]))
        return 0
    if args.quick:
        opts = Options(load=Load(connections=8, workers=1, duration=0.5, warmup=0.2),
                       rounds=1, operations=tuple(args.operations), kill_run=6.0,
                       kill_at=1.5, restart_at=3.5, balance=args.balance)
    else:
        opts = Options(load=Load(connections=args.connections, workers=args.workers,
                                 duration=args.duration, warmup=args.warmup),
                       rounds=args.rounds, operations=tuple(args.operations),
                       kill_run=args.kill_run, kill_at=args.kill_at,
                       restart_at=args.restart_at, balance=args.balance)
    workdir = Path(tempfile.mkdtemp(prefix="bank-adapter-pool-bench-"))
    began = time.monotonic()

    def log(item: dict[str, Any]) -> None:
        print(f"[{time.monotonic() - began:6.1f}s] {json.dumps(item, default=str)}",
              file=sys.stderr, flush=True)

    try:
        results = run(workdir, opts, log, parts=tuple(args.parts))
    finally:
        if args.keep:
            print(f"work folder kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(table(results))
    if args.json:
        body = {"machine": report.machine(), "options": {
            "load": dataclasses.asdict(opts.load),
            "rounds": opts.rounds, "operations": list(opts.operations),
            "kill_run": opts.kill_run, "kill_at": opts.kill_at, "restart_at": opts.restart_at,
            "balance": opts.balance},
            "scaling": results.scaling, "kill": results.kill, "checks": results.checks,
            "notes": results.notes, "elapsed_s": round(time.monotonic() - began, 1)}
        args.json.write_text(json.dumps(body, indent=1, default=str))
    if args.png and results.kill:
        write_png(args.png, results)
    failed = (any(not c["ok"] for c in results.checks)
              or bool(results.kill and (results.kill["failures"] or results.kill["fatal"])))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
