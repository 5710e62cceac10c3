"""The benchmark's outputs: a table on stdout, the JSON file, the PNG chart, the machine.

The JSON file is one object: `machine`, `settings`, `scenarios` (one record per scenario, each
with at least protocol, connector, operation, rps, p50_ms, p95_ms, p99_ms, ratio_to_echo),
`checks` (ledger verification per deployment), `scale`, `memory`, `notes`.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from bench.scenarios import Results


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    return {"nproc": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "kernel": platform.release(), "loadavg_at_end": [round(x, 2) for x in load]}


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    return format(value, spec)


def table(results: Results) -> str:
    head = (f"{'protocol':8} {'connector':9} {'operation':9} {'rps':>8} {'ratio':>6} "
            f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors':>6} "
            f"{'server CPU %':>22} {'client CPU %':>12} {'peak RSS MB':>18}")
    lines = [head, "-" * len(head)]
    for r in results.scenarios:
        cpu = " ".join(f"{k[:4]} {v:.0f}" for k, v in r["cpu_pct"].items())
        rss = " ".join(f"{k[:4]} {v:.0f}" for k, v in r["peak_rss_mb"].items())
        lines.append(
            f"{r['protocol']:8} {r['connector']:9} {r['operation']:9} {r['rps']:>8.0f} "
            f"{_fmt(r.get('ratio_to_echo'), '.2f'):>6} {_fmt(r['p50_ms'], '.2f'):>7} "
            f"{_fmt(r['p95_ms'], '.2f'):>7} {_fmt(r['p99_ms'], '.2f'):>7} {r['errors']:>6} "
            f"{cpu:>22} {r['client_cpu_pct']:>12.0f} {rss:>18}")
    out = ["\n".join(lines)]
    for c in results.checks:
        verdict = "OK" if c["totals_unchanged"] and c["postings_match"] else "MISMATCH"
        out.append(
            f"ledger check ({c['connector']} connector): {verdict}: totals per currency "
            f"{'unchanged' if c['totals_unchanged'] else 'CHANGED'}, "
            f"{c['postings_booked']} postings booked for {c['transfers_answered_booked']} "
            f"transfers answered as booked ({c['transfer_errors']} transfer errors)")
    if results.scale:
        out.append("\nledger scale (REST, "
                   f"{results.scale[0]['connector']} connector; p50/p99 ms end to end | "
                   "direct ledger call p50/p99 ms)")
        for row in results.scale:
            parts = []
            for op, direct in (("balance", "balance"), ("history", "history_page"),
                               ("transfer", "transfer")):
                e = row[op]
                d = row["direct_ledger_ms"][direct]
                parts.append(f"{op} {_fmt(e.get('p50_ms'), '.2f')}/{_fmt(e.get('p99_ms'), '.2f')}"
                             f" | {d['p50']:.3f}/{d['p99']:.3f}")
            out.append(f"  {row['entries']:>9} entries ({row['db_mb']} MB): " + "; ".join(parts))
    if results.memory:
        m = results.memory
        out.append(f"\nmemory over {m['seconds']:.0f} s ({', '.join(m['protocols'])} transfers "
                   f"at once, {m['connector']} connector; requests {m['requests']}, "
                   f"errors {m['errors']})")
        for name, p in m["processes"].items():
            out.append(f"  {name:8} start {p['start_mb']} MB, end {p['end_mb']} MB, peak "
                       f"{p['peak_mb']} MB, second-half slope "
                       f"{p['second_half_slope_mb_per_min']} MB/min")
    errors = [r for r in results.scenarios if r["errors"] or r["fatal"]]
    for r in errors:
        out.append(f"ERRORS in {r['protocol']}/{r['connector']}/{r['operation']}: "
                   f"{r['errors']} errors, samples {r['error_samples']}, fatal {r['fatal']}")
    if results.workers:
        from bench.workers_bench import table as workers_table

        out.append(workers_table(results.workers))
    for note in results.notes:
        out.append(f"note: {note}")
    return "\n".join(out)


def write_json(path: Path, results: Results, settings: dict[str, Any]) -> None:
    body = {"machine": machine(), "settings": settings, "scenarios": results.scenarios,
            "checks": results.checks, "scale": results.scale, "memory": results.memory,
            "workers": results.workers, "notes": results.notes}
    path.write_text(json.dumps(body, indent=1))


def write_png(path: Path, results: Results) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    e2e = [r for r in results.scenarios if r["connector"] != "echo"]
    panels = 2 + (1 if results.scale else 0)
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 5))
    labels = [f"{r['protocol']} {r['operation']}\n{r['connector']}" for r in e2e]
    ax = axes[0]
    ax.bar(range(len(e2e)), [r.get("ratio_to_echo") or 0 for r in e2e], color="tab:blue")
    ax.set_xticks(range(len(e2e)), labels, fontsize=7, rotation=60, ha="right")
    ax.set_ylabel("throughput / bare echo of the same protocol")
    ax.set_title("ratio to bare echo (same run)")
    for goal, proto in ((0.25, "REST via ISO"), (0.5, "gRPC"), (0.6, "SOAP")):
        ax.axhline(goal, ls="--", lw=0.8, color="grey")
        ax.text(len(e2e) - 0.5, goal, f"goal {proto} {goal}", fontsize=7, ha="right",
                va="bottom")
    ax = axes[1]
    ax.bar(range(len(e2e)), [r["p99_ms"] or 0 for r in e2e], color="tab:red", label="p99")
    ax.bar(range(len(e2e)), [r["p50_ms"] or 0 for r in e2e], color="tab:orange", label="p50")
    ax.axhline(25, ls="--", lw=0.8, color="grey")
    ax.set_xticks(range(len(e2e)), labels, fontsize=7, rotation=60, ha="right")
    ax.set_ylabel("ms")
    ax.set_title(f"latency at {e2e[0]['connections'] if e2e else '?'} connections")
    ax.legend()
    if results.scale:
        ax = axes[2]
        sizes = [row["entries"] for row in results.scale]
        for op in ("balance", "history", "transfer"):
            ax.plot(sizes, [row[op].get("p50_ms") or 0 for row in results.scale], marker="o",
                    label=f"{op} p50")
            ax.plot(sizes, [row[op].get("p99_ms") or 0 for row in results.scale], marker="x",
                    ls=":", label=f"{op} p99")
        ax.set_xscale("log")
        ax.set_xlabel("ledger entries")
        ax.set_ylabel("ms (REST, end to end)")
        ax.set_title("latency as the ledger grows")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
