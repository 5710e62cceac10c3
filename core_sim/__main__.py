"""`python -m core_sim` and `bank-adapter core-sim`: the simulated core's command line.

Owns the flags (each with its help and default), the checks made before anything is created,
the process's signal handling and its ready line:

    core_sim: SOAP https://localhost:PORT/core/v1  WSDL ...?wsdl  ISO 8583 HOST:PORT

Invariants:
- Rule 1: a refused flag is one line and exit 2. A start-up failure (a PKI file missing or
  unreadable, the ledger not creatable, a port in use) is one line on stderr,
  `core-sim: error: <what and where> (--flag)`, and exit 1; never a traceback.
  `bank-adapter up` reads that prefix and the trailing flag to relay the error as its own.
- Rule 2: nothing is created before the PKI loads: no ledger file for a core that cannot
  serve.
- Rule 3: files are created 0600 and folders 0700 (umask 077), like the keys.
- Rule 4: SIGHUP reloads the core's certificate, the core-link CA and its CRL (as a change of
  those files does, seen within --reload-interval); a PKI folder from before the core-link
  trust domain existed is refused with the one command that upgrades it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
import ssl
import sys
from pathlib import Path
from typing import NoReturn

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from adapter.infra import logmask
from adapter.infra.gctune import freeze_startup_objects
from adapter.infra.revocation import CrlSource, RevocationList
from adapter.infra.tls import TlsFiles, server_context
from adapter.infra.trust_domains import CORE_SERVER
from core_sim.faults import DROP_MODES, FaultSettings
from core_sim.iso_host import IDLE_TIMEOUT, READ_TIMEOUT
from core_sim.nodes import MAX_NODES, run_nodes
from core_sim.server import CoreSim, CoreSimConfig

LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
PRIVATE_UMASK = 0o077


class StartupFailed(Exception):
    """Rule 1: `str()` is the line to print; `flag` the flag to change."""

    def __init__(self, message: str, flag: str) -> None:
        super().__init__(f"{message} ({flag})")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {raw!r}: not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid value {raw!r}: a port is 0-65535")
    return port


def _seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {raw!r}: not a number") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"invalid value {raw!r}: seconds above 0, at most "
                                         "86400")
    return value


def _interval(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid value {raw!r}: not a number") from None
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"invalid value {raw!r}: seconds from 0 to 3600")
    return value


def build_parser(prog: str = "core-sim") -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description="The simulated core banking system: a double-entry "
                "ledger on SQLite served over SOAP and ISO 8583, mutual TLS only.")
    p.add_argument("--db", type=Path, default=Path("bank-adapter-state/core.db"), metavar="FILE",
                   help="the SQLite ledger, created and seeded with the demo accounts if "
                        "missing (default bank-adapter-state/core.db)")
    p.add_argument("--pki-dir", type=Path, default=Path("bank-adapter-state/pki"), metavar="DIR",
                   help="the dev PKI: core.crt, core.key, core-link-ca.crt and core-link-ca.crl, "
                        "made by `bank-adapter pki init` (default bank-adapter-state/pki)")
    p.add_argument("--host", default="127.0.0.1", metavar="HOST",
                   help="address both listeners bind to (default 127.0.0.1)")
    p.add_argument("--soap-port", type=_port, default=7443, metavar="PORT",
                   help="the SOAP listener's port, 0-65535, 0: any free port (default 7443)")
    p.add_argument("--iso-port", type=_port, default=7583, metavar="PORT",
                   help="the ISO 8583 listener's port, 0-65535, 0: any free port "
                        "(default 7583)")
    p.add_argument("--iso-read-timeout", type=_seconds, default=READ_TIMEOUT, metavar="SECONDS",
                   help="seconds an ISO 8583 frame may take to arrive once its first byte has; "
                        f"then the connection is closed, > 0 (default {READ_TIMEOUT:g})")
    p.add_argument("--iso-idle-timeout", type=_seconds, default=IDLE_TIMEOUT, metavar="SECONDS",
                   help="seconds an ISO 8583 connection may stay silent between frames; then "
                        f"it is closed, > 0 (default {IDLE_TIMEOUT:g})")
    p.add_argument("--latency-ms", type=int, default=0, metavar="MS",
                   help="delay before every posting is handled, >= 0 (default 0)")
    p.add_argument("--error-rate", type=float, default=0.0, metavar="RATE",
                   help="share of postings refused with CORE_UNAVAILABLE, nothing booked, "
                        "0-1 (default 0)")
    p.add_argument("--drop-reply-rate", type=float, default=0.0, metavar="RATE",
                   help="share of postings booked whose reply is lost, 0-1 (default 0)")
    p.add_argument("--drop-mode", choices=DROP_MODES, default="reset",
                   help="how a reply is lost: reset aborts the connection, hang never answers "
                        "(default reset)")
    p.add_argument("--log-level", choices=LOG_LEVELS, default="info",
                   help="least severe log record written to stderr (default info)")
    p.add_argument("--nodes", type=int, default=1, metavar="N",
                   help=f"run N nodes (processes, 1 to {MAX_NODES}) on the one ledger; node i "
                        "listens on --soap-port + i and --iso-port + i (default 1)")
    p.add_argument("--reload-interval", type=_interval, default=1.0, metavar="SECONDS",
                   help="seconds between looks at the PKI files: a changed certificate, CA "
                        "or CRL is loaded without a restart (SIGHUP loads at once); 0: only "
                        "on SIGHUP (default 1)")
    p.add_argument("--node-name", default=None, metavar="NAME",
                   help="this node's name in its ready line (default: none)")
    return p


def _check_pki(pki_dir: Path) -> ssl.SSLContext:
    """Rule 2: the core's TLS context, loaded before anything is created."""
    files = TlsFiles.from_dir(pki_dir, CORE_SERVER)
    assert files.crl is not None
    if (pki_dir / "ca.crt").is_file() and not (files.ca.is_file() and files.crl.is_file()):
        raise StartupFailed(f"the PKI in {pki_dir} predates the separate core-link trust "
                            f"domain (no {files.ca.name} or {files.crl.name}); upgrade it with "
                            f"`bank-adapter pki init --dir {pki_dir}`", "--pki-dir")
    for path in files.paths():
        if not path.is_file():
            raise StartupFailed(f"the PKI file {path} is missing; create the PKI with "
                                f"`bank-adapter pki init --dir {pki_dir}`", "--pki-dir")
    try:
        ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
        x509.load_pem_x509_certificate(files.cert.read_bytes()).verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise StartupFailed(f"{files.cert} is not signed by {files.ca} (a PKI from before the "
                            f"core-link trust domain); upgrade it with `bank-adapter pki init "
                            f"--dir {pki_dir}`", "--pki-dir") from None
    try:
        RevocationList([CrlSource(files.ca, files.crl)])  # as CoreSim loads it for open links
    except ValueError as exc:
        raise StartupFailed(f"cannot load the CRL {files.crl}: {exc}", "--pki-dir") from exc
    try:
        return server_context(files)
    except (OSError, ssl.SSLError) as exc:
        raise StartupFailed(f"cannot load the core's certificate and key from {pki_dir}: "
                            f"{exc.strerror or exc}", "--pki-dir") from exc


def _open(config: CoreSimConfig) -> CoreSim:
    try:
        config.db_path.parent.mkdir(parents=True, exist_ok=True)
        return CoreSim(config)
    except (OSError, sqlite3.Error) as exc:
        raise StartupFailed(f"cannot open the ledger {config.db_path}: {exc}", "--db") from exc


async def _serve(sim: CoreSim, node_name: str | None = None) -> None:
    config = sim.config
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, sim.reloader.request)  # Rule 4
    try:
        try:
            await sim.start()
        except OSError as exc:
            what, port, flag = (("SOAP", config.soap_port, "--soap-port") if sim.soap_port is None
                                else ("ISO 8583", config.iso_port, "--iso-port"))
            # The errno's text: asyncio and socket.create_server rewrite strerror.
            reason = os.strerror(exc.errno) if exc.errno else str(exc)
            raise StartupFailed(f"cannot listen for {what} on {config.host}:{port}: "
                                f"{reason[:1].lower()}{reason[1:]}", flag) from exc
        freeze_startup_objects()
        print(f"core_sim: SOAP {sim.soap_url}  WSDL {sim.soap_url}?wsdl"
              + (f"  ISO 8583 {config.host}:{sim.iso_port}" if sim.iso_port else "")
              + (f"  node {node_name}" if node_name else ""), flush=True)
        await stop.wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None, *, prog: str = "core-sim") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    try:
        faults = FaultSettings(latency_ms=args.latency_ms, error_rate=args.error_rate,
                               drop_reply_rate=args.drop_reply_rate, drop_mode=args.drop_mode)
    except ValueError as exc:
        parser.error(str(exc))
    if not 1 <= args.nodes <= MAX_NODES:
        parser.error(f"--nodes must be from 1 to {MAX_NODES}")
    os.umask(PRIVATE_UMASK)
    if args.nodes > 1:
        extra = ["--latency-ms", str(args.latency_ms), "--error-rate", str(args.error_rate),
                 "--drop-reply-rate", str(args.drop_reply_rate), "--drop-mode", args.drop_mode,
                 "--log-level", args.log_level, "--reload-interval", str(args.reload_interval),
                 "--iso-read-timeout", str(args.iso_read_timeout),
                 "--iso-idle-timeout", str(args.iso_idle_timeout)]
        try:
            _check_pki(args.pki_dir)
        except StartupFailed as exc:
            print(f"{prog}: error: {logmask.mask_text(str(exc))}", file=sys.stderr, flush=True)
            return 1
        args.db.parent.mkdir(parents=True, exist_ok=True)
        return run_nodes(args.nodes, args.db, args.pki_dir, args.host, args.soap_port,
                         args.iso_port, extra)
    logmask.install(getattr(logging, args.log_level.upper()))  # masked like the adapter's
    config = CoreSimConfig(db_path=args.db, pki_dir=args.pki_dir, host=args.host,
                           soap_port=args.soap_port, iso_port=args.iso_port, faults=faults,
                           iso_read_timeout=args.iso_read_timeout,
                           iso_idle_timeout=args.iso_idle_timeout,
                           reload_interval=args.reload_interval or None)
    loop_factory = None
    with contextlib.suppress(ImportError):
        import uvloop

        loop_factory = uvloop.new_event_loop
    try:
        _check_pki(args.pki_dir)
        sim = _open(config)
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            runner.run(_serve(sim, args.node_name))
    except StartupFailed as exc:
        print(f"{prog}: error: {logmask.mask_text(str(exc))}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
