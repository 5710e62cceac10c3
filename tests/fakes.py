"""The fakes of every port, for service unit tests.

- `FakeCore`: an in-memory core, a tiny ledger behind the CorePort contract. `script` lets a
  test decide what the next `post` does: book and answer, book and lose the answer, fail
  before delivery, or raise a business error.
- The storage ports' fakes are the in-memory backends (`adapter.stores.memory`), re-exported
  here: they implement the ports' real semantics and pass the same contract suites as the
  SQLite backend (tests/contract/), so a service test on them means what it says.

Fakes stand in for ports in unit tests only; contract and end-to-end tests use core_sim.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from adapter.model import Account, AccountRef, Balance, HistoryQuery, Money, TransactionPage
from adapter.model.errors import (
    AccountNotFound,
    AdapterError,
    CoreUnavailable,
    DuplicateRequest,
    InsufficientFunds,
)
from adapter.ports.core import CoreBooking, CoreBookingState, CoreOutcomeUnknown, CorePosting
from adapter.stores.memory import MemoryNonceStore, MemoryReversalStore, MemoryStore


@dataclass
class FakeCore:
    accounts: dict[str, Account] = field(default_factory=dict)
    balances: dict[str, Decimal] = field(default_factory=dict)
    postings: dict[str, CoreBooking] = field(default_factory=dict)
    script: deque[str] = field(default_factory=deque)  # "ok" | "lose_reply" | "unavailable"
    resolve_fails: int = 0
    post_calls: int = 0
    resolve_calls: int = 0

    def add(self, account_id: str, currency: str, balance: str, iban: str | None = None) -> None:
        self.accounts[account_id] = Account(id=account_id, iban=iban, currency=currency,
                                            name=f"acct {account_id}")
        self.balances[account_id] = Decimal(balance)

    async def list_accounts(self, *, timeout: float) -> list[Account]:
        return list(self.accounts.values())

    async def get_account(self, ref: AccountRef, *, timeout: float) -> Account:
        for account in self.accounts.values():
            if ref.id == account.id or (ref.iban is not None and ref.iban == account.iban):
                return account
        raise AccountNotFound()

    async def get_balance(self, account_id: str, *, timeout: float) -> Balance:
        account = self.accounts[account_id]
        money = Money(amount=self.balances[account_id], currency=account.currency)
        return Balance(account_id=account_id, booked=money, available=money,
                       as_of=datetime.now(UTC))

    async def get_history(self, account_id: str, query: HistoryQuery, *,
                          timeout: float) -> TransactionPage:
        return TransactionPage(items=())

    def _book(self, posting: CorePosting) -> CoreBooking:
        existing = self.postings.get(posting.reference)
        if existing is not None:
            if existing.state is not CoreBookingState.BOOKED:
                raise DuplicateRequest()
            return existing
        if self.balances[posting.debtor_account_id] < posting.amount.amount:
            raise InsufficientFunds()
        creditor = posting.creditor_account_id or f"biller:{posting.biller_id}"
        self.balances[posting.debtor_account_id] -= posting.amount.amount
        self.balances[creditor] = self.balances.get(creditor, Decimal(0)) + posting.amount.amount
        booking = CoreBooking(reference=posting.reference, state=CoreBookingState.BOOKED,
                              transaction_id=f"T{len(self.postings) + 1}",
                              booked_at=datetime.now(UTC))
        self.postings[posting.reference] = booking
        return booking

    async def post(self, posting: CorePosting, *, timeout: float) -> CoreBooking:
        self.post_calls += 1
        action = self.script.popleft() if self.script else "ok"
        if action == "unavailable":
            raise CoreUnavailable()
        if action == "lost_request":
            raise CoreOutcomeUnknown()
        booking = self._book(posting)
        if action == "lose_reply":
            raise CoreOutcomeUnknown()
        return booking

    async def resolve(self, posting: CorePosting, *, timeout: float) -> CoreBooking:
        self.resolve_calls += 1
        if self.resolve_fails > 0:
            self.resolve_fails -= 1
            raise CoreUnavailable()
        existing = self.postings.get(posting.reference)
        if existing is not None:
            return existing
        fenced = CoreBooking(reference=posting.reference, state=CoreBookingState.CANCELLED)
        self.postings[posting.reference] = fenced
        return fenced

    async def healthy(self) -> bool:
        return True

    async def aclose(self) -> None:
        return None


__all__ = ["AdapterError", "FakeCore", "MemoryNonceStore", "MemoryReversalStore", "MemoryStore"]
