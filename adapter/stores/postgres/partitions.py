"""Monthly partitions of the payment journal and its status history, made ahead of time.

Both tables are range-partitioned on the payment id, a UUIDv7: its first 48 bits are the
creation time in Unix milliseconds (RFC 9562 §5.7), so the ids of one calendar month (UTC)
are the range [uuid(first ms of the month), uuid(first ms of the next month)).

Invariants:
- Rule 1: `ensure` creates the partitions for this month and `ahead` months after it, and
  nothing else; it is idempotent and safe to run from several processes at once (each
  CREATE is IF NOT EXISTS under the migrations' advisory lock).
- Rule 2: partition names carry the month (`payments_p202612`), so an operator can detach
  and archive a month by name.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from adapter.stores.postgres.migrate import LOCK_KEY

TABLES = ("payments", "payment_status_history")


def month_start(year: int, month: int) -> datetime:
    return datetime(year, month, 1, tzinfo=UTC)


def next_month(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def uuid_floor(moment: datetime) -> uuid.UUID:
    """The smallest UUIDv7 of this millisecond (all other bits zero)."""
    ms = int(moment.timestamp() * 1000)
    return uuid.UUID(int=ms << 80)


def months_from(now: datetime, ahead: int) -> list[tuple[int, int]]:
    out = [(now.year, now.month)]
    for _ in range(ahead):
        out.append(next_month(*out[-1]))
    return out


@dataclass(frozen=True)
class Partition:
    table: str
    name: str
    rows: int  # the planner's estimate (pg_class.reltuples); -1 before the first ANALYZE


def existing(conninfo: str, *, schema: str | None = None) -> list[Partition]:
    """The partitions of the journal and its history, by table then month."""
    with psycopg.connect(conninfo) as con, con.cursor() as cur:
        if schema is not None:
            cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        found: list[Partition] = []
        for table in TABLES:
            cur.execute("SELECT to_regclass(%s)", (table,))
            row = cur.fetchone()
            if row is None or row[0] is None:
                continue
            cur.execute("SELECT c.relname, c.reltuples::bigint FROM pg_inherits i"
                        " JOIN pg_class c ON c.oid = i.inhrelid"
                        " WHERE i.inhparent = %s::regclass ORDER BY c.relname", (table,))
            found.extend(Partition(table, name, int(rows)) for name, rows in cur.fetchall())
    return found


def ensure(conninfo: str, now: datetime, *, ahead: int = 2, schema: str | None = None) -> list[str]:
    """Create the missing partitions (Rule 1); the names of those created."""
    created: list[str] = []
    with psycopg.connect(conninfo) as con, con.transaction(), con.cursor() as cur:
        if schema is not None:
            cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        for year, month in months_from(now, ahead):
            low = uuid_floor(month_start(year, month))
            high = uuid_floor(month_start(*next_month(year, month)))
            for table in TABLES:
                name = f"{table}_p{year:04d}{month:02d}"
                cur.execute("SELECT to_regclass(%s)", (name,))
                row = cur.fetchone()
                if row is not None and row[0] is not None:
                    continue
                cur.execute(sql.SQL(
                    "CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier(name), sql.Identifier(table),
                    sql.Literal(str(low)), sql.Literal(str(high))))
                created.append(name)
    return created
