"""Several core_sim nodes on one ledger: `core-sim --nodes N` runs N node processes.

Owns starting the node processes, relaying their output, and stopping them together. Each
node is an ordinary core_sim process (its own SOAP and ISO 8583 listeners, its own fault
switches at `PUT /admin/faults` on its SOAP port) on the same SQLite ledger file.

Invariants:
- Rule 1: the ledger is created and seeded once, by this process, before any node starts, so
  nodes never race to create the schema.
- Rule 2: one ledger, at-most-once booking per reference across all nodes: each posting is
  one `BEGIN IMMEDIATE` transaction (`core_sim.ledger` Rule 2), which SQLite serialises
  across processes; a reference booked by one node is a replay or a refusal at every other.
- Rule 3: node i listens on `soap_port + i` and `iso_port + i` (every node on port 0 when 0
  is asked for: each reports the ports it bound in its ready line).
- Rule 4: SIGINT/SIGTERM stops every node; if one node exits, the others are stopped too and
  the exit code is that node's. SIGHUP is passed on to every node (each reloads its PKI files).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import IO

from core_sim.ledger import Ledger

MAX_NODES = 16


def node_command(db: Path, pki_dir: Path, host: str, soap_port: int, iso_port: int,
                 name: str, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "core_sim", "--db", str(db), "--pki-dir", str(pki_dir),
            "--host", host, "--soap-port", str(soap_port), "--iso-port", str(iso_port),
            "--node-name", name, *extra]


def run_nodes(count: int, db: Path, pki_dir: Path, host: str, soap_port: int, iso_port: int,
              extra: list[str]) -> int:
    """Run `count` nodes until a signal or until one exits; returns the exit code."""
    ledger = Ledger(db)  # Rule 1
    ledger.seed_demo()
    ledger.close()
    procs: list[subprocess.Popen[str]] = []
    stopped = threading.Event()

    def stop(_sig: int, _frame: FrameType | None) -> None:
        stopped.set()

    def reload(_sig: int, _frame: FrameType | None) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGHUP)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, reload)
    try:
        for i in range(count):
            port_s = soap_port + i if soap_port else 0  # Rule 3
            port_i = iso_port + i if iso_port else 0
            proc = subprocess.Popen(
                node_command(db, pki_dir, host, port_s, port_i, f"node{i + 1}", extra),
                stdout=subprocess.PIPE, text=True, bufsize=1)
            procs.append(proc)
            assert proc.stdout is not None
            threading.Thread(target=_relay, args=(proc.stdout,), daemon=True).start()
        code = 0
        while not stopped.is_set():
            for proc in procs:
                if proc.poll() is not None:  # Rule 4
                    code = proc.returncode
                    stopped.set()
            stopped.wait(0.2)  # a supervisor's schedule: it reacts to a signal at once
        return code
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _relay(stream: IO[str]) -> None:
    for line in stream:
        sys.stdout.write(line)
        sys.stdout.flush()
