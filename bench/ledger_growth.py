"""Grow a core_sim ledger to a given number of entries, fast, without changing any balance.

`Ledger.post_transfer` books about 4-5k postings/s (one `BEGIN IMMEDIATE` each), so a million
entries would take minutes; here the same rows are written with `executemany` in large
transactions. The rows are exactly what `Ledger.post_transfer` writes (a posting, a debit entry,
a credit entry, both balances), in pairs that cancel out: A -> B then B -> A of one minor unit,
so every balance and `Ledger.totals()` is what it was, and each account's `balance_after`
chain stays true. The history of account A (and B) grows by one entry per posting.

Invariant: called on a ledger no process is writing to (the core is stopped while it grows).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core_sim.ledger import Ledger, booking_id

CHUNK = 20_000


def entry_count(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
    finally:
        con.close()


def grow(db: Path, target_entries: int, a: str = "10000001", b: str = "10000002") -> int:
    """Add balanced postings between `a` and `b` until the ledger has `target_entries` entries
    (rounded up to a multiple of 4); return the number of entries now."""
    ledger = Ledger(db)  # creates the schema if needed
    ledger.seed_demo()
    ledger.close()
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    try:
        have = int(con.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
        start_id = int(con.execute("SELECT COALESCE(MAX(id), 0) FROM entries").fetchone()[0])
        pairs = max(0, -(-(target_entries - have) // 4))
        bal = dict(con.execute("SELECT id, balance_minor FROM accounts WHERE id IN (?, ?)",
                               (a, b)).fetchall())
        currency = con.execute("SELECT currency FROM accounts WHERE id = ?", (a,)).fetchone()[0]
        # Spread over the last year so date filters see a realistic spread of value dates.
        base = datetime.now(UTC) - timedelta(days=365)
        step = timedelta(days=365) / max(1, pairs * 2)
        next_id = start_id + 1
        done = 0
        while done < pairs:
            n = min(CHUNK, pairs - done)
            postings = []
            entries = []
            for i in range(done, done + n):
                for leg, (debtor, creditor) in enumerate(((a, b), (b, a))):
                    ref = f"BULK{next_id:014d}"  # entry ids never repeat: nor do refs
                    when = base + step * (2 * i + leg)
                    stamp, day = when.isoformat(), when.date().isoformat()
                    # Both entries carry their booking's transaction id (ledger Rule 7).
                    booking = booking_id(next_id)
                    entries.append((next_id, ref, debtor, -1, bal[debtor] - 1, stamp, day,
                                    creditor, "BULK", None, booking))
                    entries.append((next_id + 1, ref, creditor, 1, bal[creditor] + 1, stamp,
                                    day, debtor, "BULK", None, booking))
                    postings.append((ref, "booked", debtor, creditor, 1, currency, "BULK", None,
                                     None, None, stamp, stamp, booking))
                    # Within a pair both accounts go -1/+1 then back: balance_after alternates.
                    bal[debtor] -= 1
                    bal[creditor] += 1
                    next_id += 2
            con.execute("BEGIN IMMEDIATE")
            con.executemany("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            entries)
            con.executemany("INSERT INTO postings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            postings)
            con.execute("COMMIT")
            done += n
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return int(con.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
    finally:
        con.close()
