"""`bank-adapter up --workers N`: N serving processes on the same HTTPS and gRPC ports.

Owns the worker processes: starting them, restarting one that dies, stopping and reaping
them all, and (run as `python -m adapter.workers I`) the life of one worker.

Why SO_REUSEPORT and not a pre-forking parent that hands its listening sockets down: grpc.aio
has no way to serve on a socket it did not bind itself, so the gRPC port can only be shared by
each process binding it with SO_REUSEPORT; the HTTPS port (and the health port) follow the same
rule, so there is one mechanism. The kernel spreads new connections over the listening sockets
of the port (a hash of the connection's addresses); an accepted connection stays with its
process, and a dead worker's sockets close with it, so new connections go to the live ones.
Each worker is a whole adapter: its own event loop, store connections, core connections and
resolver.

Invariants:
- Rule 1: ports are fixed before any worker starts: the parent holds each one with a socket
  bound with SO_REUSEPORT that never listens (so it is handed no connection), which turns a
  port 0 into a real port, and keeps the port reserved while a worker restarts.
- Rule 2: start-up completes only once every worker reported listening; a worker that fails
  to start fails `up` with that worker's one-line reason (a StartupError).
- Rule 3: no worker outlives the parent. `stop` sends SIGTERM to each, SIGKILL after
  STOP_GRACE, and reaps them; a worker's stdin is a pipe from the parent kept open for its
  life, and at its end of file (the parent died, even by SIGKILL) the worker stops.
- Rule 4: a worker that dies while serving is started again after RESTART_DELAY, with the same
  index; the other workers serve meanwhile.
- Rule 5: (field 41, field 11) never collides across workers: worker i of N > 1 sends the
  first six characters of --iso-terminal-id followed by i as two digits as its terminal id,
  and its STANs are its own sequence (`adapter.connectors.iso8583.stan`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import sys
from collections.abc import Sequence
from decimal import Decimal

from adapter.config import Settings, StartupError

log = logging.getLogger("adapter.workers")

READY_WITHIN = 60.0
STOP_GRACE = 10.0
RESTART_DELAY = 1.0
_READY = re.compile(r"^bank-adapter worker (\d+): listening (\d+) (\d+)")
_ERROR = re.compile(r"^bank-adapter worker (\d+): error: (.*)$")


def terminal_id(base: str, index: int, workers: int) -> str:
    """Field 41 of worker `index` (1-based) of `workers` (Rule 5): `base` itself for one."""
    return base if workers == 1 else f"{base[:6]}{index:02d}"


def worker_settings(settings: Settings, index: int) -> Settings:
    return settings.model_copy(update={
        "iso_terminal_id": terminal_id(settings.iso_terminal_id, index, settings.workers)})


def hold_port(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) with SO_REUSEPORT, never listening (Rule 1)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


class Worker:
    """One worker child: its process, and the task relaying its stdout."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: asyncio.subprocess.Process | None = None
        self._ready: asyncio.Future[str | None] | None = None
        self._relay: asyncio.Task[None] | None = None

    async def spawn(self, settings: Settings) -> None:
        # The state folder is on the command line so an operator (and the tests) can tell
        # which adapter a process belongs to.
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "adapter.workers", str(self.index),
            "--state-dir", str(settings.state_dir),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(worker_settings(settings, self.index).model_dump_json().encode()
                              + b"\n")
        await self.proc.stdin.drain()
        self._ready = asyncio.get_running_loop().create_future()
        self._relay = asyncio.create_task(self._relay_stdout(self.proc.stdout, self._ready))

    async def _relay_stdout(self, stream: asyncio.StreamReader,
                            ready: asyncio.Future[str | None]) -> None:
        while line := (await stream.readline()).decode(errors="replace"):
            if not ready.done() and _READY.match(line):
                ready.set_result(None)
                continue
            if not ready.done() and (match := _ERROR.match(line)):
                ready.set_result(match.group(2))
                continue
            sys.stdout.write(line)
            sys.stdout.flush()
        if not ready.done():
            ready.set_result("it exited during start-up")

    async def ready(self) -> None:
        """Return once the worker listens; StartupError naming why it did not (Rule 2)."""
        assert self._ready is not None
        try:
            error = await asyncio.wait_for(asyncio.shield(self._ready), READY_WITHIN)
        except TimeoutError:
            raise StartupError(f"worker {self.index} did not report listening within "
                               f"{READY_WITHIN:g} s") from None
        if error is not None:
            raise StartupError(f"worker {self.index} did not start: {error}")

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after STOP_GRACE; reaped either way (Rule 3)."""
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), STOP_GRACE)
            except TimeoutError:
                log.warning("worker %d did not stop within %g s; killing it",
                            self.index, STOP_GRACE)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()
        if self._relay is not None:
            with contextlib.suppress(Exception):
                await self._relay


class Supervisor:
    """The parent's side: N workers on ports it holds (Rules 1-4)."""

    def __init__(self, settings: Settings) -> None:
        self._holds: list[socket.socket] = []
        self.settings = settings
        self.workers = [Worker(i) for i in range(1, settings.workers + 1)]
        self._watch: list[asyncio.Task[None]] = []
        self._stopping = False

    @property
    def http_port(self) -> int:
        return self.settings.http_port

    @property
    def grpc_port(self) -> int:
        return self.settings.grpc_port

    @property
    def pids(self) -> list[int]:
        return [w.proc.pid for w in self.workers if w.proc is not None]

    def _reserve(self) -> None:
        s = self.settings
        ports: dict[str, int | None] = {"http_port": s.http_port, "grpc_port": s.grpc_port,
                                        "health_port": s.health_port}
        for field, port in ports.items():
            if port is None:
                continue
            host = s.health_host if field == "health_port" else s.host
            try:
                sock = hold_port(host, port)
            except OSError as exc:
                from adapter.config import os_reason

                raise StartupError(f"cannot listen on {host}:{port}: {os_reason(exc)}",
                                   setting=field) from exc
            self._holds.append(sock)
            ports[field] = sock.getsockname()[1]
        self.settings = s.model_copy(update=ports)

    async def start(self) -> None:
        """Every worker listening (Rule 2), or a StartupError with all of them stopped."""
        try:
            self._reserve()
            for worker in self.workers:
                await worker.spawn(self.settings)
            for worker in self.workers:
                await worker.ready()
        except BaseException:
            await self.stop()
            raise
        self._watch = [asyncio.create_task(self._keep(w), name=f"worker-{w.index}")
                       for w in self.workers]

    async def _keep(self, worker: Worker) -> None:
        """Rule 4: start a worker again when it dies while the adapter is serving."""
        while True:
            assert worker.proc is not None
            code = await worker.proc.wait()
            if self._stopping:
                return
            log.warning("worker %d (pid %d) exited with %s; starting it again in %g s",
                        worker.index, worker.proc.pid, code, RESTART_DELAY)
            await worker.stop()  # drain its relay, close its pipe
            # A pace for restarts, not a synchronisation: a worker that cannot start is
            # tried again at this rate rather than in a tight loop.
            await asyncio.sleep(RESTART_DELAY)
            if self._stopping:
                return
            try:
                await worker.spawn(self.settings)
                await worker.ready()
                print(f"bank-adapter up: worker {worker.index} started again "
                      f"(pid {worker.proc.pid})", flush=True)
            except StartupError as exc:
                log.error("%s", exc)

    def signal_all(self, sig: int) -> None:
        """Send `sig` to every live worker (SIGHUP: each reloads its certificates and files)."""
        for worker in self.workers:
            if worker.proc is not None and worker.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.proc.send_signal(sig)

    async def stop(self) -> None:
        """Stop and reap every worker, then release the held ports (Rule 3)."""
        self._stopping = True
        for task in self._watch:
            task.cancel()
        for task in self._watch:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.gather(*(w.stop() for w in self.workers))
        for sock in self._holds:
            sock.close()
        self._holds.clear()


async def banner_balances(settings: Settings) -> dict[str, Decimal | None]:
    """The demo accounts' balances for the parent's banner, read over a SOAP connection of
    its own (the parent runs no adapter): the workers' connections stay theirs."""
    from adapter.banner import current_balances
    from adapter.connectors.soap import SoapCoreConnector

    core = SoapCoreConnector.create(settings.core_soap_url, settings.pki_dir)
    try:
        return await current_balances(core, timeout=settings.core_timeout)
    finally:
        await core.aclose()


# -- one worker (the child's side) --------------------------------------------------------------

async def serve(settings: Settings, index: int) -> int:
    """Run one adapter until SIGTERM/SIGINT or the parent's end (stdin at EOF, Rule 3)."""
    from adapter.app import AdapterApp
    from adapter.infra.gctune import freeze_startup_objects

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Until it listens a SIGHUP has nothing to reload, and must not end it (its default).
    loop.add_signal_handler(signal.SIGHUP, lambda: None)

    def parent_gone() -> None:
        if not os.read(sys.stdin.fileno(), 4096):
            loop.remove_reader(sys.stdin.fileno())
            stop.set()

    loop.add_reader(sys.stdin.fileno(), parent_gone)
    app = AdapterApp(settings)
    try:
        try:
            await app.start()
        except StartupError as exc:
            print(f"bank-adapter worker {index}: error: {exc}", flush=True)
            return 1
        print(f"bank-adapter worker {index}: listening {app.http_port} {app.grpc_port} "
              f"(pid {os.getpid()}, terminal {settings.iso_terminal_id})", flush=True)
        reloader = app.reloader
        if reloader is not None:  # the parent passes SIGHUP on: certificates, CRL, clients
            loop.add_signal_handler(signal.SIGHUP, reloader.request)
        freeze_startup_objects()
        await stop.wait()
        return 0
    finally:
        await app.stop()


def main(argv: Sequence[str] | None = None) -> int:
    from adapter.infra import logmask

    args = list(sys.argv[1:] if argv is None else argv)
    index = int(args[0])
    # The settings arrive as one JSON line; the pipe then stays open (Rule 3).
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(sys.stdin.fileno(), 65536)
        if not chunk:
            return 1
        line += chunk
    settings = Settings.model_validate_json(line)
    logmask.install(getattr(logging, settings.log_level.upper()))
    try:
        try:
            import uvloop
        except ImportError:
            return asyncio.run(serve(settings, index))
        return uvloop.run(serve(settings, index))
    except Exception as exc:  # one line, as `up` itself reports a failure
        print(f"bank-adapter worker {index}: error: {type(exc).__name__}: {exc}", flush=True)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
