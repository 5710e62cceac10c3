"""`bank-adapter up` (and `core-sim`) as real child processes for the start-up tests: their
output as line queues, and the checks a stopped process tree must pass (no process left that
names the test's state folder, every port it had free again)."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

PAUSED = re.compile(
    r"^bank-adapter up: paused at (\S+) \(core pid (\d+|none), ports ([\d ]+|none)\)")


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any BANK_ADAPTER_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANK_ADAPTER_")}
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `bank-adapter ARGS` to its end and return its exit code and output."""
    return subprocess.run([sys.executable, "-m", "adapter.cli", *args], capture_output=True,
                          text=True, env=env or clean_env(), timeout=timeout, check=False)


def free_port_args() -> list[str]:
    return ["--http-port", "0", "--grpc-port", "0", "--core-soap-port", "0",
            "--core-iso-port", "0"]


class UpProcess:
    """A running `bank-adapter up`, its stdout and stderr pumped into queues of lines."""

    def __init__(self, state: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.state = state
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "adapter.cli", "up", "--state-dir", str(state), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env or clean_env(), start_new_session=True)
        self.stdout: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        self._stderr_grew = threading.Condition()  # notified at each stderr line
        self.seen: list[str] = []
        threading.Thread(target=self._pump_stdout, daemon=True).start()
        self._stderr_done = threading.Thread(target=self._pump_stderr, daemon=True)
        self._stderr_done.start()

    def _pump_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout.put(line)
        self.stdout.put(None)

    def _pump_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._stderr_grew:
                self.stderr.append(line)
                self._stderr_grew.notify_all()

    def wait_stderr(self, text: str, *, count: int, limit: float = 15) -> bool:
        """Block until `text` appeared on `count` stderr lines (woken by each line the pump
        reads); False if not within `limit` seconds."""
        with self._stderr_grew:
            return self._stderr_grew.wait_for(
                lambda: sum(text in line for line in self.stderr) >= count, limit)

    def wait_for(self, wanted: Callable[[str], bool], limit: float = 90) -> str:
        """The first stdout line `wanted` accepts; fails if the process ends first."""
        while True:
            line = self.stdout.get(timeout=limit)
            assert line is not None, ("bank-adapter up ended early:\n" + "".join(self.seen)
                                      + "".join(self.stderr))
            self.seen.append(line)
            if wanted(line):
                return line

    def signal(self, sig: int, *, group: bool = False) -> None:
        if group:  # what a terminal's Ctrl-C does: the signal reaches every process at once
            os.killpg(self.proc.pid, sig)
        else:
            self.proc.send_signal(sig)

    def wait(self, limit: float = 60) -> int:
        code = self.proc.wait(limit)
        self._stderr_done.join(limit)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


def processes_naming(text: str) -> list[str]:
    """Command lines of live processes that contain `text` (a test's state folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_server((host, port)):
            return True
    except OSError:
        return False


def listening_socket() -> socket.socket:
    """A port held open for the length of a test, so that binding it fails."""
    return socket.create_server(("127.0.0.1", 0))
