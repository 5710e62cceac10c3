"""Payment requests (transfer, bill payment), the payment resource, and ledger transactions.

A request is a caller's instruction, validated once at the edge. A `Payment` is the adapter's
record of it: its id, its status in the lifecycle (see `status`), and the reference under which
it was sent to the core (`core_reference`, 12 characters: it must fit ISO 8583 field 37).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from adapter.model.accounts import AccountRef
from adapter.model.identifiers import Cursor
from adapter.model.money import Money, PositiveMoney
from adapter.model.status import PaymentStatus, check_transition

# ISO 20022 Max35Text restricted to the SWIFT character set, so it survives every rail.
E2E_RE = re.compile(r"^[A-Za-z0-9/\-?:().,'+ ]{1,35}$")
REMITTANCE_MAX = 140
BILLER_RE = re.compile(r"^[A-Z0-9]{2,16}$")
CUSTOMER_REF_RE = re.compile(r"^[A-Za-z0-9/\-]{1,35}$")
MIN_HISTORY_YEAR = 1000


def _e2e(value: str) -> str:
    if not E2E_RE.match(value) or value.strip() != value:
        raise ValueError("must be 1 to 35 characters of letters, digits and / - ? : ( ) . , ' +")
    return value


def _remittance(value: str | None) -> str | None:
    if value is not None and (len(value) > REMITTANCE_MAX or not value.isprintable()):
        raise ValueError(f"must be at most {REMITTANCE_MAX} printable characters")
    return value


def _biller(value: str) -> str:
    if not BILLER_RE.match(value):
        raise ValueError("biller id must be 2 to 16 upper-case letters or digits")
    return value


def _customer_ref(value: str) -> str:
    if not CUSTOMER_REF_RE.match(value):
        raise ValueError("must be 1 to 35 letters, digits, '/' or '-'")
    return value


EndToEndId = Annotated[str, AfterValidator(_e2e)]
Remittance = Annotated[str | None, AfterValidator(_remittance)]
BillerId = Annotated[str, AfterValidator(_biller)]
CustomerReference = Annotated[str, AfterValidator(_customer_ref)]


class PaymentKind(StrEnum):
    TRANSFER = "transfer"
    BILL_PAYMENT = "bill_payment"


class TransferRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    debtor: AccountRef
    creditor: AccountRef
    amount: PositiveMoney
    end_to_end_id: EndToEndId
    remittance: Remittance = None

    @model_validator(mode="after")
    def _distinct(self) -> TransferRequest:
        if self.debtor == self.creditor:
            raise ValueError("debtor and creditor must be different accounts")
        return self


class BillPaymentRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    debtor: AccountRef
    biller_id: BillerId
    customer_reference: CustomerReference
    amount: PositiveMoney
    end_to_end_id: EndToEndId
    remittance: Remittance = None


class Payment(BaseModel):
    """The adapter's record of one payment. Mutated only through `transition`."""

    model_config = ConfigDict(validate_assignment=False)

    payment_id: str
    kind: PaymentKind
    status: PaymentStatus
    caller_id: str
    debtor_account_id: str
    debtor_iban: str | None = None
    creditor_account_id: str | None = None
    creditor_iban: str | None = None
    biller_id: str | None = None
    customer_reference: str | None = None
    amount: Money
    end_to_end_id: str
    remittance: str | None = None
    core_reference: str
    core_transaction_id: str | None = None
    core_node: str | None = None  # the core node it was sent to, when the core is a pool
    reason_code: str | None = None
    reason_message: str | None = None
    created_at: datetime
    updated_at: datetime
    booked_at: datetime | None = None

    def transition(self, target: PaymentStatus, at: datetime, **changes: Any) -> Payment:
        """A copy in `target` status; raises IllegalTransition and changes nothing if refused."""
        check_transition(self.status, target)
        return self.model_copy(update={"status": target, "updated_at": at, **changes})


class CreditDebit(StrEnum):
    CREDIT = "CRDT"
    DEBIT = "DBIT"


class Transaction(BaseModel):
    """One ledger entry on one account, as the account holder sees it. `transaction_id` is
    the booking's id, the same as the booked payment's `core_transaction_id`: both entries of
    one booking carry it."""

    model_config = ConfigDict(frozen=True)

    transaction_id: str
    account_id: str
    amount: Money = Field(description="always positive; the direction is in credit_debit")
    credit_debit: CreditDebit
    booked_at: datetime
    value_date: date
    counterparty_account_id: str | None = None
    counterparty_iban: str | None = None
    reference: str | None = None
    end_to_end_id: str | None = None
    remittance: str | None = None
    balance_after: Money | None = None


class TransactionPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: tuple[Transaction, ...]
    next_cursor: str | None = None


class HistoryQuery(BaseModel):
    model_config = ConfigDict(frozen=True)

    cursor: Cursor | None = None
    limit: int = Field(default=20, ge=1, le=100)
    from_date: date | None = None
    to_date: date | None = None

    @field_validator("from_date", "to_date")
    @classmethod
    def _four_digit_year(cls, value: date | None) -> date | None:
        # The core keeps dates as ISO 8601 text and compares them as text, which holds for
        # four-digit years only: an earlier date is refused here, naming the field, rather
        # than by the core as a malformed request (issue 12.2).
        if value is not None and value.year < MIN_HISTORY_YEAR:
            raise ValueError(f"must be a date from {MIN_HISTORY_YEAR}-01-01 to 9999-12-31")
        return value

    @model_validator(mode="after")
    def _range(self) -> HistoryQuery:
        if self.from_date and self.to_date and self.from_date > self.to_date:
            raise ValueError("from_date must not be after to_date")
        return self
