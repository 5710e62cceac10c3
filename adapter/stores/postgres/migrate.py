"""Schema migrations for the PostgreSQL store: numbered plain-SQL files, applied in order.

Files are `migrations/NNNN_name.sql`; the database records what it has in
`schema_migrations`. Invariants:
- Rule 1: one migrator at a time. Every run takes a transaction-level advisory lock, so N
  processes starting together apply each file exactly once; the others wait, then find
  nothing left to do.
- Rule 2: a file is applied in the same transaction as its `schema_migrations` row: it is
  applied whole or not at all.
- Rule 3: a database that records a version this code does not know (a newer adapter has
  migrated it) is refused with `SchemaTooNew`: old code must not write to a newer schema.
- Rule 4: applied files never change; adding a file is the only way to change the schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources

import psycopg
from psycopg import sql

# pg_advisory_xact_lock key: "bank-adapter migrations" folded into a bigint.
LOCK_KEY = 0x62616E6B_6D696772
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer adapter than this one."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@dataclass(frozen=True)
class SchemaStatus:
    current: int
    latest: int
    pending: tuple[Migration, ...]

    def describe(self) -> str:
        if self.current > self.latest:
            return (f"schema version {self.current}: NEWER than this adapter "
                    f"(knows up to {self.latest}); upgrade bank-adapter")
        if not self.pending:
            return f"schema version {self.current}: up to date"
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in self.pending)
        return f"schema version {self.current} of {self.latest}: pending {names}"


def known_migrations() -> tuple[Migration, ...]:
    folder = resources.files("adapter.stores.postgres") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    assert versions == list(range(1, len(found) + 1)), f"migrations must be 1..N: {versions}"
    return tuple(found)


def _ensure_table(cur: psycopg.Cursor[tuple[object, ...]]) -> None:
    cur.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
                       version integer PRIMARY KEY,
                       name text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())""")


def _current(cur: psycopg.Cursor[tuple[object, ...]]) -> int:
    cur.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
    row = cur.fetchone()
    return int(row[0]) if row else 0  # type: ignore[call-overload]


def status(conninfo: str, *, schema: str | None = None) -> SchemaStatus:
    known = known_migrations()
    with psycopg.connect(conninfo) as con, con.cursor() as cur:
        _use_schema(cur, schema)
        cur.execute("SELECT to_regclass('schema_migrations')")
        row = cur.fetchone()
        current = 0
        if row is not None and row[0] is not None:
            current = _current(cur)
    return SchemaStatus(current, len(known), tuple(m for m in known if m.version > current))


@dataclass(frozen=True)
class Applied:
    version: int
    name: str
    applied_at: datetime


def applied(conninfo: str, *, schema: str | None = None) -> list[Applied]:
    """The migrations the database records, oldest first (none on a fresh database)."""
    with psycopg.connect(conninfo) as con, con.cursor() as cur:
        _use_schema(cur, schema)
        cur.execute("SELECT to_regclass('schema_migrations')")
        row = cur.fetchone()
        if row is None or row[0] is None:
            return []
        cur.execute("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
        return [Applied(int(v), str(n), a) for v, n, a in cur.fetchall()]  # type: ignore[call-overload]


def migrate(conninfo: str, *, schema: str | None = None) -> list[Migration]:
    """Apply every pending migration (Rules 1-3); the list of those this call applied."""
    known = known_migrations()
    applied: list[Migration] = []
    with psycopg.connect(conninfo) as con, con.transaction(), con.cursor() as cur:
        _use_schema(cur, schema)
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        _ensure_table(cur)
        current = _current(cur)
        if current > len(known):
            raise SchemaTooNew(SchemaStatus(current, len(known), ()).describe())
        for m in known:
            if m.version <= current:
                continue
            cur.execute(m.sql.encode())
            cur.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (m.version, m.name))
            applied.append(m)
    return applied


def _use_schema(cur: psycopg.Cursor[tuple[object, ...]], schema: str | None) -> None:
    if schema is not None:
        cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
