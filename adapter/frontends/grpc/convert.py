"""Protobuf <-> canonical model for the gRPC front-end: the only place that knows both.

Inbound, a request message becomes a plain dict that the canonical pydantic model validates
once (adapter.frontends.validation), so the gRPC edge refuses exactly what REST and SOAP refuse,
with field violations named by their path in banking.proto. Proto3 cannot tell an empty string
from an absent one: an empty scalar is treated as absent ("Field required"), and an unset
message field likewise.

Outbound, canonical values are copied field by field; amounts are written as plain decimal
strings (`format(Decimal, "f")`, never exponent notation).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from adapter.frontends import validation
from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from adapter.frontends.validation import build
from adapter.model import (
    Account,
    AccountRef,
    AccountStatus,
    Balance,
    BillPaymentRequest,
    CreditDebit,
    HistoryQuery,
    Money,
    Payment,
    PaymentKind,
    PaymentStatus,
    Transaction,
    TransactionPage,
    TransferRequest,
)
from adapter.model.commands import BillPaymentCommand, GetPaymentQuery, TransferCommand
from adapter.model.errors import FieldViolation, ValidationError
from adapter.model.events import EventType, TransactionEvent
from adapter.model.identifiers import IdempotencyKey, PaymentId
from adapter.model.trusted import trusted

# -- inbound ---------------------------------------------------------------------------------


def _ref_data(ref: pb.AccountRef) -> dict[str, str]:
    which = ref.WhichOneof("ref")
    return {} if which is None else {which: getattr(ref, which)}


def _money_data(money: pb.Money) -> dict[str, str]:
    data = {}
    if money.amount:
        data["amount"] = money.amount
    if money.currency:
        data["currency"] = money.currency
    return data


def _put_str(data: dict[str, Any], name: str, value: str) -> None:
    if value:
        data[name] = value


def required(field: str) -> ValidationError:
    return ValidationError(f"invalid request: {field}: Field required",
                           violations=(FieldViolation(field, "Field required"),))


def account_ref(parent: Any, field: str = "account") -> AccountRef:
    """The AccountRef in `parent.<field>`, with violations named `<field>.id` / `<field>.iban`."""
    if not parent.HasField(field):
        raise required(field)
    rename = {"id": f"{field}.id", "iban": f"{field}.iban", "body": field}
    return build(AccountRef, _ref_data(getattr(parent, field)), rename)


def _payment_data(request: pb.TransferFundsRequest | pb.PayBillRequest) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if request.HasField("debtor"):
        data["debtor"] = _ref_data(request.debtor)
    if request.HasField("amount"):
        data["amount"] = _money_data(request.amount)
    _put_str(data, "end_to_end_id", request.end_to_end_id)
    _put_str(data, "remittance", request.remittance)
    return data


def transfer_request(request: pb.TransferFundsRequest) -> TransferRequest:
    data = _payment_data(request)
    if request.HasField("creditor"):
        data["creditor"] = _ref_data(request.creditor)
    return build(TransferRequest, data)


def bill_payment_request(request: pb.PayBillRequest) -> BillPaymentRequest:
    data = _payment_data(request)
    _put_str(data, "biller_id", request.biller_id)
    _put_str(data, "customer_reference", request.customer_reference)
    return build(BillPaymentRequest, data)


def _request_id(value: str) -> str:
    key: str = validation.value(IdempotencyKey, value, "request_id")
    return key


def transfer_command(request: pb.TransferFundsRequest) -> TransferCommand:
    """The key and the transfer, every violation of both reported together."""
    return trusted(TransferCommand, **validation.gather(
        key=lambda: _request_id(request.request_id), request=lambda: transfer_request(request)))


def bill_payment_command(request: pb.PayBillRequest) -> BillPaymentCommand:
    return trusted(BillPaymentCommand, **validation.gather(
        key=lambda: _request_id(request.request_id),
        request=lambda: bill_payment_request(request)))


def payment_query(request: pb.GetPaymentRequest) -> GetPaymentQuery:
    return trusted(GetPaymentQuery,
        payment_id=validation.value(PaymentId, request.payment_id, "payment_id"))


HISTORY_RENAME = {"limit": "page_size", "cursor": "page_token"}


def history_query(request: pb.ListTransactionsRequest) -> HistoryQuery:
    data: dict[str, Any] = {}
    if request.page_size:
        data["limit"] = request.page_size
    _put_str(data, "cursor", request.page_token)
    _put_str(data, "from_date", request.from_date)
    _put_str(data, "to_date", request.to_date)
    return build(HistoryQuery, data, HISTORY_RENAME)


def parse_cursor(cursor: str) -> int:
    """A stream cursor is the decimal seq of the last event seen (an outbox position)."""
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 19:
        raise ValidationError(
            "invalid request: cursor: not a cursor of this stream",
            violations=(FieldViolation("cursor", "must be the cursor of a received event"),),
        )
    return int(cursor)


# -- outbound --------------------------------------------------------------------------------


def timestamp(value: datetime) -> Timestamp:
    # Cheaper than Timestamp.FromDatetime, and exact for aware datetimes (microseconds).
    return Timestamp(seconds=int(value.timestamp()), nanos=value.microsecond * 1000)


def money(value: Money) -> pb.Money:
    return pb.Money(amount=format(value.amount, "f"), currency=value.currency)


ACCOUNT_STATUS: Mapping[AccountStatus, int] = {
    AccountStatus.ENABLED: pb.ACCOUNT_STATUS_ENABLED,
    AccountStatus.BLOCKED: pb.ACCOUNT_STATUS_BLOCKED,
}
PAYMENT_KIND: Mapping[PaymentKind, int] = {
    PaymentKind.TRANSFER: pb.PAYMENT_KIND_TRANSFER,
    PaymentKind.BILL_PAYMENT: pb.PAYMENT_KIND_BILL_PAYMENT,
}
PAYMENT_STATUS: Mapping[PaymentStatus, int] = {
    PaymentStatus.RECEIVED: pb.PAYMENT_STATUS_RECEIVED,
    PaymentStatus.ACCEPTED: pb.PAYMENT_STATUS_ACCEPTED,
    PaymentStatus.BOOKED: pb.PAYMENT_STATUS_BOOKED,
    PaymentStatus.REJECTED: pb.PAYMENT_STATUS_REJECTED,
    PaymentStatus.IN_DOUBT: pb.PAYMENT_STATUS_IN_DOUBT,
    PaymentStatus.REVERSED: pb.PAYMENT_STATUS_REVERSED,
}
CREDIT_DEBIT: Mapping[CreditDebit, int] = {
    CreditDebit.CREDIT: pb.CREDIT_DEBIT_CREDIT,
    CreditDebit.DEBIT: pb.CREDIT_DEBIT_DEBIT,
}
EVENT_TYPE: Mapping[EventType, int] = {
    EventType.BOOKED: pb.EVENT_TYPE_BOOKED,
    EventType.REJECTED: pb.EVENT_TYPE_REJECTED,
    EventType.REVERSED: pb.EVENT_TYPE_REVERSED,
}


def account(value: Account) -> pb.Account:
    return pb.Account(id=value.id, iban=value.iban or "", currency=value.currency,
                      name=value.name, product=value.product,
                      status=ACCOUNT_STATUS[value.status])  # type: ignore[arg-type]


def balance(value: Balance) -> pb.Balance:
    return pb.Balance(account_id=value.account_id, booked=money(value.booked),
                      available=money(value.available), as_of=timestamp(value.as_of))


def transaction(value: Transaction) -> pb.Transaction:
    out = pb.Transaction(
        transaction_id=value.transaction_id,
        account_id=value.account_id,
        amount=money(value.amount),
        credit_debit=CREDIT_DEBIT[value.credit_debit],  # type: ignore[arg-type]
        booked_at=timestamp(value.booked_at),
        value_date=value.value_date.isoformat(),
        counterparty_account_id=value.counterparty_account_id or "",
        reference=value.reference or "",
        end_to_end_id=value.end_to_end_id or "",
        remittance=value.remittance or "",
    )
    if value.balance_after is not None:
        out.balance_after.CopyFrom(money(value.balance_after))
    return out


def transaction_page(page: TransactionPage) -> pb.ListTransactionsResponse:
    return pb.ListTransactionsResponse(
        transactions=[transaction(t) for t in page.items],
        next_page_token=page.next_cursor or "",
    )


def payment(value: Payment, *, replayed: bool = False) -> pb.Payment:
    out = pb.Payment(
        payment_id=value.payment_id,
        kind=PAYMENT_KIND[value.kind],  # type: ignore[arg-type]
        status=PAYMENT_STATUS[value.status],  # type: ignore[arg-type]
        iso20022_status=value.status.iso20022,
        debtor_account_id=value.debtor_account_id,
        creditor_account_id=value.creditor_account_id or "",
        biller_id=value.biller_id or "",
        customer_reference=value.customer_reference or "",
        amount=money(value.amount),
        end_to_end_id=value.end_to_end_id,
        remittance=value.remittance or "",
        core_transaction_id=value.core_transaction_id or "",
        reason_code=value.reason_code or "",
        reason_message=value.reason_message or "",
        created_at=timestamp(value.created_at),
        updated_at=timestamp(value.updated_at),
        replayed=replayed,
    )
    if value.booked_at is not None:
        out.booked_at.CopyFrom(timestamp(value.booked_at))
    return out


def event(value: TransactionEvent) -> pb.TransactionEvent:
    return pb.TransactionEvent(
        cursor=str(value.seq),
        type=EVENT_TYPE[value.type],  # type: ignore[arg-type]
        payment_id=value.payment_id,
        kind=PAYMENT_KIND[value.kind],  # type: ignore[arg-type]
        status=PAYMENT_STATUS[value.status],  # type: ignore[arg-type]
        debtor_account_id=value.debtor_account_id,
        creditor_account_id=value.creditor_account_id or "",
        biller_id=value.biller_id or "",
        amount=money(value.amount),
        end_to_end_id=value.end_to_end_id,
        reason_code=value.reason_code or "",
        occurred_at=timestamp(value.occurred_at),
    )
