"""The core banking port: what the services need from the core, in canonical types.

A connector (SOAP, ISO 8583) implements `CorePort`. Its contract:

- Business refusals raise the canonical error (`AccountNotFound`, `InsufficientFunds`,
  `CurrencyMismatch`, `DuplicateRequest`, `AccountBlocked`, `BillerNotFound`, `ValidationError`).
- `CoreUnavailable` means the request was certainly NOT delivered (connection refused, TLS
  failure before sending): nothing can have been booked.
- `CoreOutcomeUnknown` means the request may have reached the core and its answer was lost
  (timeout after sending, connection dropped mid-call). The service then calls `resolve`, never
  `post` again blindly.
- `timeout` is the most the call may take, in seconds (the caller's remaining deadline).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from adapter.model import Account, AccountRef, Balance, HistoryQuery, Money, TransactionPage
from adapter.model.errors import CoreTimeout


class CoreOutcomeUnknown(CoreTimeout):
    """The request may or may not have been executed by the core; resolve it before anything."""

    core_node: str | None = None  # the core node that was sent the request (set by a pool)


class CorePosting(BaseModel):
    """One instruction to move money, as the core sees it.

    `reference` is the adapter's unique reference for the posting (12 characters, ISO 8583
    field 37); the core books each reference at most once (its idempotency key).
    Exactly one of `creditor_account_id` or `biller_id` is set.
    """

    model_config = ConfigDict(frozen=True)

    reference: str
    debtor_account_id: str
    creditor_account_id: str | None = None
    biller_id: str | None = None
    customer_reference: str | None = None
    amount: Money
    end_to_end_id: str
    remittance: str | None = None


class CoreBookingState(StrEnum):
    BOOKED = "booked"
    NOT_FOUND = "not_found"  # status query only: the core has no posting under this reference
    CANCELLED = "cancelled"  # never booked, and fenced: a late arrival will be refused
    REVERSED = "reversed"  # booked, then undone by compensating entries (or fenced by a reversal)


class CoreBooking(BaseModel):
    model_config = ConfigDict(frozen=True)

    reference: str
    state: CoreBookingState
    transaction_id: str | None = None
    booked_at: datetime | None = None
    node: str | None = None  # the core node that answered (set by a pool of nodes)


@runtime_checkable
class CorePort(Protocol):
    async def list_accounts(self, *, timeout: float) -> list[Account]: ...

    async def get_account(self, ref: AccountRef, *, timeout: float) -> Account: ...

    async def get_balance(self, account_id: str, *, timeout: float) -> Balance: ...

    async def get_history(
        self, account_id: str, query: HistoryQuery, *, timeout: float
    ) -> TransactionPage: ...

    async def post(self, posting: CorePosting, *, timeout: float) -> CoreBooking:
        """Book the posting. Idempotent at the core by `posting.reference`."""
        ...

    async def resolve(self, posting: CorePosting, *, timeout: float) -> CoreBooking:
        """Settle an in-doubt posting. After this returns, the core's state for the reference
        is final and is what is returned: BOOKED (money moved once), or CANCELLED / REVERSED
        (no money moved, and none will: a late arrival of the original is refused).

        The SOAP connector asks for the status first and, when the core has never seen the
        reference, cancels (fences) it; the ISO 8583 connector sends a reversal (0420/0421)
        until acknowledged. Raises CoreUnavailable / CoreOutcomeUnknown when it cannot settle
        now: the payment then stays IN_DOUBT and is resolved later."""
        ...

    async def healthy(self) -> bool: ...

    async def aclose(self) -> None: ...

