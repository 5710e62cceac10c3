"""Ledger Rule 7: one identifier per booking. Both entries of a booking carry the posting's
transaction id; a reversal is a booking of its own; a ledger file made before the column
existed gets the same ids when it is opened. Balances are checked alongside."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from core_sim.ledger import Ledger


def _bookings(path: Path) -> list[tuple[int, str, int, str | None]]:
    con = sqlite3.connect(path)
    try:
        return con.execute(
            "SELECT id, account_id, amount_minor, booking FROM entries ORDER BY id").fetchall()
    finally:
        con.close()


def _book_and_reverse(ledger: Ledger) -> tuple[str, str]:
    first = ledger.post_transfer("REF000000001", "10000001", 1250, "EUR", "E2E-1",
                                 creditor_id="10000002")
    second = ledger.post_transfer("REF000000002", "10000002", 300, "EUR", "E2E-2",
                                  creditor_id="10000003")
    ledger.reverse("REF000000001")
    assert first.transaction_id is not None and second.transaction_id is not None
    return first.transaction_id, second.transaction_id


def test_both_entries_of_a_booking_carry_its_transaction_id(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "core.db")
    ledger.seed_demo()
    totals = ledger.totals()
    first, second = _book_and_reverse(ledger)
    history = ledger.history("10000001", None, 10)[0]
    ledger.close()
    assert (first, second) == ("TX000000000001", "TX000000000003")
    assert _bookings(tmp_path / "core.db") == [
        (1, "10000001", -1250, first), (2, "10000002", 1250, first),
        (3, "10000002", -300, second), (4, "10000003", 300, second),
        # The reversal: its own booking, named by its first entry.
        (5, "10000002", -1250, "TX000000000005"), (6, "10000001", 1250, "TX000000000005")]
    assert [(e.transaction_id, e.counterparty, e.counterparty_iban) for e in history] == [
        ("TX000000000005", "10000002", "DE02120300000000202051"),
        (first, "10000002", "DE02120300000000202051")]
    assert Ledger(tmp_path / "core.db").totals() == totals


def test_a_file_from_before_the_column_gets_the_same_ids(tmp_path: Path) -> None:
    fresh, old = tmp_path / "fresh.db", tmp_path / "old.db"
    for path in (fresh, old):
        ledger = Ledger(path)
        ledger.seed_demo()
        _book_and_reverse(ledger)
        ledger.close()
    con = sqlite3.connect(old)
    con.execute("ALTER TABLE entries DROP COLUMN booking")
    con.commit()
    con.close()

    reopened = Ledger(old)
    assert reopened.history("10000002", None, 10)[0][0].transaction_id == "TX000000000005"
    reopened.close()
    assert _bookings(old) == _bookings(fresh)
    Ledger(old).close()  # opening it again changes nothing
    assert _bookings(old) == _bookings(fresh)
