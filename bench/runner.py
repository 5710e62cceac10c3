"""Starting the processes of a run and measuring one scenario against them.

A scenario is: a target (a bare echo, or the adapter with one connector in front of core_sim),
a protocol, an operation. `measure()` runs the load workers (`bench.loadgen`) against the target
and reads the servers' CPU and peak memory from /proc over the same window.

Invariants:
- Rule 1: every process is real and separate: core_sim (`python -m core_sim`), the adapter
  (`python -m bench.servers adapter`, as `bank-adapter up --no-core`), each echo server, and
  each load worker; every hop is mutual TLS with the dev PKI of the run.
- Rule 2: a process that is started is stopped (SIGTERM, then SIGKILL after a grace period),
  also when the benchmark fails half-way: `Processes` is a context manager.
- Rule 3: a scenario's servers' CPU is read at the common start time of the workers and when the
  measured window ends, and their peak RSS is reset (clear_refs) before the warm-up, so each
  figure belongs to that scenario alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench import procstats

REPO = Path(__file__).resolve().parents[1]
CORE_LINE = re.compile(rb"core_sim: SOAP https://[^:]+:(\d+)/.*ISO 8583 [^:]+:(\d+)")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # bench/ is not an installed package: run from the repository root.
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH")
                                     else "")
    env.setdefault("PYTHONHASHSEED", "0")
    return env


def _read_line(stream: IO[bytes], pattern: re.Pattern[bytes], proc: subprocess.Popen[bytes],
               timeout: float, what: str) -> re.Match[bytes]:
    """The first stdout line matching `pattern`, within `timeout` (start-up wait)."""
    deadline = time.monotonic() + timeout
    fd = stream.fileno()
    buf = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError(f"{what} did not start within {timeout:.0f}s")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            raise RuntimeError(f"{what} exited during start-up (code {proc.wait()})")
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            match = pattern.search(line)
            if match:
                return match


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    ports: dict[str, int]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


@dataclass
class Processes:
    """The servers of a run; stops them all on exit (Rule 2)."""

    workdir: Path
    servers: dict[str, Server] = field(default_factory=dict)
    # name -> command run in front of the interpreter (a profiler such as valgrind), and the
    # start-up wait such a server needs (valgrind slows start-up by ~50x).
    wrap: dict[str, list[str]] = field(default_factory=dict)
    wrapped_start_timeout: float = 600.0

    def start(self, name: str, args: list[str], ready: re.Pattern[bytes],
              timeout: float = 60) -> tuple[Server, re.Match[bytes]]:
        log = self.workdir / f"{name}.log"
        prefix = next((cmd for key, cmd in self.wrap.items() if name.startswith(key)), [])
        if prefix:
            timeout = max(timeout, self.wrapped_start_timeout)
        with open(log, "wb") as err:
            proc = subprocess.Popen([*prefix, sys.executable, *args], cwd=REPO, env=_env(),
                                    stdout=subprocess.PIPE, stderr=err)
        server = Server(name, proc, {}, log)
        self.servers[name] = server
        assert proc.stdout is not None
        try:
            match = _read_line(proc.stdout, ready, proc, timeout, name)
        except RuntimeError as exc:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{exc}\n--- {log} ---\n{tail}") from None
        return server, match

    def start_server(self, name: str, kind: str, *extra: str) -> Server:
        server, match = self.start(name, ["-m", "bench.servers", kind, *extra],
                                   re.compile(rb"^READY (\{.*\})"))
        server.ports = json.loads(match.group(1))
        return server

    def start_core(self, name: str, db: Path, pki_dir: Path, *, soap_port: int = 0,
                   iso_port: int = 0) -> Server:
        """One core_sim process; several may share `db` (nodes on one ledger, seeded first)."""
        server, match = self.start(name, [
            "-m", "core_sim", "--db", str(db), "--pki-dir", str(pki_dir), "--host", "127.0.0.1",
            "--soap-port", str(soap_port), "--iso-port", str(iso_port)], CORE_LINE)
        server.ports = {"soap": int(match.group(1)), "iso": int(match.group(2))}
        return server

    def stop(self, name: str) -> int | None:
        server = self.servers.pop(name, None)
        if server is None:
            return None
        proc = server.proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode

    def stop_all(self) -> None:
        for name in list(self.servers)[::-1]:
            self.stop(name)

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


@dataclass(frozen=True)
class Load:
    connections: int = 32
    workers: int = 2
    duration: float = 10.0
    warmup: float = 2.0
    max_requests: int = 1_000_000
    grpc_channels: int = 4


@dataclass
class Measured:
    ok: int
    errors: int
    error_samples: list[str]
    warmup_ok: int
    window_s: float
    rps: float
    latency_ms: dict[str, float]
    server_cpu_s: dict[str, float]
    server_cpu_window_s: float
    server_peak_rss_mb: dict[str, float]
    client_cpu_s: float
    client_workers: int
    fatal: list[str]
    # Completion times (s since the common start) of measured requests, when the request
    # asked for a timeline; not part of `as_record` (they are long).
    ok_at: list[float] = field(default_factory=list)
    error_at: list[float] = field(default_factory=list)

    def as_record(self) -> dict[str, Any]:
        lat = self.latency_ms
        window = self.window_s or 1.0
        return {
            "rps": round(self.rps, 1),
            "p50_ms": lat.get("p50"), "p95_ms": lat.get("p95"), "p99_ms": lat.get("p99"),
            "max_ms": lat.get("max"), "mean_ms": lat.get("mean"),
            "ok": self.ok, "errors": self.errors, "error_samples": self.error_samples,
            "warmup_ok": self.warmup_ok, "window_s": round(self.window_s, 3),
            "cpu_s": {k: round(v, 3) for k, v in self.server_cpu_s.items()},
            "cpu_pct": {k: round(100 * v / (self.server_cpu_window_s or window), 1)
                        for k, v in self.server_cpu_s.items()},
            "peak_rss_mb": {k: round(v, 1) for k, v in self.server_peak_rss_mb.items()},
            "client_cpu_s": round(self.client_cpu_s, 3),
            "client_cpu_pct": round(100 * self.client_cpu_s / window, 1),
            "client_workers": self.client_workers,
            "fatal": self.fatal,
        }


def percentiles(values: list[float]) -> dict[str, float]:
    """Nearest-rank percentiles (no interpolation: every figure is a latency that happened)."""
    if not values:
        return {}
    data = sorted(values)
    n = len(data)

    def rank(p: float) -> float:
        return round(data[min(n - 1, max(0, int(-(-p * n // 100)) - 1))], 3)

    return {"p50": rank(50), "p95": rank(95), "p99": rank(99), "max": round(data[-1], 3),
            "mean": round(statistics.fmean(data), 3)}


def measure(workdir: Path, name: str, target: dict[str, Any], request: dict[str, Any],
            load: Load, servers: dict[str, int], run_id: str, *, timeline: bool = False,
            on_start: Callable[[float], None] | None = None) -> Measured:
    """Run the load workers against `target` and measure `servers` (name -> pid).

    `timeline`: keep every measured completion's time (`Measured.ok_at`, `error_at`).
    `on_start(start_at)`: told the common wall-clock start of the measured window as soon as
    it is fixed (a scenario that acts during the window, e.g. kills a node, times it)."""
    # Idempotency keys and WS-Security nonces derive from this id: fresh per measurement, so
    # no scenario or round replays another's (the adapter would answer a replay, not book).
    run_id = f"{run_id}{uuid.uuid4().hex[:6]}"
    specs = []
    per_worker_conns = _split(load.connections, load.workers)
    per_worker_max = _split(load.max_requests, load.workers)
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    for worker, conns in enumerate(per_worker_conns):
        if conns == 0:
            continue
        spec = {
            **target, "request": request, "connections": conns, "worker_id": worker,
            "run_id": run_id, "duration": load.duration, "channels": load.grpc_channels,
            "max_requests": per_worker_max[worker], "timeline": timeline,
        }
        spec_path = workdir / f"{name}-w{worker}.spec.json"
        out_path = workdir / f"{name}-w{worker}.result.json"
        spec_path.write_text(json.dumps(spec))
        specs.append(spec)
        proc = subprocess.Popen([sys.executable, "-m", "bench.loadgen", str(spec_path),
                                 str(out_path)], cwd=REPO, env=_env(),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        procs.append((proc, out_path))
    try:
        for proc, out_path in procs:
            assert proc.stdout is not None
            try:
                _read_line(proc.stdout, re.compile(rb"^READY"), proc, 60,
                           f"load worker of {name}")
            except RuntimeError as exc:
                detail = out_path.read_text() if out_path.exists() else ""
                raise RuntimeError(f"{exc}: {detail[:2000]}") from None
        for pid in servers.values():
            procstats.reset_peak_rss(pid)
        start_at = time.time() + load.warmup
        if on_start is not None:
            on_start(start_at)
        for proc, _ in procs:
            assert proc.stdin is not None
            proc.stdin.write(f"{start_at!r}\n".encode())
            proc.stdin.flush()
        cpu = procstats.CpuWindow(servers)
        # Scheduling the CPU reading at the start of the window, not a synchronisation.
        time.sleep(max(0.0, start_at - time.time()))
        cpu.start()
        end_at = start_at + load.duration
        for proc, _ in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.0, end_at - time.time()))
        cpu.stop()
        for proc, _ in procs:
            proc.wait(load.duration + 120)
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
    results = []
    fatal = []
    for proc, out_path in procs:
        try:
            result = json.loads(out_path.read_text())
        except (OSError, ValueError):
            fatal.append(f"worker pid {proc.pid} left no result (exit {proc.returncode})")
            continue
        if "fatal" in result:
            fatal.append(str(result["fatal"]))
            continue
        results.append(result)
    latencies: list[float] = []
    for r in results:
        latencies.extend(r["latencies_ms"])
    ok = sum(r["ok"] for r in results)
    window = max((r["window_s"] for r in results), default=0.0)
    samples: list[str] = []
    for r in results:
        samples.extend(r["error_samples"])
    return Measured(
        ok=ok, errors=sum(r["errors"] for r in results), error_samples=samples[:5],
        warmup_ok=sum(r["warmup_ok"] for r in results), window_s=window,
        rps=ok / window if window > 0 else 0.0, latency_ms=percentiles(latencies),
        server_cpu_s=cpu.used, server_cpu_window_s=cpu.elapsed,
        server_peak_rss_mb={n: v for n, p in servers.items()
                            if (v := procstats.peak_rss_mb(p)) is not None},
        client_cpu_s=sum(r["cpu_s"] or 0.0 for r in results), client_workers=len(results),
        fatal=fatal,
        ok_at=sorted(t for r in results for t in r.get("ok_at", [])),
        error_at=sorted(t for r in results for t in r.get("error_at", [])),
    )


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]
