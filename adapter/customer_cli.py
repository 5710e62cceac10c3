"""`bank-adapter customers add|list|unlock|reset-otp|set-password`: the bank's own administration of
mobile-app customers, on the state folder's customer store (the adapter may be running:
SQLite WAL lets both write), or on PostgreSQL with `--database-url` (default: the
BANK_ADAPTER_DATABASE_URL variable, as `bank-adapter up` reads it).

    bank-adapter customers add NAME --accounts 10000001 [--password-file F]
    bank-adapter customers list
    bank-adapter customers unlock NAME
    bank-adapter customers reset-otp NAME
    bank-adapter customers set-password NAME [--password-file F]

Passwords are read from a file or generated, never taken from the command line (where other
users could read them from the process list); a new TOTP secret is printed once, as the
otpauth:// URI to enrol an authenticator app with.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from adapter.cli_settings import SettingError, specs
from adapter.config import Settings, StartupError, env_name
from adapter.customer_root import open_customer_service
from adapter.model.errors import AdapterError
from adapter.ports.customers import DuplicateUsername
from adapter.security import credentials


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bank-adapter customers", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--state-dir", type=Path, default=Path("bank-adapter-state"))
    p.add_argument("--database-url", default=None, metavar="URL",
                   help="the customers' PostgreSQL database (default: env "
                        f"{env_name('database_url')}; unset: STATE/customers.db)")
    sub = p.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="add a customer (prints its password and TOTP URI)")
    add.add_argument("username")
    add.add_argument("--accounts", nargs="+", required=True, help="account ids it owns")
    add.add_argument("--password-file", type=Path,
                     help="read the password from this file (default: generate one)")
    sub.add_parser("list", help="customers, their accounts, devices and lock state")
    unlock = sub.add_parser("unlock", help="lift a lock, temporary or permanent")
    unlock.add_argument("username")
    reset = sub.add_parser("reset-otp", help="a new TOTP secret (the old codes stop working)")
    reset.add_argument("username")
    setpw = sub.add_parser("set-password", help="a new password (ends every session)")
    setpw.add_argument("username")
    setpw.add_argument("--password-file", type=Path,
                       help="read the password from this file (default: generate one)")
    return p


def _database_url(args: argparse.Namespace) -> str | None:
    """The flag, else the environment variable, checked as `bank-adapter up` checks it."""
    raw = args.database_url or os.environ.get(env_name("database_url")) or None
    if raw is None:
        return None
    spec = next(s for s in specs() if s.field == "database_url")
    value: str = spec.parse(raw)
    return value


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password from --password-file, or a generated one (and whether it was)."""
    if args.password_file is None:
        return credentials.new_password(), True
    return args.password_file.read_text().strip(), False


async def _run(args: argparse.Namespace) -> int:
    try:
        service = await open_customer_service(Settings(state_dir=args.state_dir,
                                                       database_url=_database_url(args)))
    except (SettingError, StartupError) as exc:
        print(f"customers: {exc}", file=sys.stderr)
        return 2
    try:
        if args.action == "add":
            password, generated = _password(args)
            try:
                new = await service.add_customer(args.username, password,
                                                 frozenset(args.accounts))
            except DuplicateUsername:
                print(f"customers: {args.username!r} exists already", file=sys.stderr)
                return 1
            print(f"added {new.customer.username} owning {', '.join(sorted(args.accounts))}")
            if generated:
                print(f"password: {password}")
            print(f"TOTP: {new.otpauth_uri}")
        elif args.action == "list":
            print(f"{'username':<16} {'accounts':<24} {'devices':>7}  lock")
            for c in await service.store.list_customers():
                devices = [d for d in await service.store.list_devices(c.customer_id)
                           if d.revoked_at is None]
                lock = await service.store.get_lock(c.username)
                state = ("permanent" if lock.permanent else
                         f"until {lock.locked_until:%Y-%m-%d %H:%M:%S}Z"
                         if lock.locked_until and lock.locked_until > service.now()
                         else f"{lock.failures} failures" if lock.failures else "-")
                print(f"{c.username:<16} {','.join(sorted(c.accounts)):<24} "
                      f"{len(devices):>7}  {state}")
        elif args.action == "unlock":
            await service.unlock(args.username, by="cli")
            print(f"unlocked {args.username}")
        elif args.action == "set-password":
            password, generated = _password(args)
            await service.change_password(args.username, password, by="cli")
            print(f"new password for {args.username}; every session of it ended")
            if generated:
                print(f"password: {password}")
        else:
            _, uri = await service.reset_otp(args.username, by="cli")
            print(f"new TOTP for {args.username}: {uri}")
        return 0
    except AdapterError as exc:
        print(f"customers: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await service.store.aclose()
        service.passwords.close()


def main(argv: list[str]) -> int:
    return asyncio.run(_run(build_parser().parse_args(argv)))
