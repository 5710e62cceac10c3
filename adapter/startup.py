"""`bank-adapter up` from the first signal handler to the last child reaped: prepare the state
folder, start the simulated core as a child process, start the adapter, announce, and stop
from any of those moments.

Stages, in order (also the names the test hook below accepts):

    provisioned    the state folder is writable; PKI and clients file present and valid
    core-started   the core_sim child exists (it may not listen yet)
    core-ready     the child reported the ports it listens on
    listening      the adapter's HTTPS and gRPC listeners are open; the banner is next

Invariants:
- Rule 1: SIGINT and SIGTERM are handled by the event loop before the child can exist and
  until `run_up` returns. A stop at any stage ends the step in progress, stops the adapter if
  it started, terminates the child and reaps it (SIGKILL after a grace), so every port is
  free once `up` has exited.
- Rule 2: a start-up failure is a `StartupError` (one line for the CLI to print); whatever
  had started is stopped exactly as for a signal.
- Rule 3: a stop during start-up returns 0, as a stop after it does: the operator asked.
- Rule 4: the child's stdout and stderr pass through, except its one-line start-up error
  (`core-sim: error: ...`), which becomes this process's StartupError instead.
- Rule 5: once listening, SIGHUP reloads the adapter's certificates, CRL and clients file
  (`AdapterApp.reload`) and is passed on to the core child, which reloads its own.
- Rule 6: `--workers N` (N > 1) serves from N worker children (`adapter.workers`) instead of
  this process, and needs `--database-url`: refused before anything starts without one. The
  workers are children like the core: every stage of Rule 1 stops and reaps them, and a
  SIGHUP once listening is passed on to each of them (each reloads its own files).
- Rule 7: rate-limit budgets are shared when the processes are: `--workers N` (N > 1) with
  any rate set is refused before anything starts while the budgets would be in each worker's
  memory (`--rate-limit-storage memory`): it would let a caller through at N times its rate,
  silently. `--rate-limit-storage database` without `--database-url` is refused likewise.

Test hook: with BANK_ADAPTER_TEST_PAUSE_AT=<stage>, start-up stops at that stage, prints
`bank-adapter up: paused at <stage> (core pid P, ports A B ...)` and waits for a signal, so
a test can signal each stage deterministically.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, TypeVar

from adapter.cli_settings import specs
from adapter.config import RATE_STORAGE_NEEDS_DATABASE, Settings, StartupError
from adapter.services.rate_limits import RatePolicy
from adapter.workers import Supervisor, banner_balances

if TYPE_CHECKING:
    from adapter.app import AdapterApp

log = logging.getLogger("adapter.startup")

T = TypeVar("T")

STAGES = ("provisioned", "core-started", "core-ready", "listening")
PAUSE_ENV = "BANK_ADAPTER_TEST_PAUSE_AT"
CORE_READY_WITHIN = 30.0
CORE_STOP_GRACE = 10.0

_CORE_READY = re.compile(r"^core_sim: SOAP https://[^:/]+:(\d+)/core/v1 .*ISO 8583 \S+:(\d+)")
CORE_ERROR_PREFIX = "core-sim: error: "
# core-sim names its own flag at the end of an error; `up` names the one its operator set.
_CORE_FLAG = re.compile(r" \((--[a-z-]+)\)$")
_CORE_FLAG_SETTING = {"--soap-port": "core_soap_port", "--iso-port": "core_iso_port",
                      "--host": "core_host", "--pki-dir": "state_dir", "--db": "state_dir"}


class Stopped(Exception):
    """A stop signal arrived during start-up (Rule 3)."""


def flag_note(setting: str | None) -> str:
    """` (--http-port, BANK_ADAPTER_HTTP_PORT)` for a setting's name; "" for None."""
    for spec in specs():
        if spec.field == setting:
            return f" ({spec.flag}, {spec.env})"
    return ""


class CoreChild:
    """The core_sim child process and the tasks relaying its output (Rule 4)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.error: str | None = None
        self._ready: asyncio.Future[tuple[int, int] | None] = (
            asyncio.get_running_loop().create_future())
        assert proc.stdout is not None and proc.stderr is not None
        self._pumps = [asyncio.create_task(self._relay_stdout(proc.stdout)),
                       asyncio.create_task(self._relay_stderr(proc.stderr))]

    @classmethod
    async def spawn(cls, settings: Settings) -> CoreChild:
        cmd = [
            sys.executable, "-m", "core_sim",
            "--db", str(settings.core_db), "--pki-dir", str(settings.pki_dir),
            "--host", settings.core_host,
            "--soap-port", str(settings.core_soap_port),
            "--iso-port", str(settings.core_iso_port),
            "--log-level", settings.log_level,
            "--reload-interval", str(settings.reload_interval),
        ]
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        return cls(proc)

    async def _relay_stdout(self, stream: asyncio.StreamReader) -> None:
        while line := (await stream.readline()).decode(errors="replace"):
            match = _CORE_READY.match(line)
            if match and not self._ready.done():
                self._ready.set_result((int(match.group(1)), int(match.group(2))))
            sys.stdout.write(line)
            sys.stdout.flush()
        if not self._ready.done():
            self._ready.set_result(None)

    async def _relay_stderr(self, stream: asyncio.StreamReader) -> None:
        while line := (await stream.readline()).decode(errors="replace"):
            if line.startswith(CORE_ERROR_PREFIX):
                self.error = line[len(CORE_ERROR_PREFIX):].strip()
            else:
                sys.stderr.write(line)
                sys.stderr.flush()

    async def ready(self) -> tuple[int, int]:
        """The SOAP and ISO 8583 ports the child listens on, or a StartupError saying why not."""
        try:
            ports = await asyncio.wait_for(asyncio.shield(self._ready), CORE_READY_WITHIN)
        except TimeoutError:
            raise StartupError(f"the simulated core did not report ready within "
                               f"{CORE_READY_WITHIN:g} s") from None
        if ports is not None:
            return ports
        code = await self.proc.wait()
        await asyncio.gather(*self._pumps)  # its error line may still be in the pipe
        if self.error is None:
            raise StartupError(f"the simulated core exited during start-up with code {code}")
        message, setting = self.error, None
        if match := _CORE_FLAG.search(message):
            message, setting = message[:match.start()], _CORE_FLAG_SETTING.get(match.group(1))
        raise StartupError(f"the simulated core did not start: {message}", setting=setting)

    async def stop(self) -> None:
        """Terminate and reap the child (SIGKILL after the grace); then drain its output."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), CORE_STOP_GRACE)
            except TimeoutError:
                log.warning("core_sim did not stop within %g s; killing it", CORE_STOP_GRACE)
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        await asyncio.gather(*self._pumps, return_exceptions=True)


class Sequence:
    """The stop event, and start-up steps raced against it (Rule 1)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.stop = asyncio.Event()
        self.pause_at = environ.get(PAUSE_ENV)
        if self.pause_at is not None and self.pause_at not in STAGES:
            raise StartupError(f"{PAUSE_ENV}={self.pause_at!r} is not one of "
                               f"{', '.join(STAGES)}")

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)

    async def step(self, aw: Awaitable[T]) -> T:
        """`aw`'s result, unless a stop comes first: then cancel it and raise Stopped."""
        task = asyncio.ensure_future(aw)
        stopping = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise Stopped

    async def reached(self, stage: str, core: CoreChild | None = None,
                      ports: tuple[int, ...] = ()) -> None:
        if stage == self.pause_at:
            pid = core.proc.pid if core is not None else "none"
            print(f"bank-adapter up: paused at {stage} (core pid {pid}, ports "
                  f"{' '.join(map(str, ports)) or 'none'})", flush=True)
            await self.stop.wait()
        if self.stop.is_set():
            raise Stopped


def _forward_sighup(supervisor: Supervisor, core: CoreChild | None) -> None:
    """Rule 6: SIGHUP is passed on to every worker and to the core child."""
    def forward() -> None:
        supervisor.signal_all(signal.SIGHUP)
        if core is not None and core.proc.returncode is None:
            core.proc.send_signal(signal.SIGHUP)

    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, forward)


def _reload_on_sighup(app: AdapterApp, core: CoreChild | None) -> None:
    """SIGHUP reloads the adapter's PKI files and clients file and is passed on to the core."""
    def reload() -> None:
        if app.reloader is not None:
            app.reloader.request()
        if core is not None and core.proc.returncode is None:
            core.proc.send_signal(signal.SIGHUP)

    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, reload)


def refuse_unshared_state(settings: Settings) -> None:
    """Rules 6 and 7: a StartupError before anything starts when the settings would keep
    state the processes must share where they cannot share it."""
    if settings.rate_limit_storage == "database" and settings.database_url is None:
        raise StartupError(RATE_STORAGE_NEEDS_DATABASE, setting="database_url")
    if settings.workers == 1:
        return
    if settings.database_url is None:
        # Rule 6: the workers share every durable fact (keys, journal, leases, nonces) through
        # one database; SQLite files in one state folder are not that database.
        raise StartupError(f"--workers {settings.workers} needs a PostgreSQL database shared "
                           "by the workers: give --database-url postgresql://...",
                           setting="database_url")
    policy = RatePolicy.parse(settings.rate_limit_default, settings.rate_limit_operations)
    if settings.rate_limit_storage == "memory" and policy.limits_anything:
        # Rule 7: budgets in each worker's memory let a caller through at N times its rate.
        raise StartupError(
            f"--workers {settings.workers} with --rate-limit-storage memory gives each worker "
            f"budgets of its own, so a caller gets {settings.workers} times its rate: give "
            "--rate-limit-storage database (or a redis:// URL)", setting="rate_limit_storage")


async def run_up(settings: Settings, *, with_core: bool,
                 environ: Mapping[str, str] | None = None) -> int:
    """The whole of `bank-adapter up`; returns the exit code or raises StartupError."""
    from adapter.app import AdapterApp, load_clients
    from adapter.banner import banner, current_balances
    from adapter.infra.gctune import freeze_startup_objects
    from adapter.provision import check_state_dir, provision, restrict_sqlite_files

    refuse_unshared_state(settings)
    seq = Sequence(os.environ if environ is None else environ)
    seq.install()
    # Until the listeners are up, a SIGHUP has nothing to reload (start-up reads every file
    # anyway); it must not end the process, as SIGHUP's default action would.
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, lambda: None)
    core: CoreChild | None = None
    app: AdapterApp | None = None
    supervisor: Supervisor | None = None
    try:
        check_state_dir(settings.state_dir)
        try:
            provision(settings.state_dir)
        except OSError as exc:
            raise StartupError(f"cannot provision {exc.filename or settings.state_dir}: "
                               f"{exc.strerror or exc}", setting="state_dir") from exc
        restrict_sqlite_files(settings.state_dir)
        load_clients(settings.clients_file)  # refuse a bad file before anything starts
        from adapter.customer_root import seed_demo_customers

        # Two production-strength Argon2id hashes: seconds, so off the loop (first start only).
        await asyncio.to_thread(seed_demo_customers, settings)
        await seq.reached("provisioned")
        if with_core:
            core = await CoreChild.spawn(settings)
            await seq.reached("core-started", core)
            soap_port, iso_port = await seq.step(core.ready())
            settings = settings.model_copy(
                update={"core_soap_port": soap_port, "core_iso_port": iso_port})
            await seq.reached("core-ready", core, (soap_port, iso_port))
        if settings.workers > 1:
            supervisor = Supervisor(settings)
            await seq.step(supervisor.start())
            _forward_sighup(supervisor, core)
            await seq.reached("listening", core, tuple(
                p for p in (settings.core_soap_port, settings.core_iso_port,
                            supervisor.http_port, supervisor.grpc_port) if p is not None))
            balances = await seq.step(banner_balances(settings))
            print(banner(settings, supervisor, balances), flush=True)
            print(f"bank-adapter up: {settings.workers} workers, pids "
                  f"{' '.join(map(str, supervisor.pids))}", flush=True)
            await seq.stop.wait()
            print("stopping...", flush=True)
            return 0
        app = AdapterApp(settings)
        await seq.step(app.start())
        assert app.services is not None
        _reload_on_sighup(app, core)
        await seq.reached("listening", core, tuple(
            p for p in (settings.core_soap_port, settings.core_iso_port, app.http_port,
                        app.grpc_port) if p is not None))
        freeze_startup_objects()
        balances = await seq.step(
            current_balances(app.services.core, timeout=settings.core_timeout))
        print(banner(settings, app, balances), flush=True)
        await seq.stop.wait()
        print("stopping...", flush=True)
        return 0
    except Stopped:
        print("stopping...", flush=True)
        return 0
    finally:
        try:
            if app is not None:
                await app.stop()
            if supervisor is not None:
                await supervisor.stop()
        finally:
            if core is not None:
                await core.stop()
