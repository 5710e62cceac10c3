"""The `bank-adapter` command line.

    bank-adapter up          provision the state folder, start the simulated core and the adapter
    bank-adapter core-sim    run the simulated core alone
    bank-adapter bench       measure every protocol and connector against bare echoes
    bank-adapter pki init    create the dev PKI
    bank-adapter pki issue   issue one more client certificate (onboarding a caller)
    bank-adapter customers   mobile-app customers: add, list, unlock, reset-otp
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from adapter.config import ConnectorKind, Settings, env_defaults
from adapter.security import pki

log = logging.getLogger("adapter.cli")


def _add_settings_flags(p: argparse.ArgumentParser) -> None:
    env = env_defaults()
    d = Settings.model_fields

    def default(name: str) -> object:
        return env.get(name, d[name].default)

    p.add_argument("--state-dir", type=Path, default=Path(str(default("state_dir"))),
                   help="PKI, clients file and databases (env BANK_ADAPTER_STATE_DIR)")
    p.add_argument("--host", default=default("host"))
    p.add_argument("--http-port", type=int, default=default("http_port"),
                   help="HTTPS for REST and SOAP (env BANK_ADAPTER_HTTP_PORT, default 8443)")
    p.add_argument("--grpc-port", type=int, default=default("grpc_port"),
                   help="gRPC (env BANK_ADAPTER_GRPC_PORT, default 9443)")
    p.add_argument("--core-host", default=default("core_host"))
    p.add_argument("--core-soap-port", type=int, default=default("core_soap_port"),
                   help="the core's SOAP port (env BANK_ADAPTER_CORE_SOAP_PORT, default 7443)")
    p.add_argument("--core-iso-port", type=int, default=default("core_iso_port"),
                   help="the core's ISO 8583 port (env BANK_ADAPTER_CORE_ISO_PORT, default 7583)")
    p.add_argument("--core-connector", choices=[k.value for k in ConnectorKind],
                   default=default("core_connector"),
                   help="how the adapter talks to the core (env BANK_ADAPTER_CORE_CONNECTOR)")
    p.add_argument("--core-timeout", type=float, default=default("core_timeout"),
                   help="seconds the adapter waits for the core before resolving (default 5)")
    p.add_argument("--iso-terminal-id", default=default("iso_terminal_id"),
                   help="ISO 8583 field 41, 8 characters (default ADAPTER1)")
    p.add_argument("--iso-bitmap", choices=["ascii", "binary"], default=default("iso_bitmap"),
                   help="ISO 8583 bitmap encoding (default ascii: 16 hex characters)")
    p.add_argument("--iso-echo-interval", type=float, default=default("iso_echo_interval"),
                   help="seconds of idleness before an ISO 8583 echo (0800/301)")
    p.add_argument("--sqlite-synchronous", choices=["NORMAL", "FULL"],
                   default=default("sqlite_synchronous"),
                   help="FULL: the adapter's journal and reversal store survive a power loss "
                        "(an fsync per commit); NORMAL (default): a process crash")
    p.add_argument("--sqlite-linger-ms", type=float, default=default("sqlite_linger_ms"),
                   help="under load, at most one journal commit per this many ms, each "
                        "holding every write queued meanwhile (default 2; 0: one per loop turn)")
    p.add_argument("--log-level", default=default("log_level"))


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings(
        state_dir=args.state_dir, host=args.host, http_port=args.http_port,
        grpc_port=args.grpc_port, core_host=args.core_host, core_soap_port=args.core_soap_port,
        core_iso_port=args.core_iso_port, core_connector=args.core_connector,
        core_timeout=args.core_timeout, log_level=args.log_level,
        iso_terminal_id=args.iso_terminal_id, iso_bitmap=args.iso_bitmap,
        iso_echo_interval=args.iso_echo_interval, sqlite_synchronous=args.sqlite_synchronous,
        sqlite_linger_ms=args.sqlite_linger_ms,
    )


_CORE_READY = re.compile(r"^core_sim: SOAP https://[^:/]+:(\d+)/core/v1 .*ISO 8583 \S+:(\d+)")


def _start_core(settings: Settings) -> tuple[subprocess.Popen[str], Settings]:
    """Start core_sim as a child process and wait for its ready line, which names the ports
    it really bound (so port 0 works). Its later output is passed through."""
    cmd = [
        sys.executable, "-m", "core_sim",
        "--db", str(settings.core_db), "--pki-dir", str(settings.pki_dir),
        "--host", settings.core_host,
        "--soap-port", str(settings.core_soap_port), "--iso-port", str(settings.core_iso_port),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, bufsize=1)
    assert proc.stdout is not None
    ready: queue.Queue[re.Match[str] | None] = queue.Queue()

    def pump(stream: IO[str]) -> None:
        for line in stream:
            match = _CORE_READY.match(line)
            if match:
                ready.put(match)
            sys.stdout.write(line)
        ready.put(None)

    threading.Thread(target=pump, args=(proc.stdout,), name="core-sim-output",
                     daemon=True).start()
    try:
        match = ready.get(timeout=30)
    except queue.Empty:
        proc.kill()
        raise SystemExit("core-sim did not report ready within 30 s") from None
    if match is None:
        raise SystemExit(f"core-sim exited during start-up with code {proc.wait()}")
    ports = {"core_soap_port": int(match.group(1)), "core_iso_port": int(match.group(2))}
    return proc, settings.model_copy(update=ports)


async def _serve(settings: Settings, announce: bool, password: str) -> None:
    from adapter.app import AdapterApp
    from adapter.banner import banner
    from adapter.gctune import freeze_startup_objects

    app = AdapterApp(settings)
    await app.start()
    freeze_startup_objects()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if announce:
        print(banner(settings, app, password), flush=True)
    try:
        await stop.wait()
    finally:
        print("stopping...", flush=True)
        await app.stop()


def cmd_up(args: argparse.Namespace) -> int:
    from adapter import logmask
    from adapter.provision import provision

    settings = settings_from(args)
    logmask.install(getattr(logging, settings.log_level.upper(), logging.INFO))
    provisioned = provision(settings.state_dir)
    from adapter.customer_root import seed_demo_customers

    seed_demo_customers(settings)
    core = None
    if not args.no_core:
        core, settings = _start_core(settings)
    try:
        _run(_serve(settings, True, provisioned.legacy_password))
    finally:
        if core is not None:
            core.send_signal(signal.SIGTERM)
            try:
                core.wait(10)
            except subprocess.TimeoutExpired:
                core.kill()
    return 0


def _run(coro: object) -> None:
    try:
        import uvloop

        uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        asyncio.run(coro)  # type: ignore[arg-type]


def cmd_core_sim(args: argparse.Namespace, rest: list[str]) -> int:
    from core_sim.server import main as core_main

    return core_main(rest)


def cmd_pki(args: argparse.Namespace) -> int:
    pki_dir: Path = args.dir or (args.state_dir / "pki")
    if args.pki_command == "init":
        for item in pki.init(pki_dir):
            print(f"{'created' if item.created else 'kept   '} {item.cert}")
        return 0
    if not (pki_dir / "ca.key").exists():
        print(f"no CA in {pki_dir}: run `bank-adapter pki init --dir {pki_dir}` first",
              file=sys.stderr)
        return 2
    item = pki.issue(pki_dir, args.name)
    print(f"{'created' if item.created else 'kept   '} {item.cert} and {item.key}")
    if args.register:
        from adapter.provision import register_client
        from adapter.services.clients import Caller, Operation, Role

        state_dir = args.state_dir if args.dir is None else pki_dir.parent
        register_client(state_dir, Caller(
            id=args.name, role=Role(args.role), accounts=frozenset(args.accounts),
            operations=frozenset(Operation(o) for o in args.operations)))
        print(f"registered {args.name!r} as {args.role} in {state_dir / 'clients.json'}"
              " (restart the adapter to load it)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bank-adapter", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start the simulated core and the adapter")
    _add_settings_flags(up)
    up.add_argument("--no-core", action="store_true",
                    help="do not start the simulated core (use one already running)")

    sub.add_parser("core-sim", help="run the simulated core alone (see `core-sim --help`)",
                   add_help=False)
    sub.add_parser("bench", help="the benchmark (see `bench --help`)", add_help=False)
    sub.add_parser("customers", help="mobile-app customers: add|list|unlock|reset-otp",
                   add_help=False)

    pki_p = sub.add_parser("pki", help="the development PKI")
    pki_sub = pki_p.add_subparsers(dest="pki_command", required=True)
    init = pki_sub.add_parser("init", help="create the CA and every certificate")
    init.add_argument("--dir", type=Path, default=None)
    init.add_argument("--state-dir", type=Path, default=Path("bank-adapter-state"))
    issue = pki_sub.add_parser("issue", help="issue a client certificate for another caller")
    issue.add_argument("name", help="the caller's name: the certificate's CN")
    issue.add_argument("--dir", type=Path, default=None, help="the PKI folder")
    issue.add_argument("--state-dir", type=Path, default=Path("bank-adapter-state"))
    issue.add_argument("--register", action="store_true",
                       help="also add the caller to the state folder's clients file")
    issue.add_argument("--role", choices=["partner", "legacy", "internal"], default="partner")
    issue.add_argument("--accounts", nargs="*", default=[])
    issue.add_argument("--operations", nargs="*", default=["read"])
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] == "core-sim":
        return cmd_core_sim(argparse.Namespace(), argv[1:])
    if argv and argv[0] == "customers":
        from adapter.customer_cli import main as customers_main

        return customers_main(argv[1:])
    if argv and argv[0] == "bench":
        from bench.__main__ import main as bench_main

        return bench_main(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "up":
        return cmd_up(args)
    return cmd_pki(args)


if __name__ == "__main__":
    raise SystemExit(main())
