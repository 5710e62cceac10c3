"""The simulated core's double-entry ledger, on SQLite in WAL mode.

Owns: accounts, billers, postings (one per adapter reference) and their entries.

Invariants:
- Rule 1: money is INTEGER minor units of the account's ISO 4217 currency; never a float.
- Rule 2: a posting writes its two entries and both balances in ONE `BEGIN IMMEDIATE`
  transaction; so the sum of balances per currency (`totals()`) never changes after seeding.
- Rule 3: a debit may not take the debtor below minus its overdraft limit. Reversals are
  forced (an ISO 8583 0420 advice must be honoured) and are the only exception.
- Rule 4: a reference is booked at most once. The same posting again is answered with the
  original (`replayed=True`) and changes nothing; anything else under a known reference
  (different details, or a reference that was cancelled or reversed) is DUPLICATE_REQUEST.
- Rule 5: `cancel` and `reverse` of a reference the ledger has never seen leave a tombstone, so
  the original arriving late is refused (Rule 4) and can never move money.
- Rule 6: history pages are keyset-paged on the entry id (newest first), never OFFSET.
- Rule 7: one identifier per booking: a booking's two entries carry its transaction id
  (`TX` + the debit entry's id, 12 digits), the one the posting answers with, so a payment
  and the history entries it made name it alike. A reversal is a booking of its own, with
  its own id. Files made before the column existed are filled in when opened.

Thread safety: one sqlite3 connection per thread; writers are serialised by a lock in this
process and by `BEGIN IMMEDIATE` across processes. Each commit in this process wakes
`wait_until`'s waiters (a test, an operator's tool), who look again: no polling.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from adapter.infra.checkpointer import BackgroundCheckpointer
from adapter.infra.logmask import mask
from core_sim.currencies import BY_ALPHA
from core_sim.demo_data import DEMO_ACCOUNTS

REFERENCE_RE = re.compile(r"^[A-Za-z0-9\-]{1,35}$")
BUSY_TIMEOUT_MS = 5000
MAX_HISTORY_LIMIT = 500

BOOKED, CANCELLED, REVERSED = "booked", "cancelled", "reversed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    iban TEXT UNIQUE,
    currency TEXT NOT NULL,
    name TEXT NOT NULL,
    balance_minor INTEGER NOT NULL,
    overdraft_minor INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('enabled', 'blocked')),
    kind TEXT NOT NULL CHECK (kind IN ('customer', 'biller'))
);
CREATE TABLE IF NOT EXISTS billers (
    biller_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS postings (
    reference TEXT PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('booked', 'cancelled', 'reversed')),
    debtor TEXT,
    creditor TEXT,
    amount_minor INTEGER,
    currency TEXT,
    end_to_end_id TEXT,
    remittance TEXT,
    customer_reference TEXT,
    biller_id TEXT,
    created_at TEXT NOT NULL,
    booked_at TEXT,
    transaction_id TEXT
);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    posting TEXT NOT NULL,
    account_id TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    booked_at TEXT NOT NULL,
    value_date TEXT NOT NULL,
    counterparty TEXT,
    end_to_end_id TEXT,
    remittance TEXT,
    booking TEXT
);
CREATE INDEX IF NOT EXISTS entries_by_account ON entries (account_id, id);
CREATE INDEX IF NOT EXISTS entries_by_posting ON entries (posting);
"""


class LedgerError(Exception):
    """A refusal with a stable code (the same codes as `adapter.model.errors`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def to_minor(amount: Decimal, currency: str) -> int:
    """Decimal -> minor units; VALIDATION if the currency is unknown or has fewer decimals."""
    cur = BY_ALPHA.get(currency)
    if cur is None:
        raise LedgerError("VALIDATION", f"unknown currency {currency!r}")
    minor = cur.to_minor(amount)
    if minor is None:
        raise LedgerError("VALIDATION", f"{currency} allows {cur.minor_units} decimal places")
    return minor


def from_minor(minor: int, currency: str) -> Decimal:
    return BY_ALPHA[currency].from_minor(minor)


@dataclass(frozen=True)
class AccountRow:
    account_id: str
    iban: str | None
    currency: str
    name: str
    balance_minor: int
    overdraft_minor: int
    status: str
    kind: str


@dataclass(frozen=True)
class Posting:
    reference: str
    state: str  # booked | cancelled | reversed
    debtor_id: str | None
    creditor_id: str | None
    amount_minor: int | None
    currency: str | None
    end_to_end_id: str | None
    remittance: str | None
    customer_reference: str | None
    biller_id: str | None
    created_at: datetime
    booked_at: datetime | None
    transaction_id: str | None
    replayed: bool = False


@dataclass(frozen=True)
class Entry:
    entry_id: int
    reference: str
    account_id: str
    currency: str
    amount_minor: int  # signed: negative is a debit
    balance_after: int
    booked_at: datetime
    value_date: date
    counterparty: str | None
    end_to_end_id: str | None
    remittance: str | None
    transaction_id: str  # the booking's (Rule 7)
    counterparty_iban: str | None = None


def booking_id(first_entry_id: int) -> str:
    return f"TX{first_entry_id:012d}"


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _posting(row: sqlite3.Row) -> Posting:
    created = _dt(row["created_at"])
    assert created is not None
    return Posting(
        reference=row["reference"], state=row["state"], debtor_id=row["debtor"],
        creditor_id=row["creditor"], amount_minor=row["amount_minor"], currency=row["currency"],
        end_to_end_id=row["end_to_end_id"], remittance=row["remittance"],
        customer_reference=row["customer_reference"], biller_id=row["biller_id"],
        created_at=created, booked_at=_dt(row["booked_at"]),
        transaction_id=row["transaction_id"],
    )


def _account(row: sqlite3.Row) -> AccountRow:
    return AccountRow(
        account_id=row["id"], iban=row["iban"], currency=row["currency"], name=row["name"],
        balance_minor=row["balance_minor"], overdraft_minor=row["overdraft_minor"],
        status=row["status"], kind=row["kind"],
    )


def encode_cursor(account_id: str, entry_id: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{account_id}:{entry_id}".encode()).decode().rstrip("=")


def decode_cursor(account_id: str, cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, owner, entry_id = raw.split(":")
        if version != "v1" or owner != account_id:
            raise ValueError(raw)
        return int(entry_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise LedgerError("VALIDATION", "the cursor is not valid for this account") from None


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Ledger:
    def __init__(self, path: Path, *, clock: Callable[[], datetime] | None = None) -> None:
        self.path = Path(path)
        # Booking times come from here: tests inject a fixed clock to assert exact bytes.
        self._now = clock or _utc_now
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._committed = threading.Condition()
        self._waiting = 0  # threads in wait_until: a commit with none wakes nobody
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        con = self._con()
        con.executescript(_SCHEMA)
        self._add_booking_column(con)
        # No commit waits for a WAL checkpoint: a background thread runs them (see there).
        self._checkpointer = BackgroundCheckpointer(self.path).start()

    def _add_booking_column(self, con: sqlite3.Connection) -> None:
        """Rule 7 for a ledger file made before `entries.booking` existed."""
        columns = {row["name"] for row in con.execute("PRAGMA table_info(entries)")}
        if "booking" in columns:
            return
        with self._write() as write:
            columns = {row["name"] for row in write.execute("PRAGMA table_info(entries)")}
            if "booking" not in columns:  # another process may have added it meanwhile
                write.execute("ALTER TABLE entries ADD COLUMN booking TEXT")
                # A posting's entries, in id order, are pairs (its booking, then its
                # reversal); each pair is named by its first entry.
                rows = write.execute("SELECT id, posting FROM entries ORDER BY posting, id")
                pairs: dict[str, list[int]] = {}
                for row in rows.fetchall():
                    pairs.setdefault(row["posting"], []).append(row["id"])
                write.executemany("UPDATE entries SET booking = ? WHERE id = ?", [
                    (booking_id(ids[i - i % 2]), ids[i])
                    for ids in pairs.values() for i in range(len(ids))])

    # -- connections ------------------------------------------------------------------------

    def _con(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            # isolation_level=None: transactions are opened explicitly (BEGIN IMMEDIATE), so a
            # write never starts as a reader and fails to upgrade under contention.
            # check_same_thread=False only so close() can close every thread's connection; each
            # connection is still used by its own thread alone.
            con = sqlite3.connect(self.path, isolation_level=None,
                                  timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            BackgroundCheckpointer.disable_auto(con)
            self._local.con = con
            with self._connections_lock:
                self._connections.append(con)
        return con

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        con = self._con()
        with self._write_lock:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
            if self._waiting:
                with self._committed:
                    self._committed.notify_all()

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Block until `condition()` (which may read the ledger) holds, looking again after
        each commit made in this process; False if it did not within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._committed:
            self._waiting += 1
            try:
                while not condition():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._committed.wait(remaining)
            finally:
                self._waiting -= 1
        return True

    def close(self) -> None:
        """Close every thread's connection (call once no thread uses the ledger any more)."""
        self._checkpointer.stop()
        with self._connections_lock:
            for con in self._connections:
                # A connection made in another thread may refuse; the GC closes it.
                with contextlib.suppress(sqlite3.ProgrammingError):
                    con.close()
            self._connections.clear()
        self._local = threading.local()

    # -- seeding ------------------------------------------------------------------------------

    def seed_demo(self) -> None:
        """Load `demo_data.DEMO_ACCOUNTS`; accounts that exist already are left untouched."""
        with self._write() as con:
            for a in DEMO_ACCOUNTS:
                balance = to_minor(Decimal(a.balance), a.currency)
                overdraft = to_minor(Decimal(a.overdraft), a.currency)
                con.execute(
                    "INSERT OR IGNORE INTO accounts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (a.account_id, a.iban, a.currency, a.name, balance, overdraft, a.status,
                     a.kind),
                )
                if a.biller_id:
                    con.execute(
                        "INSERT OR IGNORE INTO billers VALUES (?, ?, ?)",
                        (a.biller_id, a.account_id, a.name),
                    )

    def add_account(self, account_id: str, currency: str, name: str, balance_minor: int, *,
                    iban: str | None = None, overdraft_minor: int = 0,
                    status: str = "enabled") -> None:
        """Open an extra customer account (tests); its opening balance adds to `totals()`."""
        with self._write() as con:
            con.execute(
                "INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?, ?, 'customer')",
                (account_id, iban, currency, name, balance_minor, overdraft_minor, status),
            )

    def set_status(self, account_id: str, status: str) -> None:
        with self._write() as con:
            cur = con.execute("UPDATE accounts SET status = ? WHERE id = ?", (status, account_id))
            if cur.rowcount == 0:
                raise LedgerError("ACCOUNT_NOT_FOUND", f"account {mask(account_id)} not found")

    # -- reads --------------------------------------------------------------------------------

    def list_accounts(self) -> list[AccountRow]:
        rows = self._con().execute("SELECT * FROM accounts ORDER BY id").fetchall()
        return [_account(r) for r in rows]

    def get_account(self, account_id: str | None = None, iban: str | None = None) -> AccountRow:
        if (account_id is None) == (iban is None):
            raise LedgerError("VALIDATION", "name the account by exactly one of id or IBAN")
        if account_id is not None:
            row = self._con().execute("SELECT * FROM accounts WHERE id = ?",
                                      (account_id,)).fetchone()
        else:
            row = self._con().execute("SELECT * FROM accounts WHERE iban = ?",
                                      (iban,)).fetchone()
        if row is None:
            raise LedgerError("ACCOUNT_NOT_FOUND",
                              f"account {mask(account_id or iban)} not found")
        return _account(row)

    def balance(self, account_id: str) -> tuple[int, int, str]:
        """(booked, available, currency); available adds the overdraft limit."""
        a = self.get_account(account_id)
        return a.balance_minor, a.balance_minor + a.overdraft_minor, a.currency

    def transfer_status(self, reference: str) -> Posting | None:
        row = self._con().execute("SELECT * FROM postings WHERE reference = ?",
                                  (reference,)).fetchone()
        return _posting(row) if row is not None else None

    def totals(self) -> dict[str, int]:
        """Sum of balances per currency: constant after seeding (Rule 2)."""
        rows = self._con().execute(
            "SELECT currency, SUM(balance_minor) FROM accounts GROUP BY currency ORDER BY currency"
        ).fetchall()
        return {r[0]: int(r[1]) for r in rows}

    def entry_count(self, reference: str) -> int:
        """How many entries the posting under `reference` wrote (2 booked, 4 once reversed)."""
        row = self._con().execute("SELECT COUNT(*) FROM entries WHERE posting = ?",
                                  (reference,)).fetchone()
        return int(row[0])

    def history(self, account_id: str, cursor: str | None, limit: int,
                from_date: date | None = None,
                to_date: date | None = None) -> tuple[list[Entry], str | None]:
        """Entries of one account, newest first, and the cursor of the next page (or None)."""
        if not 1 <= limit <= MAX_HISTORY_LIMIT:
            raise LedgerError("VALIDATION", f"limit must be 1 to {MAX_HISTORY_LIMIT}")
        if from_date and to_date and from_date > to_date:
            raise LedgerError("VALIDATION", "from_date must not be after to_date")
        account = self.get_account(account_id)
        sql = ("SELECT e.*, c.iban AS counterparty_iban FROM entries AS e "
               "LEFT JOIN accounts AS c ON c.id = e.counterparty WHERE e.account_id = ?")
        args: list[object] = [account_id]
        if cursor:
            sql += " AND e.id < ?"
            args.append(decode_cursor(account_id, cursor))
        if from_date:
            sql += " AND e.value_date >= ?"
            args.append(from_date.isoformat())
        if to_date:
            sql += " AND e.value_date <= ?"
            args.append(to_date.isoformat())
        sql += " ORDER BY e.id DESC LIMIT ?"
        args.append(limit + 1)
        rows = self._con().execute(sql, args).fetchall()
        entries = [
            Entry(
                entry_id=r["id"], reference=r["posting"], account_id=r["account_id"],
                currency=account.currency, amount_minor=r["amount_minor"],
                balance_after=r["balance_after"], booked_at=datetime.fromisoformat(r["booked_at"]),
                value_date=date.fromisoformat(r["value_date"]), counterparty=r["counterparty"],
                end_to_end_id=r["end_to_end_id"], remittance=r["remittance"],
                transaction_id=r["booking"], counterparty_iban=r["counterparty_iban"],
            )
            for r in rows[:limit]
        ]
        next_cursor = encode_cursor(account_id, entries[-1].entry_id) if len(rows) > limit else None
        return entries, next_cursor

    # -- writes -------------------------------------------------------------------------------

    def post_transfer(self, reference: str, debtor_id: str, amount_minor: int, currency: str,
                      end_to_end_id: str, *, creditor_id: str | None = None,
                      biller_id: str | None = None, customer_reference: str | None = None,
                      remittance: str | None = None) -> Posting:
        """Book `amount_minor` from the debtor to the creditor (or the biller's account)."""
        if not REFERENCE_RE.match(reference or ""):
            raise LedgerError("VALIDATION", "reference must be 1 to 35 letters, digits or '-'")
        if (creditor_id is None) == (biller_id is None):
            raise LedgerError("VALIDATION", "name exactly one of creditor account or biller")
        if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) \
                or amount_minor <= 0:
            raise LedgerError("VALIDATION", "amount must be greater than zero")
        if currency not in BY_ALPHA:
            raise LedgerError("VALIDATION", f"unknown currency {currency!r}")
        if not end_to_end_id:
            raise LedgerError("VALIDATION", "end-to-end id is required")

        with self._write() as con:
            existing = con.execute("SELECT * FROM postings WHERE reference = ?",
                                   (reference,)).fetchone()
            if existing is not None:
                return self._replay(con, _posting(existing), debtor_id, creditor_id, biller_id,
                                    amount_minor, currency, end_to_end_id, customer_reference,
                                    remittance)

            debtor = self._account_row(con, debtor_id)
            if biller_id is not None:
                row = con.execute("SELECT account_id FROM billers WHERE biller_id = ?",
                                  (biller_id,)).fetchone()
                if row is None:
                    raise LedgerError("BILLER_NOT_FOUND", f"biller {biller_id} not found")
                creditor = self._account_row(con, row["account_id"])
            else:
                assert creditor_id is not None
                creditor = self._account_row(con, creditor_id)
            if creditor.account_id == debtor.account_id:
                raise LedgerError("VALIDATION", "debtor and creditor must be different accounts")
            for side in (debtor, creditor):
                if side.status != "enabled":
                    raise LedgerError("ACCOUNT_BLOCKED",
                                      f"account {mask(side.account_id)} is blocked")
            for side in (debtor, creditor):
                if side.currency != currency:
                    raise LedgerError(
                        "CURRENCY_MISMATCH",
                        f"account {mask(side.account_id)} is held in {side.currency}",
                    )
            if debtor.balance_minor - amount_minor < -debtor.overdraft_minor:
                raise LedgerError("INSUFFICIENT_FUNDS", "insufficient funds")

            now = self._now()
            transaction_id = self._booking(con, reference, debtor.account_id,
                                           creditor.account_id, amount_minor, end_to_end_id,
                                           remittance, now)
            posting = Posting(
                reference=reference, state=BOOKED, debtor_id=debtor.account_id,
                creditor_id=creditor.account_id, amount_minor=amount_minor, currency=currency,
                end_to_end_id=end_to_end_id, remittance=remittance,
                customer_reference=customer_reference, biller_id=biller_id, created_at=now,
                booked_at=now, transaction_id=transaction_id,
            )
            self._insert_posting(con, posting)
            return posting

    def cancel(self, reference: str) -> Posting:
        """The fence: BOOKED stays booked; an unknown reference becomes a CANCELLED tombstone."""
        if not REFERENCE_RE.match(reference or ""):
            raise LedgerError("VALIDATION", "reference must be 1 to 35 letters, digits or '-'")
        with self._write() as con:
            row = con.execute("SELECT * FROM postings WHERE reference = ?",
                              (reference,)).fetchone()
            if row is not None:
                return _posting(row)
            tombstone = self._tombstone(reference, CANCELLED)
            self._insert_posting(con, tombstone)
            return tombstone

    def reverse(self, reference: str, *, debtor_id: str | None = None,
                amount_minor: int | None = None, currency: str | None = None,
                end_to_end_id: str | None = None) -> Posting:
        """ISO 8583 reversal: undo a booked posting with compensating entries (forced, Rule 3);
        fence an unknown one with a REVERSED tombstone; leave a cancelled/reversed one as is.

        The optional details describe the original as the reversal message carries them; they
        are recorded on a tombstone for the audit trail and never move money."""
        if not REFERENCE_RE.match(reference or ""):
            raise LedgerError("VALIDATION", "reference must be 1 to 35 letters, digits or '-'")
        with self._write() as con:
            row = con.execute("SELECT * FROM postings WHERE reference = ?",
                              (reference,)).fetchone()
            if row is None:
                tombstone = replace(
                    self._tombstone(reference, REVERSED), debtor_id=debtor_id,
                    amount_minor=amount_minor, currency=currency, end_to_end_id=end_to_end_id,
                )
                self._insert_posting(con, tombstone)
                return tombstone
            posting = _posting(row)
            if posting.state != BOOKED:
                return posting
            assert posting.debtor_id and posting.creditor_id and posting.amount_minor
            self._booking(con, reference, posting.creditor_id, posting.debtor_id,
                          posting.amount_minor, posting.end_to_end_id, "REVERSAL", self._now())
            con.execute("UPDATE postings SET state = ? WHERE reference = ?",
                        (REVERSED, reference))
            return replace(posting, state=REVERSED)

    # -- helpers ------------------------------------------------------------------------------

    def _tombstone(self, reference: str, state: str) -> Posting:
        return Posting(
            reference=reference, state=state, debtor_id=None, creditor_id=None,
            amount_minor=None, currency=None, end_to_end_id=None, remittance=None,
            customer_reference=None, biller_id=None, created_at=self._now(),
            booked_at=None, transaction_id=None,
        )

    @staticmethod
    def _insert_posting(con: sqlite3.Connection, p: Posting) -> None:
        con.execute(
            "INSERT INTO postings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (p.reference, p.state, p.debtor_id, p.creditor_id, p.amount_minor, p.currency,
             p.end_to_end_id, p.remittance, p.customer_reference, p.biller_id,
             p.created_at.isoformat(), p.booked_at.isoformat() if p.booked_at else None,
             p.transaction_id),
        )

    @staticmethod
    def _account_row(con: sqlite3.Connection, account_id: str) -> AccountRow:
        # No row lock is taken, nor needed: postings run inside `_write()`'s BEGIN IMMEDIATE,
        # which holds SQLite's one write lock, so no other writer changes the row meanwhile.
        row = con.execute("SELECT * FROM accounts WHERE id = ?", (account_id,)).fetchone()
        if row is None:
            raise LedgerError("ACCOUNT_NOT_FOUND", f"account {mask(account_id)} not found")
        return _account(row)

    @classmethod
    def _booking(cls, con: sqlite3.Connection, reference: str, debit_id: str, credit_id: str,
                 amount_minor: int, end_to_end_id: str | None, remittance: str | None,
                 now: datetime) -> str:
        """One booking: the debit and the credit entry, both under its id (Rule 7)."""
        # The entry ids are known before the inserts, so both rows are written whole: under
        # `_write()`'s BEGIN IMMEDIATE no other writer takes the next AUTOINCREMENT ids.
        row = con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'entries'").fetchone()
        first = (row[0] if row is not None else 0) + 1
        transaction_id = booking_id(first)
        booked = (now.isoformat(), now.date().isoformat(), end_to_end_id, remittance,
                  transaction_id)
        cls._entry(con, first, reference, debit_id, -amount_minor, credit_id, booked)
        cls._entry(con, first + 1, reference, credit_id, amount_minor, debit_id, booked)
        return transaction_id

    @staticmethod
    def _entry(con: sqlite3.Connection, entry_id: int, reference: str, account_id: str,
               amount_minor: int, counterparty: str, booked: tuple[str | None, ...]) -> None:
        """`booked`: what both entries of a booking share (booked_at, value_date,
        end_to_end_id, remittance, booking)."""
        row = con.execute(
            "UPDATE accounts SET balance_minor = balance_minor + ? WHERE id = ? "
            "RETURNING balance_minor",
            (amount_minor, account_id),
        ).fetchone()
        con.execute(
            "INSERT INTO entries (id, posting, account_id, amount_minor, balance_after, "
            "counterparty, booked_at, value_date, end_to_end_id, remittance, booking) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry_id, reference, account_id, amount_minor, row[0], counterparty, *booked),
        )

    @staticmethod
    def _replay(con: sqlite3.Connection, original: Posting, debtor_id: str,
                creditor_id: str | None, biller_id: str | None, amount_minor: int,
                currency: str, end_to_end_id: str, customer_reference: str | None,
                remittance: str | None) -> Posting:
        if original.state != BOOKED:
            raise LedgerError("DUPLICATE_REQUEST",
                              f"reference {original.reference} was {original.state}")
        if biller_id is not None:
            row = con.execute("SELECT account_id FROM billers WHERE biller_id = ?",
                              (biller_id,)).fetchone()
            creditor_id = row["account_id"] if row is not None else None
        same = (
            original.debtor_id == debtor_id and original.creditor_id == creditor_id
            and original.biller_id == biller_id and original.amount_minor == amount_minor
            and original.currency == currency and original.end_to_end_id == end_to_end_id
            and original.customer_reference == customer_reference
            and original.remittance == remittance
        )
        if not same:
            raise LedgerError("DUPLICATE_REQUEST",
                              f"reference {original.reference} was used for another posting")
        return replace(original, replayed=True)
