"""The simulated core's ledger: double entry, idempotency by reference, fences, history."""

from __future__ import annotations

import random
import threading
from datetime import date
from pathlib import Path

import pytest

from core_sim.demo_data import DEMO_ACCOUNTS, demo_table_markdown
from core_sim.ledger import Ledger, LedgerError, decode_cursor, encode_cursor

SEEDED_TOTALS = {"EUR": 1_750_000, "JPY": 1_000_000, "USD": 800_000}


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    led = Ledger(tmp_path / "ledger.db")
    led.seed_demo()
    return led


def test_seed_demo_is_idempotent_and_matches_the_table(ledger: Ledger) -> None:
    """Seeding twice leaves exactly the demo accounts with their opening balances."""
    ledger.seed_demo()
    accounts = ledger.list_accounts()
    assert [a.account_id for a in accounts] == sorted(a.account_id for a in DEMO_ACCOUNTS)
    assert ledger.totals() == SEEDED_TOTALS
    assert ledger.balance("10000002") == (250_000, 300_000, "EUR")
    assert ledger.balance("10000005") == (1_000_000, 1_000_000, "JPY")
    assert ledger.get_account(iban="DE89370400440532013000").account_id == "10000001"
    assert ledger.get_account("10000006").status == "blocked"
    assert "| 10000001 | Alice GmbH | EUR | DE89370400440532013000 |" in demo_table_markdown()


def test_transfer_books_two_entries_in_one_posting(ledger: Ledger) -> None:
    """A transfer debits one account, credits the other and writes exactly two entries."""
    p = ledger.post_transfer("REF000000001", "10000001", 1250, "EUR", "E2E-1",
                             creditor_id="10000002", remittance="invoice 7")
    assert (p.state, p.amount_minor, p.replayed) == ("booked", 1250, False)
    assert p.transaction_id is not None and p.transaction_id.startswith("TX")
    assert ledger.balance("10000001")[0] == 998_750
    assert ledger.balance("10000002")[0] == 251_250
    assert ledger.entry_count("REF000000001") == 2
    assert ledger.totals() == SEEDED_TOTALS


def test_bill_payment_credits_the_billers_account(ledger: Ledger) -> None:
    """A payment to biller ELEC01 lands on its account 90000001."""
    p = ledger.post_transfer("REF000000002", "10000003", 4999, "EUR", "E2E-2",
                             biller_id="ELEC01", customer_reference="CUST-42")
    assert (p.creditor_id, p.biller_id, p.customer_reference) == ("90000001", "ELEC01", "CUST-42")
    assert ledger.balance("90000001")[0] == 4999


def test_same_reference_same_details_is_replayed_without_moving_money(ledger: Ledger) -> None:
    """Posting the same reference with the same details returns the original, flagged replayed."""
    first = ledger.post_transfer("REF000000003", "10000001", 100, "EUR", "E2E-3",
                                 creditor_id="10000002")
    again = ledger.post_transfer("REF000000003", "10000001", 100, "EUR", "E2E-3",
                                 creditor_id="10000002")
    assert again.replayed is True
    assert (again.transaction_id, again.booked_at) == (first.transaction_id, first.booked_at)
    assert ledger.balance("10000001")[0] == 999_900
    assert ledger.entry_count("REF000000003") == 2


def test_same_reference_different_details_is_a_duplicate(ledger: Ledger) -> None:
    """A different posting under a known reference is DUPLICATE_REQUEST and changes nothing."""
    ledger.post_transfer("REF000000004", "10000001", 100, "EUR", "E2E-4", creditor_id="10000002")
    with pytest.raises(LedgerError) as err:
        ledger.post_transfer("REF000000004", "10000001", 101, "EUR", "E2E-4",
                             creditor_id="10000002")
    assert err.value.code == "DUPLICATE_REQUEST"
    assert ledger.balance("10000001")[0] == 999_900


@pytest.mark.parametrize(
    ("debtor", "amount", "currency", "creditor", "biller", "code"),
    [
        ("10000002", 300_001, "EUR", "10000001", None, "INSUFFICIENT_FUNDS"),
        ("10000001", 100, "USD", "10000002", None, "CURRENCY_MISMATCH"),
        ("10000001", 100, "EUR", "10000004", None, "CURRENCY_MISMATCH"),
        ("10000001", 100, "EUR", "10000006", None, "ACCOUNT_BLOCKED"),
        ("10000006", 100, "EUR", "10000001", None, "ACCOUNT_BLOCKED"),
        ("99999999", 100, "EUR", "10000001", None, "ACCOUNT_NOT_FOUND"),
        ("10000001", 100, "EUR", "99999999", None, "ACCOUNT_NOT_FOUND"),
        ("10000001", 100, "EUR", None, "NOPE01", "BILLER_NOT_FOUND"),
        ("10000001", 100, "EUR", "10000001", None, "VALIDATION"),
        ("10000001", 0, "EUR", "10000002", None, "VALIDATION"),
        ("10000001", -5, "EUR", "10000002", None, "VALIDATION"),
        ("10000001", 100, "XXX", "10000002", None, "VALIDATION"),
        ("10000001", 100, "EUR", None, None, "VALIDATION"),
    ],
)
def test_refusals_have_exact_codes_and_change_nothing(
    ledger: Ledger, debtor: str, amount: int, currency: str, creditor: str | None,
    biller: str | None, code: str,
) -> None:
    """Each business rule refuses with its stable code and leaves balances and postings alone."""
    before = [(a.account_id, a.balance_minor) for a in ledger.list_accounts()]
    with pytest.raises(LedgerError) as err:
        ledger.post_transfer("REF000000005", debtor, amount, currency, "E2E-5",
                             creditor_id=creditor, biller_id=biller)
    assert err.value.code == code
    assert [(a.account_id, a.balance_minor) for a in ledger.list_accounts()] == before
    assert ledger.transfer_status("REF000000005") is None


def test_overdraft_allows_exactly_down_to_the_limit(ledger: Ledger) -> None:
    """Bob (2500.00, overdraft 500.00) may go to exactly -500.00 and not one cent further."""
    ledger.post_transfer("REF000000006", "10000002", 300_000, "EUR", "E2E-6",
                         creditor_id="10000001")
    assert ledger.balance("10000002") == (-50_000, 0, "EUR")
    with pytest.raises(LedgerError) as err:
        ledger.post_transfer("REF000000007", "10000002", 1, "EUR", "E2E-7",
                             creditor_id="10000001")
    assert err.value.code == "INSUFFICIENT_FUNDS"


def test_cancel_of_a_booked_posting_leaves_it_booked(ledger: Ledger) -> None:
    """The fence never undoes money that moved: a booked posting stays booked."""
    ledger.post_transfer("REF000000008", "10000001", 500, "EUR", "E2E-8", creditor_id="10000002")
    assert ledger.cancel("REF000000008").state == "booked"
    assert ledger.balance("10000001")[0] == 999_500


def test_cancel_of_an_unknown_reference_fences_a_late_original(ledger: Ledger) -> None:
    """Cancelling an unseen reference leaves a tombstone; the original arriving later is refused."""
    assert ledger.cancel("REF000000009").state == "cancelled"
    assert ledger.cancel("REF000000009").state == "cancelled"
    with pytest.raises(LedgerError) as err:
        ledger.post_transfer("REF000000009", "10000001", 500, "EUR", "E2E-9",
                             creditor_id="10000002")
    assert err.value.code == "DUPLICATE_REQUEST"
    assert ledger.balance("10000001")[0] == 1_000_000
    assert ledger.entry_count("REF000000009") == 0


def test_reverse_of_a_booked_posting_restores_both_balances(ledger: Ledger) -> None:
    """A reversal books compensating entries once; a second reversal changes nothing."""
    ledger.post_transfer("REF000000010", "10000001", 700, "EUR", "E2E-10", creditor_id="10000003")
    assert ledger.reverse("REF000000010").state == "reversed"
    assert ledger.reverse("REF000000010").state == "reversed"
    assert ledger.balance("10000001")[0] == 1_000_000
    assert ledger.balance("10000003")[0] == 500_000
    assert ledger.entry_count("REF000000010") == 4
    with pytest.raises(LedgerError) as err:
        ledger.post_transfer("REF000000010", "10000001", 700, "EUR", "E2E-10",
                             creditor_id="10000003")
    assert err.value.code == "DUPLICATE_REQUEST"


def test_reverse_of_an_unknown_reference_moves_nothing_and_fences(ledger: Ledger) -> None:
    """Reversing a never-booked reference changes no balance and refuses the late original."""
    tomb = ledger.reverse("REF000000011", debtor_id="10000001", amount_minor=700, currency="EUR")
    assert (tomb.state, tomb.amount_minor) == ("reversed", 700)
    assert ledger.totals() == SEEDED_TOTALS
    assert ledger.balance("10000001")[0] == 1_000_000
    with pytest.raises(LedgerError) as err:
        ledger.post_transfer("REF000000011", "10000001", 700, "EUR", "E2E-11",
                             creditor_id="10000002")
    assert err.value.code == "DUPLICATE_REQUEST"
    assert ledger.cancel("REF000000011").state == "reversed"


def test_history_pages_by_cursor_newest_first_without_gaps(ledger: Ledger) -> None:
    """Paging 23 entries by 5 returns each exactly once, newest first, then no cursor."""
    for i in range(23):
        ledger.post_transfer(f"HIST{i:08d}", "10000001", i + 1, "EUR", f"E2E-H{i}",
                             creditor_id="10000002")
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        entries, cursor = ledger.history("10000001", cursor, 5)
        seen += [e.entry_id for e in entries]
        pages += 1
        if cursor is None:
            break
    assert pages == 5
    assert len(seen) == 23 == len(set(seen))
    assert seen == sorted(seen, reverse=True)
    newest = ledger.history("10000001", None, 1)[0][0]
    assert (newest.amount_minor, newest.counterparty, newest.balance_after) == (
        -23, "10000002", 1_000_000 - sum(range(1, 24)))


def test_history_date_filter_and_bad_cursor(ledger: Ledger) -> None:
    """Entries outside the date range are left out; a cursor of another account is VALIDATION."""
    ledger.post_transfer("REF000000012", "10000001", 5, "EUR", "E2E-12", creditor_id="10000002")
    today = date.today()
    assert len(ledger.history("10000001", None, 10, from_date=today, to_date=today)[0]) == 1
    assert ledger.history("10000001", None, 10, to_date=date(2000, 1, 1))[0] == []
    assert decode_cursor("10000001", encode_cursor("10000001", 9)) == 9
    for bad in (encode_cursor("10000002", 9), "not-a-cursor", "!!"):
        with pytest.raises(LedgerError) as err:
            ledger.history("10000001", bad, 10)
        assert err.value.code == "VALIDATION"


def test_concurrent_random_transfers_conserve_money(ledger: Ledger) -> None:
    """Eight threads of random transfers, replays and fences keep every invariant of the ledger."""
    eur = ["10000001", "10000002", "10000003", "90000001"]
    overdraft = {a.account_id: a.overdraft_minor for a in ledger.list_accounts()}
    booked: dict[str, tuple[str, str, int]] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for i in range(60):
                # References overlap across threads so that replays and races on one reference
                # really happen.
                ref = f"C{rng.randrange(300):011d}"
                debtor, creditor = rng.sample(eur, 2)
                amount = rng.randrange(1, 150_000)
                if rng.random() < 0.1:
                    ledger.cancel(ref)
                    continue
                try:
                    p = ledger.post_transfer(ref, debtor, amount, "EUR", f"E2E-{seed}-{i}",
                                             creditor_id=creditor)
                except LedgerError as exc:
                    assert exc.code in ("INSUFFICIENT_FUNDS", "DUPLICATE_REQUEST"), exc
                    continue
                with lock:
                    assert p.debtor_id and p.creditor_id and p.amount_minor
                    booked.setdefault(ref, (p.debtor_id, p.creditor_id, p.amount_minor))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert ledger.totals() == SEEDED_TOTALS
    for account in ledger.list_accounts():
        assert account.balance_minor >= -overdraft[account.account_id]
    expected = {a.account_id: a.balance_minor for a in ledger.list_accounts()}
    fresh = Ledger(ledger.path)
    fresh.seed_demo()  # no-op: proves balances are what the entries say, recomputed below
    for ref, (debtor, creditor, amount) in booked.items():
        posting = fresh.transfer_status(ref)
        assert posting is not None and posting.state == "booked"
        assert (posting.debtor_id, posting.creditor_id, posting.amount_minor) == (
            debtor, creditor, amount)
        assert fresh.entry_count(ref) == 2
    opening = {a.account_id: a for a in DEMO_ACCOUNTS}
    for account_id, balance in expected.items():
        entries, cursor = fresh.history(account_id, None, 500)
        assert cursor is None
        delta = sum(e.amount_minor for e in entries)
        start = int(opening[account_id].balance.replace(".", "")) if account_id in opening else 0
        assert start + delta == balance
    assert len(booked) > 50


def test_wait_until_wakes_at_the_commit_that_makes_it_true(ledger: Ledger) -> None:
    """A waiter for a balance returns True once another thread's posting commits it, and
    False at its timeout when nothing does."""
    assert ledger.wait_until(lambda: ledger.balance("10000001")[0] == 998_750, 0.01) is False
    poster = threading.Thread(target=lambda: ledger.post_transfer(
        "REF000000009", "10000001", 1250, "EUR", "E2E-9", creditor_id="10000002"))
    poster.start()
    assert ledger.wait_until(lambda: ledger.balance("10000001")[0] == 998_750, 10) is True
    poster.join(10)
    assert ledger.balance("10000002")[0] == 251_250
