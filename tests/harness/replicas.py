"""Adapter replicas as real processes behind a real HAProxy, for the scale-out tests.

`AdapterProcess` is one `bank-adapter up --no-core` on fixed ports (chosen free before it
starts, so a restarted replica comes back where HAProxy expects it), with its own state folder
holding a copy of the test PKI. `Haproxy` runs the distribution's haproxy binary on
`deploy/haproxy.cfg` itself, its site values given as environment variables, and waits on its
runtime API until it reports the wanted servers UP or DOWN. Without a haproxy binary the tests
skip, saying how to enable them, except under CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from adapter.provision import provision
from adapter.security import pki

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_CFG = ROOT / "deploy" / "haproxy.cfg"


def haproxy_binary() -> str:
    found = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if Path(p).exists()), None)
    if found is None:
        message = "haproxy is not installed: apt-get install -y haproxy"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def free_ports(n: int) -> list[int]:
    """n distinct ports free now (held together while picked, then released)."""
    socks = [socket.create_server(("127.0.0.1", 0)) for _ in range(n)]
    try:
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Lines:
    """A process's stdout as a queue of lines, pumped by a thread."""

    def __init__(self, stream) -> None:  # type: ignore[no-untyped-def]
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            self.queue.put(line)
        self.queue.put(None)

    def wait_for(self, wanted: Callable[[str], bool], limit: float) -> str:
        deadline = time.monotonic() + limit
        while True:
            line = self.queue.get(timeout=max(0.01, deadline - time.monotonic()))
            if line is None:
                raise AssertionError("the process ended early:\n" + "".join(self.seen[-40:]))
            self.seen.append(line)
            if wanted(line):
                return line


class StateTemplate:
    """One provisioned state folder (PKI copy, clients file, WS-Security secrets) that every
    replica's folder is copied from, as an operator copies them to each host."""

    def __init__(self, root: Path, pki_dir: Path) -> None:
        self.path = root / "template"
        shutil.copytree(pki_dir, self.path / "pki")
        self.legacy_password = provision(self.path).legacy_password
        self.check_pem = haproxy_client_pem(self.path / "pki", root)

    @property
    def pki(self) -> Path:
        return self.path / "pki"


class AdapterProcess:
    """One replica: `bank-adapter up --no-core` with its own state folder, on fixed ports."""

    def __init__(self, name: str, template: StateTemplate, *, core_host: str,
                 core_soap_port: int, core_iso_port: int | None, extra: list[str]) -> None:
        self.name = name
        self.state = template.path.parent / name
        # Replicas of one deployment share PKI, clients file and secrets: a copy of one folder.
        shutil.copytree(template.path, self.state)
        self.legacy_password = template.legacy_password
        self.http_port, self.grpc_port, self.health_port = free_ports(3)
        self.args = [
            "--state-dir", str(self.state), "--no-core", "--log-level", "warning",
            "--host", "127.0.0.1", "--http-port", str(self.http_port),
            "--grpc-port", str(self.grpc_port), "--health-port", str(self.health_port),
            "--core-host", core_host, "--core-soap-port", str(core_soap_port),
            *(["--core-iso-port", str(core_iso_port)] if core_iso_port else []),
            *extra,
        ]
        self.proc: subprocess.Popen[str] | None = None
        self.stderr_path = self.state / "stderr.log"

    def start(self, limit: float = 60) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BANK_ADAPTER_")}
        with self.stderr_path.open("a") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "adapter.cli", "up", *self.args], stdout=subprocess.PIPE,
                stderr=stderr, text=True, env=env, start_new_session=True, cwd=ROOT)
        assert self.proc.stdout is not None
        self.lines = Lines(self.proc.stdout)
        try:
            self.lines.wait_for(lambda line: line.startswith("bank-adapter is up"), limit)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.stderr_path.read_text()[-3000:]}") from None

    def run_to_end(self, limit: float = 60) -> subprocess.CompletedProcess[str]:
        """Run `up` with this replica's arguments until it exits by itself (a refusal)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("BANK_ADAPTER_")}
        return subprocess.run([sys.executable, "-m", "adapter.cli", "up", *self.args],
                              capture_output=True, text=True, env=env, cwd=ROOT,
                              timeout=limit, check=False)

    def kill(self) -> None:
        """SIGKILL: no stop path runs (what a crash or an OOM kill does)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        finally:
            self.kill()


class Haproxy:
    """haproxy -db on deploy/haproxy.cfg, two replicas behind it."""

    def __init__(self, folder: Path, replicas: list[AdapterProcess], check_pem: Path,
                 ca: Path) -> None:
        self.binary = haproxy_binary()
        self.https_port, self.grpc_port = free_ports(2)
        self.socket = folder / "haproxy.sock"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "LB_HTTPS_BIND": f"127.0.0.1:{self.https_port}",
            "LB_GRPC_BIND": f"127.0.0.1:{self.grpc_port}",
            "LB_STATS_SOCKET": str(self.socket),
            "LB_CHECK_CERT": str(check_pem), "LB_CA": str(ca),
        }
        for i, replica in enumerate(replicas, start=1):
            self.env.update({
                f"ADAPTER{i}_HTTPS": f"127.0.0.1:{replica.http_port}",
                f"ADAPTER{i}_GRPC": f"127.0.0.1:{replica.grpc_port}",
                f"ADAPTER{i}_HEALTH_HOST": "127.0.0.1",
                f"ADAPTER{i}_HEALTH_PORT": str(replica.health_port),
            })
        self.log = folder / "haproxy.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def check_config(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.binary, "-c", "-f", str(HAPROXY_CFG)], env=self.env,
                              capture_output=True, text=True, timeout=30, check=False)

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([self.binary, "-db", "-f", str(HAPROXY_CFG)],
                                         env=self.env, stdout=log, stderr=log)

    def command(self, text: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket))
            sock.sendall(text.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def states(self) -> dict[tuple[str, str], str]:
        """(backend, server) -> UP / DOWN / ... from `show stat`."""
        out: dict[tuple[str, str], str] = {}
        lines = self.command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        status = header.index("status")
        for line in lines[1:]:
            cells = line.split(",")
            if len(cells) > status and cells[1] not in ("FRONTEND", "BACKEND"):
                out[(cells[0], cells[1])] = cells[status].split(" ")[0]
        return out

    def wait_states(self, wanted: dict[tuple[str, str], str], limit: float = 30) -> None:
        """Return once every named server has its wanted state: HAProxy's checks run on their
        own clock (every second), so this asks its runtime API until then, or fails."""
        deadline = time.monotonic() + limit
        seen: dict[tuple[str, str], str] = {}
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            if self.socket.exists():
                try:
                    seen = self.states()
                except OSError:
                    seen = {}
                if all(seen.get(k) == v for k, v in wanted.items()):
                    return
            time.sleep(0.05)  # a polling interval for an external process's state
        raise AssertionError(f"haproxy servers {seen}, wanted {wanted}\n"
                             f"{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def haproxy_client_pem(pki_dir: Path, folder: Path) -> Path:
    """HAProxy's check certificate, issued from the adapter's CA, as one PEM (cert + key)."""
    item = pki.issue(pki_dir, "haproxy")
    pem = folder / "haproxy-check.pem"
    pem.write_bytes(Path(item.cert).read_bytes() + Path(item.key).read_bytes())
    pem.chmod(0o600)
    return pem


@contextmanager
def running(*replicas: AdapterProcess) -> Iterator[None]:
    try:
        for r in replicas:
            r.start()
        yield
    finally:
        for r in replicas:
            r.stop()
