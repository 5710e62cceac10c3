"""core_sim as a child process (`python -m core_sim`, ports 0), so a test can stop it with
SIGSTOP and resume it with SIGCONT, and read its ledger file from outside."""

from __future__ import annotations

import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_READY = re.compile(r"^core_sim: SOAP (https://\S+/core/v1) .*ISO 8583 \S+:(\d+)")


@dataclass
class CoreProcess:
    proc: subprocess.Popen[str]
    soap_url: str
    iso_port: int
    db_path: Path
    output: deque[str] = field(default_factory=lambda: deque(maxlen=200))

    def stop(self) -> None:
        """SIGSTOP: the process keeps its sockets (the kernel still accepts and acknowledges)
        but answers nothing."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def balances(self, *accounts: str) -> dict[str, int]:
        """Booked minor units, read from the ledger file (works while the core is stopped)."""
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        try:
            rows = db.execute(
                f"SELECT id, balance_minor FROM accounts WHERE id IN "
                f"({', '.join('?' * len(accounts))})", accounts).fetchall()
            return {a: int(b) for a, b in rows}
        finally:
            db.close()

    def postings(self) -> int:
        db = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        try:
            return int(db.execute("SELECT COUNT(*) FROM postings").fetchone()[0])
        finally:
            db.close()


@contextmanager
def core_process(pki_dir: Path, db_path: Path) -> Iterator[CoreProcess]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "core_sim", "--db", str(db_path), "--pki-dir", str(pki_dir),
         "--soap-port", "0", "--iso-port", "0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    lines: queue.Queue[str | None] = queue.Queue()
    output: deque[str] = deque(maxlen=200)

    def drain() -> None:  # the core must never block on a full pipe
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, name="core-output", daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        while True:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line is None:
                raise RuntimeError("core_sim exited before it was ready:\n" + "".join(output))
            found = _READY.match(line)
            if found:
                break
        core = CoreProcess(proc, found.group(1), int(found.group(2)), db_path, output)
        yield core
    finally:
        os.kill(proc.pid, signal.SIGCONT)  # a stopped process cannot handle SIGTERM
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
