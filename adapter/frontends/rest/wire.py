"""The REST wire format: JSON shapes named after Berlin Group NextGenPSD2, and their
translation to and from the canonical model.

Invariants:
- Rule 1: an amount on the wire is a JSON string holding a decimal ("12.50"), never a JSON
  number: a number may have passed through a binary float on the caller's side, so it is
  refused with a message naming the field, not converted.
- Rule 2: a request body is parsed once, strictly (body.py: UTF-8, unique member names, no
  NaN); the wire models check the shape and the canonical constructors check the meaning (IBAN
  mod-97, currency minor units, the amount grammar of model.money Rule 4...). Every violation
  is reported under its wire name. A command carries the `Idempotency-Key` header with the
  body, and a problem with either is reported together.
- Rule 3: responses are built from canonical values the services already checked, so they are
  assembled with `model.trusted` (no re-validation) and written by pydantic's serialiser.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

import pydantic
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from adapter.frontends import validation
from adapter.model import (
    Account,
    AccountRef,
    Balance,
    BillPaymentRequest,
    HistoryQuery,
    Money,
    Payment,
    PaymentKind,
    PaymentStatus,
    Transaction,
    TransactionPage,
    TransferRequest,
)
from adapter.model.accounts import ACCOUNT_ID_RE, IBAN_RE
from adapter.model.commands import BillPaymentCommand, GetPaymentQuery, TransferCommand
from adapter.model.errors import FieldViolation, ValidationError
from adapter.model.identifiers import IdempotencyKey, PaymentId
from adapter.model.payments import CreditDebit
from adapter.model.trusted import trusted

M = TypeVar("M", bound=BaseModel)

# model.money Rule 4, bounded by Rule 3's 18 digits: ASCII digits, no redundant leading zero,
# digits on both sides of a '.'; requests carry no sign (payments are positive).
AMOUNT_PATTERN = r"^(0|[1-9][0-9]{0,17})(\.[0-9]{1,18})?$"
SIGNED_AMOUNT_PATTERN = r"^-?(0|[1-9][0-9]{0,17})(\.[0-9]{1,18})?$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
ACCOUNT_PATH_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,33}$"


def _decimal_string(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError('must be a decimal string such as "12.50", not a JSON number')
    raise ValueError('must be a decimal string such as "12.50"')


DecimalString = Annotated[
    str,
    BeforeValidator(_decimal_string),
    Field(json_schema_extra={"pattern": AMOUNT_PATTERN}, examples=["12.50"]),
]


def money_text(amount: Decimal) -> str:
    """Plain notation: str(Decimal) would write 0.00 as '0E-2'."""
    return f"{amount:f}"


def build_json(model: type[M], body: Any) -> M:
    """Validate a parsed JSON body (body.parse_json) against its wire model (Rule 2)."""
    try:
        return model.model_validate(body)
    except pydantic.ValidationError as exc:
        raise validation.to_canonical(exc, messages=validation.JSON_TYPE_MESSAGES) from None


# -- requests -------------------------------------------------------------------------------


class Amount(BaseModel):
    """An amount in a currency (NextGenPSD2 `Amount`)."""

    model_config = ConfigDict(title="Amount")

    currency: str = Field(json_schema_extra={"pattern": CURRENCY_PATTERN}, examples=["EUR"],
                          description="ISO 4217 alphabetic code")
    amount: DecimalString = Field(
        description="a decimal string with at most the currency's minor units of decimals")


class AccountReference(AccountRef):
    """An account named by its IBAN or by the bank's internal account id (exactly one)."""

    model_config = ConfigDict(title="AccountReference", frozen=True)


class TransferInitiation(BaseModel):
    """A credit transfer between two accounts (NextGenPSD2 payment initiation body)."""

    model_config = ConfigDict(title="TransferInitiation")

    debtorAccount: AccountReference
    creditorAccount: AccountReference
    instructedAmount: Amount
    endToEndIdentification: str = Field(max_length=35, examples=["INV-2026-0042"])
    remittanceInformationUnstructured: str | None = Field(None, max_length=140)


class BillPaymentInitiation(BaseModel):
    """A payment to a registered biller, naming the customer's reference at that biller."""

    model_config = ConfigDict(title="BillPaymentInitiation")

    debtorAccount: AccountReference
    billerId: str = Field(examples=["ELEC01"], max_length=16)
    customerReference: str = Field(max_length=35, examples=["CUST-778812"],
                                   description="the customer's reference at the biller")
    instructedAmount: Amount
    endToEndIdentification: str = Field(max_length=35, examples=["BILL-2026-0007"])
    remittanceInformationUnstructured: str | None = Field(None, max_length=140)


class TransactionQuery(BaseModel):
    """Query parameters of the transaction list."""

    cursor: str | None = Field(None, max_length=512)
    limit: int = Field(20, ge=1, le=100)
    dateFrom: date | None = None
    dateTo: date | None = None


_TRANSFER_NAMES = {
    "debtor": "debtorAccount", "creditor": "creditorAccount", "amount": "instructedAmount",
    "end_to_end_id": "endToEndIdentification", "remittance": "remittanceInformationUnstructured",
}
_BILL_NAMES = {**_TRANSFER_NAMES, "biller_id": "billerId",
               "customer_reference": "customerReference"}
# HistoryQuery's only model-level rule is the date range: report it under dateFrom.
_QUERY_NAMES = {"from_date": "dateFrom", "to_date": "dateTo", "body": "dateFrom"}


KEY_HEADER = "Idempotency-Key"


def _key(header: str | None) -> str:
    key: str = validation.value(IdempotencyKey, header, KEY_HEADER)
    return key


def parse_transfer(body: Any, key: str | None) -> TransferCommand:
    parts = validation.gather(key=lambda: _key(key), request=lambda: _transfer(body))
    return trusted(TransferCommand, **parts)


def parse_bill_payment(body: Any, key: str | None) -> BillPaymentCommand:
    parts = validation.gather(key=lambda: _key(key), request=lambda: _bill_payment(body))
    return trusted(BillPaymentCommand, **parts)


def parse_transfer_request(body: Any) -> TransferRequest:
    """A transfer body alone (no idempotency key): what an SCA challenge is bound to."""
    return _transfer(body)


def parse_bill_payment_request(body: Any) -> BillPaymentRequest:
    return _bill_payment(body)


def parse_payment_query(payment_id: str) -> GetPaymentQuery:
    return trusted(GetPaymentQuery,
        payment_id=validation.value(PaymentId, payment_id, "payment_id"))


def _transfer(body: Any) -> TransferRequest:
    wire = build_json(TransferInitiation, body)
    return validation.build(TransferRequest, {
        "debtor": wire.debtorAccount,
        "creditor": wire.creditorAccount,
        "amount": {"amount": wire.instructedAmount.amount,
                   "currency": wire.instructedAmount.currency},
        "end_to_end_id": wire.endToEndIdentification,
        "remittance": wire.remittanceInformationUnstructured,
    }, _TRANSFER_NAMES)


def _bill_payment(body: Any) -> BillPaymentRequest:
    wire = build_json(BillPaymentInitiation, body)
    return validation.build(BillPaymentRequest, {
        "debtor": wire.debtorAccount,
        "biller_id": wire.billerId,
        "customer_reference": wire.customerReference,
        "amount": {"amount": wire.instructedAmount.amount,
                   "currency": wire.instructedAmount.currency},
        "end_to_end_id": wire.endToEndIdentification,
        "remittance": wire.remittanceInformationUnstructured,
    }, _BILL_NAMES)


# Query values are text: read as the document states them, not as pydantic's lax mode would
# (which takes " 5", "+5" and "5.0" for 5, and a Unix time for a date).
_LIMIT_TEXT = re.compile(r"[1-9][0-9]{0,2}")
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_QUERY_TEXT = {"limit": (_LIMIT_TEXT, "an integer from 1 to 100 in ASCII digits, no sign"),
               "dateFrom": (_DATE_TEXT, "a date as YYYY-MM-DD"),
               "dateTo": (_DATE_TEXT, "a date as YYYY-MM-DD")}


def parse_history_query(params: dict[str, str]) -> HistoryQuery:
    violations = tuple(FieldViolation(name, rule) for name, (pattern, rule) in _QUERY_TEXT.items()
                       if name in params and not pattern.fullmatch(params[name]))
    if violations:
        summary = "; ".join(f"{v.field}: {v.description}" for v in violations)
        raise ValidationError(f"invalid request: {summary}", violations=violations)
    wire = validation.build(TransactionQuery, params)
    return validation.build(HistoryQuery, {
        "cursor": wire.cursor, "limit": wire.limit,
        "from_date": wire.dateFrom, "to_date": wire.dateTo,
    }, _QUERY_NAMES)


def account_ref_from_path(value: str) -> AccountRef:
    """A path segment names an account by internal id, or by IBAN when it is shaped like one
    (two letters, two digits, then at least 11 more: no internal id looks like that)."""
    if IBAN_RE.match(value.replace(" ", "").upper()):
        return validation.build(AccountRef, {"iban": value}, {"iban": "account_id"})
    if ACCOUNT_ID_RE.match(value):
        return trusted(AccountRef, id=value, iban=None)
    return validation.build(AccountRef, {"id": value}, {"id": "account_id"})


# -- responses ------------------------------------------------------------------------------


class AmountOut(BaseModel):
    model_config = ConfigDict(title="AmountValue")

    currency: str
    amount: str = Field(json_schema_extra={"pattern": SIGNED_AMOUNT_PATTERN})


def _absent(value: Any) -> bool:
    return value is None


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class AccountReferenceOut(BaseModel):
    """An account: its id, and its IBAN when the account has one (no `iban` member when it
    has none)."""

    model_config = ConfigDict(title="AccountIdentification")

    id: str
    # Complete or absent, never `"iban": null` (issue 12.5).
    iban: Annotated[str | None, WithJsonSchema({"type": "string"})] = Field(
        None, exclude_if=_absent, json_schema_extra=_no_default)


class Href(BaseModel):
    href: str


class AccountLinks(BaseModel):
    balances: Href
    transactions: Href


class AccountDetails(BaseModel):
    """An account (NextGenPSD2 `AccountDetails`); `resourceId` is the internal account id."""

    model_config = ConfigDict(serialize_by_alias=True)

    resourceId: str
    iban: str | None = None
    currency: str
    name: str
    product: str
    cashAccountType: Literal["CACC"] = "CACC"
    status: Literal["enabled", "blocked"]
    links: AccountLinks = Field(alias="_links")


class AccountList(BaseModel):
    accounts: list[AccountDetails]


class AccountResponse(BaseModel):
    account: AccountDetails


class BalanceOut(BaseModel):
    model_config = ConfigDict(title="Balance")

    balanceType: Literal["interimBooked", "interimAvailable"] = Field(
        description="interimBooked: what the ledger holds now; interimAvailable: booked plus "
                    "any overdraft limit")
    balanceAmount: AmountOut
    lastChangeDateTime: datetime


class BalancesResponse(BaseModel):
    account: AccountReferenceOut
    balances: list[BalanceOut]


class TransactionOut(BaseModel):
    """One booked entry (NextGenPSD2 `Transactions`); debits carry a negative amount."""

    model_config = ConfigDict(title="Transaction")

    transactionId: str
    entryReference: str | None = None
    endToEndId: str | None = None
    bookingDate: date
    valueDate: date
    bookingDateTime: datetime
    transactionAmount: AmountOut
    creditDebitIndicator: Literal["CRDT", "DBIT"]
    creditorAccount: AccountReferenceOut | None = None
    debtorAccount: AccountReferenceOut | None = None
    remittanceInformationUnstructured: str | None = None
    balanceAfterTransaction: AmountOut | None = None


class PageLinks(BaseModel):
    model_config = ConfigDict(title="PageLinks")

    next: Href | None = None


class AccountReport(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)

    booked: list[TransactionOut]
    pending: list[TransactionOut] = Field(default_factory=list)
    links: PageLinks = Field(alias="_links")


class TransactionsResponse(BaseModel):
    account: AccountReferenceOut
    transactions: AccountReport


class PaymentLinks(BaseModel):
    self: Href
    status: Href


class PaymentResource(BaseModel):
    """A payment and its status: `transactionStatus` is the ISO 20022 code (ACSC, RJCT, PDNG,
    ...); `status` is the adapter's lifecycle state it stands for."""

    model_config = ConfigDict(serialize_by_alias=True, title="Payment")

    paymentId: str
    paymentType: PaymentKind
    transactionStatus: Literal["RCVD", "ACTC", "ACSC", "RJCT", "PDNG", "CANC"]
    status: PaymentStatus
    debtorAccount: AccountReferenceOut
    creditorAccount: AccountReferenceOut | None = None
    billerId: str | None = None
    customerReference: str | None = None
    instructedAmount: AmountOut
    endToEndIdentification: str
    remittanceInformationUnstructured: str | None = None
    transactionId: str | None = Field(None, description="the core's booking id, once booked")
    reasonCode: str | None = Field(None, description="why it was rejected, as a canonical code")
    reasonMessage: str | None = None
    createdAt: datetime
    updatedAt: datetime
    bookedAt: datetime | None = None
    links: PaymentLinks = Field(alias="_links")


class ApiLinks(BaseModel):
    model_config = ConfigDict(title="ApiLinks")

    self: Href
    accounts: Href
    transfers: Href
    billPayments: Href
    openapi: Href
    health: Href
    readiness: Href


class ApiIndex(BaseModel):
    """GET /v1: the entry points of this API. Every other resource is reached by following
    links from them (an account's `_links` name its balances and transactions, a payment's
    its own URL), and the OpenAPI document describes them all. No URI template is offered:
    a client that follows every same-origin URL would read "{account_id}" as an id."""

    model_config = ConfigDict(serialize_by_alias=True, title="ApiIndex")

    title: str
    version: str
    links: ApiLinks = Field(alias="_links")


def api_index(version: str) -> ApiIndex:
    def href(path: str) -> Href:
        return trusted(Href, href=path)

    return trusted(ApiIndex, title="bank-adapter REST API", version=version, links=(
        trusted(ApiLinks,
            self=href("/v1"), accounts=href("/v1/accounts"), transfers=href("/v1/transfers"),
            billPayments=href("/v1/bill-payments"), openapi=href("/openapi.json"),
            health=href("/healthz"), readiness=href("/readyz"))))


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]


class Violation(BaseModel):
    field: str
    description: str


class Problem(BaseModel):
    """RFC 9457 problem details, with the canonical `code` and the request's correlation id."""

    type: str
    title: str
    status: int
    detail: str
    code: str = Field(description="the stable canonical error code, e.g. INSUFFICIENT_FUNDS")
    correlation_id: str = Field(description="the request's X-Request-ID")
    violations: list[Violation] | None = None
    paymentId: str | None = Field(None, description="the payment this error is about, if any")


def _amount(money: Money, negative: bool = False) -> AmountOut:
    amount = -money.amount if negative else money.amount
    return trusted(AmountOut, currency=money.currency, amount=money_text(amount))


def _ref(account_id: str | None, iban: str | None) -> AccountReferenceOut | None:
    if account_id is None:
        return None
    return trusted(AccountReferenceOut, id=account_id, iban=iban)


def account_out(account: Account) -> AccountDetails:
    base = f"/v1/accounts/{account.id}"
    return trusted(AccountDetails,
        resourceId=account.id, iban=account.iban, currency=account.currency, name=account.name,
        product=account.product, cashAccountType="CACC", status=account.status.value,
        links=trusted(AccountLinks,
            balances=trusted(Href, href=base + "/balances"),
            transactions=trusted(Href, href=base + "/transactions")),
    )


def balances_out(balance: Balance, account: Account) -> BalancesResponse:
    return trusted(BalancesResponse,
        account=_ref(account.id, account.iban),
        balances=[
            trusted(BalanceOut, balanceType="interimBooked",
                                       balanceAmount=_amount(balance.booked),
                                       lastChangeDateTime=balance.as_of),
            trusted(BalanceOut, balanceType="interimAvailable",
                                       balanceAmount=_amount(balance.available),
                                       lastChangeDateTime=balance.as_of),
        ],
    )


def transaction_out(tx: Transaction) -> TransactionOut:
    debit = tx.credit_debit is CreditDebit.DEBIT
    counterparty = _ref(tx.counterparty_account_id, tx.counterparty_iban)
    return trusted(TransactionOut,
        transactionId=tx.transaction_id, entryReference=tx.reference,
        endToEndId=tx.end_to_end_id, bookingDate=tx.booked_at.date(), valueDate=tx.value_date,
        bookingDateTime=tx.booked_at, transactionAmount=_amount(tx.amount, negative=debit),
        creditDebitIndicator=tx.credit_debit.value,
        creditorAccount=counterparty if debit else None,
        debtorAccount=None if debit else counterparty,
        remittanceInformationUnstructured=tx.remittance,
        balanceAfterTransaction=None if tx.balance_after is None else _amount(tx.balance_after),
    )


def transactions_out(page: TransactionPage, account: Account,
                     next_href: str | None) -> TransactionsResponse:
    return trusted(TransactionsResponse,
        account=_ref(account.id, account.iban),
        transactions=trusted(AccountReport,
            booked=[transaction_out(tx) for tx in page.items], pending=[],
            links=trusted(PageLinks,
                next=None if next_href is None else trusted(Href, href=next_href)),
        ),
    )


def payment_out(p: Payment) -> PaymentResource:
    href = trusted(Href, href=f"/v1/payments/{p.payment_id}")
    return trusted(PaymentResource,
        paymentId=p.payment_id, paymentType=p.kind, transactionStatus=p.status.iso20022,
        status=p.status, debtorAccount=_ref(p.debtor_account_id, p.debtor_iban),
        creditorAccount=_ref(p.creditor_account_id, p.creditor_iban), billerId=p.biller_id,
        customerReference=p.customer_reference, instructedAmount=_amount(p.amount),
        endToEndIdentification=p.end_to_end_id,
        remittanceInformationUnstructured=p.remittance,
        transactionId=p.core_transaction_id, reasonCode=p.reason_code,
        reasonMessage=p.reason_message, createdAt=p.created_at, updatedAt=p.updated_at,
        bookedAt=p.booked_at, links=trusted(PaymentLinks, self=href, status=href),
    )
