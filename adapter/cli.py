"""The `bank-adapter` command line.

    bank-adapter up          provision the state folder, start the simulated core and the adapter
    bank-adapter core-sim    run the simulated core alone (--nodes N: N nodes on one ledger)
    bank-adapter status      the running adapter's core nodes: health, breaker, load
    bank-adapter bench       measure every protocol and connector against bare echoes
    bank-adapter pki init    create the dev PKI
    bank-adapter pki issue   issue one more client certificate (onboarding a caller)
    bank-adapter customers   mobile-app customers: add, list, unlock, reset-otp, set-password
    bank-adapter db          the PostgreSQL database: status, migrate

Every `up` setting is also an environment variable (`bank-adapter up --help` lists them).

Invariants:
- Rule 1: every flag of every subcommand has help text with its default, and its environment
  variable where it has one; `up`'s settings flags are generated from `adapter.config.Settings`
  (adapter/cli_settings.py), never written out here.
- Rule 2: a refused flag or variable is one line on stderr naming it and what is allowed, and
  exit 2; a start-up failure is one line `bank-adapter up: ...` naming what and where, and
  exit 1. Neither is a traceback.
- Rule 3: `up` makes files 0600 and folders 0700 (umask 077, inherited by its core_sim child),
  so the SQLite files and their -wal/-shm are as private as the keys.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, NoReturn

import adapter
from adapter.cli_settings import SettingError, add_flags, settings_from
from adapter.config import Settings, StartupError, env_name
from adapter.security import pki
from adapter.services.clients import Operation

log = logging.getLogger("adapter.cli")

PRIVATE_UMASK = 0o077


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a refusal is one line (Rule 2) rather than the usage block and a line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _fail(prog: str, message: str, code: int) -> int:
    from adapter.infra.logmask import mask_text

    print(f"{prog}: {mask_text(message)}", file=sys.stderr)
    return code


def _run(coro: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def cmd_up(args: argparse.Namespace) -> int:
    from adapter.infra import logmask
    from adapter.startup import flag_note, run_up

    prog = "bank-adapter up"
    try:
        settings: Settings = settings_from(args)
    except SettingError as exc:
        print(f"{prog}: error: {exc} (see {prog} --help)", file=sys.stderr)
        return 2
    os.umask(PRIVATE_UMASK)
    logmask.install(getattr(logging, settings.log_level.upper()))
    try:
        return _run(run_up(settings, with_core=not args.no_core))
    except StartupError as exc:
        return _fail(prog, f"{exc}{flag_note(exc.setting)}", 1)
    except Exception as exc:  # Rule 2: a bug, too, is one line; the traceback is at debug level
        log.debug("start-up failed", exc_info=True)
        return _fail(prog, f"failed: {type(exc).__name__}: {exc}", 1)


def cmd_core_sim(rest: list[str]) -> int:
    from core_sim.__main__ import main as core_main

    return core_main(rest, prog="bank-adapter core-sim")


def _state_dir(args: argparse.Namespace) -> Path:
    """`--state-dir`, else BANK_ADAPTER_STATE_DIR, else the model's default."""
    if args.state_dir is not None:
        return Path(args.state_dir)
    from_env = os.environ.get(env_name("state_dir"))
    default = Settings.model_fields["state_dir"].default
    return Path(from_env) if from_env else Path(default)


def cmd_pki(args: argparse.Namespace) -> int:
    state_dir = _state_dir(args)
    pki_dir: Path = args.dir or (state_dir / "pki")
    if args.pki_command == "init":
        for item in pki.init(pki_dir):
            print(f"{'created' if item.created else 'kept   '} {item.cert}")
        return 0
    if not (pki_dir / "ca.key").exists():
        print(f"no CA in {pki_dir}: run `bank-adapter pki init --dir {pki_dir}` first",
              file=sys.stderr)
        return 2
    if args.pki_command == "revoke":
        return _revoke(pki_dir, args.name)
    try:
        item = pki.issue(pki_dir, args.name)
    except pki.PkiError as exc:
        print(f"bank-adapter pki issue: {exc}", file=sys.stderr)
        return 2
    print(f"{'created' if item.created else 'kept   '} {item.cert} and {item.key}")
    if args.register:
        from adapter.provision import register_client
        from adapter.services.clients import Caller, Operation

        state_dir = state_dir if args.dir is None else pki_dir.parent
        register_client(state_dir, Caller(
            id=args.name, accounts=frozenset(args.accounts),
            operations=frozenset(Operation(o) for o in args.operations)))
        print(f"registered {args.name!r} in {state_dir / 'clients.json'}"
              " (a running adapter loads it within --reload-interval seconds, or on SIGHUP)")
    return 0


def _revoke(pki_dir: Path, name: str) -> int:
    try:
        done = pki.revoke(pki_dir, name)
    except pki.PkiError as exc:
        print(f"bank-adapter pki revoke: {exc}", file=sys.stderr)
        return 2
    print(f"revoked {name} (serial {done.serial:x}) in {done.crl}; the certificate and its "
          f"key are now {done.moved_to.with_suffix('.*')}")
    print("running listeners refuse it within --reload-interval seconds (SIGHUP: at once); "
          + ("`bank-adapter pki init` issues its successor" if name in pki.BUILT_IN_NAMES
             else f"`bank-adapter pki issue {name}` issues a successor"))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """The running adapter's core nodes, from the file its pool rewrites every health round."""
    from adapter.connectors.pool.status import read_status, render_table

    try:
        state_dir = args.state_dir or Path(os.environ.get(
            env_name("state_dir"), str(Settings.model_fields["state_dir"].default)))
        print(render_table(read_status(state_dir)))
    except (OSError, ValueError) as exc:
        print(f"bank-adapter status: {exc}", file=sys.stderr)
        return 2
    return 0


def _add_pki_folders(p: argparse.ArgumentParser) -> None:
    default = Settings.model_fields["state_dir"].default
    p.add_argument("--dir", type=Path, default=None, metavar="DIR",
                   help="the PKI folder (default: the state folder's pki/)")
    p.add_argument("--state-dir", type=Path, default=None, metavar="DIR",
                   help=f"the state folder (default {default}; env {env_name('state_dir')})")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="bank-adapter", description=__doc__.split("\n\nInvariants")[0],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version",
                        version=f"bank-adapter {adapter.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser("up", help="start the simulated core and the adapter",
                        description="Provision the state folder (first start only), start the "
                                    "simulated core and the adapter, print where they listen, "
                                    "and run until SIGINT or SIGTERM.")
    add_flags(up)
    up.add_argument("--no-core", action="store_true",
                    help="do not start the simulated core; use the one at --core-host and its "
                         "ports (default: start it)")

    sub.add_parser("core-sim", help="run the simulated core alone (see `core-sim --help`)",
                   add_help=False)
    sub.add_parser("bench", help="the benchmark (see `bench --help`)", add_help=False)
    sub.add_parser("customers", help="mobile-app customers: add|list|unlock|reset-otp|set-password",
                   add_help=False)
    sub.add_parser("db", help="the PostgreSQL database: status|migrate (see `db --help`)",
                   add_help=False)

    status = sub.add_parser("status", help="the core nodes of the running adapter (a table)")
    status.add_argument("--state-dir", type=Path, default=None, metavar="DIR",
                        help=f"the adapter's state folder (default "
                             f"{Settings.model_fields['state_dir'].default}; "
                             f"env {env_name('state_dir')})")

    pki_p = sub.add_parser("pki", help="the development PKI")
    pki_sub = pki_p.add_subparsers(dest="pki_command", required=True, metavar="COMMAND")
    init = pki_sub.add_parser("init", help="create (or upgrade) both CAs and every certificate",
                              description="Create the callers' CA, the core-link CA, their "
                                          "CRLs and the server, core, operator and demo client "
                                          "certificates; keep those that exist. A PKI made "
                                          "before the core-link CA existed is upgraded.")
    _add_pki_folders(init)
    issue = pki_sub.add_parser("issue", help="issue a client certificate for another caller",
                               description="Issue a client certificate (CN = NAME) from the "
                                           "existing CA, optionally registering the caller.")
    issue.add_argument("name", metavar="NAME", help="the caller's name: the certificate's CN")
    revoke = pki_sub.add_parser(
        "revoke", help="revoke a certificate (list it in its CA's CRL)",
        description="List NAME's certificate in the CRL of the CA that signed it (the callers' "
                    "or the core link's) and move it and its key to pki/revoked/. Running "
                    "listeners load the CRL within --reload-interval seconds, or on SIGHUP.")
    revoke.add_argument("name", metavar="NAME", help="the certificate's name (its CN)")
    _add_pki_folders(revoke)
    _add_pki_folders(issue)
    issue.add_argument("--register", action="store_true",
                       help="also add the caller to the state folder's clients file "
                            "(default: only issue the certificate)")
    issue.add_argument("--role", choices=["partner", "legacy", "internal"], default="partner",
                       help="ignored, accepted so older scripts still run: what a caller may "
                            "do is its --operations on its --accounts (default partner)")
    issue.add_argument("--accounts", nargs="*", default=[], metavar="ACCOUNT",
                       help="account ids the caller may use, * for all (default: none)")
    issue.add_argument("--operations", nargs="*", choices=[o.value for o in Operation],
                       default=[Operation.READ.value], metavar="OPERATION",
                       help=f"what the caller may do: {', '.join(o.value for o in Operation)} "
                            "(default read)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] == "core-sim":
        return cmd_core_sim(argv[1:])
    if argv and argv[0] == "customers":
        from adapter.customer_cli import main as customers_main

        return customers_main(argv[1:])
    if argv and argv[0] == "db":
        from adapter.db_cli import main as db_main

        return db_main(argv[1:])
    if argv and argv[0] == "bench":
        from adapter.bench_launcher import run_bench

        return run_bench(argv[1:])
    args = parser.parse_args(argv)
    if args.command == "up":
        return cmd_up(args)
    if args.command == "status":
        return cmd_status(args)
    return cmd_pki(args)


if __name__ == "__main__":
    raise SystemExit(main())
