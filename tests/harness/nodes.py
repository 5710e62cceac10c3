"""Several real core_sim node processes on one ledger file, for pool tests and benchmarks.

Each node is `python -m core_sim` (its own SOAP and ISO 8583 listeners on port 0, mutual
TLS), so a test can SIGKILL, SIGSTOP and SIGCONT one node and set its faults at run time
through its `PUT /admin/faults` endpoint.

`freeze` (SIGSTOP) has one honest limitation: all nodes share one SQLite ledger, and a node
frozen inside a write transaction would hold the ledger's write lock and stall every node
(that is SQLite's one-writer rule, not the adapter's doing). `freeze` therefore stops the
node while this process holds the write lock, so the node cannot be inside a write.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from adapter.infra.tls import TlsFiles, client_context
from adapter.infra.trust_domains import CORE_OPERATOR
from core_sim.ledger import Ledger

READY = re.compile(r"^core_sim: SOAP https://[^:/]+:(\d+)/core/v1 .*ISO 8583 \S+:(\d+)")
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class NodeProcess:
    name: str
    proc: subprocess.Popen[str]
    soap_port: int
    iso_port: int
    pki_dir: Path
    output: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def address(self) -> str:
        """As `--core-nodes` takes it."""
        return f"127.0.0.1:{self.soap_port}:{self.iso_port}"

    @property
    def node_name(self) -> str:
        """As the pool names it."""
        return self.address

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def cont(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def faults(self, **changes: Any) -> dict[str, Any]:
        """PUT the changes to this node's /admin/faults; returns its settings after."""
        operator = TlsFiles.from_dir(self.pki_dir, CORE_OPERATOR)  # the switches' identity
        ctx = client_context(operator, operator.ca)
        request = urllib.request.Request(
            f"https://localhost:{self.soap_port}/admin/faults", method="PUT",
            data=json.dumps(changes).encode(), headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, context=ctx, timeout=10) as reply:
            result: dict[str, Any] = json.loads(reply.read())
        return result


@dataclass
class CoreNodes:
    nodes: list[NodeProcess]
    db_path: Path
    ledger: Ledger

    def freeze(self, node: NodeProcess, *, lock_timeout: float = 10.0) -> None:
        """SIGSTOP `node` at a moment it holds no ledger lock (see the module docstring).

        This process takes the ledger's write lock first (SQLite's busy handler waits for a
        writer to commit), stops the node while holding it, then lets it go: a node stopped
        while this process held the write lock cannot be inside a write transaction, and in
        WAL mode a reader it may have open blocks no writer."""
        probe = sqlite3.connect(self.db_path, timeout=lock_timeout, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            try:
                os.kill(node.pid, signal.SIGSTOP)
            finally:
                probe.execute("ROLLBACK")
        finally:
            probe.close()


def _start(db: Path, pki_dir: Path, name: str) -> NodeProcess:
    cmd = [sys.executable, "-m", "core_sim", "--db", str(db), "--pki-dir", str(pki_dir),
           "--soap-port", "0", "--iso-port", "0", "--node-name", name]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            bufsize=1, env=env, cwd=ROOT)
    assert proc.stdout is not None
    ready: queue.Queue[re.Match[str] | None] = queue.Queue()
    lines: list[str] = []

    def pump(stream: IO[str]) -> None:
        for line in stream:
            lines.append(line)
            match = READY.match(line)
            if match:
                ready.put(match)
        ready.put(None)

    threading.Thread(target=pump, args=(proc.stdout,), daemon=True).start()
    try:
        match = ready.get(timeout=60)
    except queue.Empty:
        proc.kill()
        raise AssertionError(f"core_sim {name} did not start") from None
    if match is None:
        raise AssertionError(f"core_sim {name} exited: {proc.wait()} {lines[-5:]}")
    return NodeProcess(name, proc, int(match.group(1)), int(match.group(2)), pki_dir, lines)


@contextmanager
def core_nodes(pki_dir: Path, db_path: Path, count: int = 3) -> Iterator[CoreNodes]:
    """`count` node processes on one seeded ledger at `db_path` (seeded here, first)."""
    ledger = Ledger(db_path)
    ledger.seed_demo()
    started: list[NodeProcess] = []
    try:
        for i in range(count):
            started.append(_start(db_path, pki_dir, f"node{i + 1}"))
        yield CoreNodes(started, db_path, ledger)
    finally:
        for node in started:
            if node.proc.poll() is None:
                os.kill(node.pid, signal.SIGCONT)
                node.proc.send_signal(signal.SIGTERM)
        for node in started:
            try:
                node.proc.wait(15)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(5)
        ledger.close()
