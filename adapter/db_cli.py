"""`bank-adapter db migrate|status`: the PostgreSQL database of `--database-url`.

    bank-adapter db status  [--database-url URL]   applied versions, pending ones, partitions
    bank-adapter db migrate [--database-url URL]   apply what is pending, make partitions ahead

The URL is the flag, else BANK_ADAPTER_DATABASE_URL, as `bank-adapter up` reads it (and is
checked the same way). `bank-adapter up` migrates at start-up too; `migrate` lets an
operator do it first, in a change window. Output never shows the URL's password.

Exit codes: 0 done; 1 the database was migrated by a newer adapter (status still prints
where it stands; migrate changes nothing); 2 no URL, a refused one, or an unreachable
database (one line on stderr).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime

import psycopg

from adapter.cli_settings import SettingError, specs
from adapter.config import env_name
from adapter.stores.postgres import migrate, partitions
from adapter.stores.postgres.database import PARTITIONS_AHEAD, redact

PROG = "bank-adapter db"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\nExit codes")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="action", required=True, metavar="COMMAND")
    for name, what in (("status", "where the database stands: versions, pending, partitions"),
                       ("migrate", "apply the pending migrations, make partitions ahead")):
        one = sub.add_parser(name, help=what, description=what)
        one.add_argument("--database-url", default=None, metavar="URL",
                         help=f"the database (default: env {env_name('database_url')})")
    return p


def _url(args: argparse.Namespace) -> str:
    raw = args.database_url or os.environ.get(env_name("database_url")) or None
    if raw is None:
        raise SettingError(f"no database: give --database-url or set "
                           f"{env_name('database_url')} (without one the adapter runs on "
                           "SQLite files, which need no migrations)")
    spec = next(s for s in specs() if s.field == "database_url")
    url: str = spec.parse(raw)
    return url


def _status(url: str) -> int:
    state = migrate.status(url)
    done = migrate.applied(url)
    print(f"database: {redact(url)}")
    print(state.describe())
    print("applied:" + ("" if done else " none"))
    for m in done:
        print(f"  {m.version:04d}_{m.name:<24} {m.applied_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z")
    print("pending: " + (", ".join(f"{m.version:04d}_{m.name}" for m in state.pending)
                         or "none"))
    found = partitions.existing(url)
    print("partitions:" + ("" if found else " none"))
    for table in partitions.TABLES:
        mine = [p for p in found if p.table == table]
        if mine:
            rows = ", ".join(f"{p.name} (~{max(p.rows, 0)} rows)" for p in mine)
            print(f"  {table}: {rows}")
    return 1 if state.current > state.latest else 0


def _migrate(url: str) -> int:
    try:
        done = migrate.migrate(url)
    except migrate.SchemaTooNew as exc:
        print(f"{PROG} migrate: the database at {redact(url)} has {exc}", file=sys.stderr)
        return 1
    for m in done:
        print(f"applied {m.version:04d}_{m.name}")
    made = partitions.ensure(url, datetime.now(UTC), ahead=PARTITIONS_AHEAD)
    for name in made:
        print(f"created partition {name}")
    print(migrate.status(url).describe())
    return 0


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        url = _url(args)
        return _status(url) if args.action == "status" else _migrate(url)
    except SettingError as exc:
        print(f"{PROG} {args.action}: --database-url / {env_name('database_url')}: {exc}",
              file=sys.stderr)
        return 2
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"{PROG} {args.action}: cannot use the database at {redact(url)}: "
              f"{redact(first)}", file=sys.stderr)
        return 2
