import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AccountStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACCOUNT_STATUS_UNSPECIFIED: _ClassVar[AccountStatus]
    ACCOUNT_STATUS_ENABLED: _ClassVar[AccountStatus]
    ACCOUNT_STATUS_BLOCKED: _ClassVar[AccountStatus]

class CreditDebit(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CREDIT_DEBIT_UNSPECIFIED: _ClassVar[CreditDebit]
    CREDIT_DEBIT_CREDIT: _ClassVar[CreditDebit]
    CREDIT_DEBIT_DEBIT: _ClassVar[CreditDebit]

class PaymentKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYMENT_KIND_UNSPECIFIED: _ClassVar[PaymentKind]
    PAYMENT_KIND_TRANSFER: _ClassVar[PaymentKind]
    PAYMENT_KIND_BILL_PAYMENT: _ClassVar[PaymentKind]

class PaymentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYMENT_STATUS_UNSPECIFIED: _ClassVar[PaymentStatus]
    PAYMENT_STATUS_RECEIVED: _ClassVar[PaymentStatus]
    PAYMENT_STATUS_ACCEPTED: _ClassVar[PaymentStatus]
    PAYMENT_STATUS_BOOKED: _ClassVar[PaymentStatus]
    PAYMENT_STATUS_REJECTED: _ClassVar[PaymentStatus]
    PAYMENT_STATUS_IN_DOUBT: _ClassVar[PaymentStatus]
    PAYMENT_STATUS_REVERSED: _ClassVar[PaymentStatus]

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_BOOKED: _ClassVar[EventType]
    EVENT_TYPE_REJECTED: _ClassVar[EventType]
    EVENT_TYPE_REVERSED: _ClassVar[EventType]
ACCOUNT_STATUS_UNSPECIFIED: AccountStatus
ACCOUNT_STATUS_ENABLED: AccountStatus
ACCOUNT_STATUS_BLOCKED: AccountStatus
CREDIT_DEBIT_UNSPECIFIED: CreditDebit
CREDIT_DEBIT_CREDIT: CreditDebit
CREDIT_DEBIT_DEBIT: CreditDebit
PAYMENT_KIND_UNSPECIFIED: PaymentKind
PAYMENT_KIND_TRANSFER: PaymentKind
PAYMENT_KIND_BILL_PAYMENT: PaymentKind
PAYMENT_STATUS_UNSPECIFIED: PaymentStatus
PAYMENT_STATUS_RECEIVED: PaymentStatus
PAYMENT_STATUS_ACCEPTED: PaymentStatus
PAYMENT_STATUS_BOOKED: PaymentStatus
PAYMENT_STATUS_REJECTED: PaymentStatus
PAYMENT_STATUS_IN_DOUBT: PaymentStatus
PAYMENT_STATUS_REVERSED: PaymentStatus
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_BOOKED: EventType
EVENT_TYPE_REJECTED: EventType
EVENT_TYPE_REVERSED: EventType

class Money(_message.Message):
    __slots__ = ("amount", "currency")
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    amount: str
    currency: str
    def __init__(self, amount: _Optional[str] = ..., currency: _Optional[str] = ...) -> None: ...

class AccountRef(_message.Message):
    __slots__ = ("id", "iban")
    ID_FIELD_NUMBER: _ClassVar[int]
    IBAN_FIELD_NUMBER: _ClassVar[int]
    id: str
    iban: str
    def __init__(self, id: _Optional[str] = ..., iban: _Optional[str] = ...) -> None: ...

class Account(_message.Message):
    __slots__ = ("id", "iban", "currency", "name", "product", "status")
    ID_FIELD_NUMBER: _ClassVar[int]
    IBAN_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    id: str
    iban: str
    currency: str
    name: str
    product: str
    status: AccountStatus
    def __init__(self, id: _Optional[str] = ..., iban: _Optional[str] = ..., currency: _Optional[str] = ..., name: _Optional[str] = ..., product: _Optional[str] = ..., status: _Optional[_Union[AccountStatus, str]] = ...) -> None: ...

class GetAccountRequest(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: AccountRef
    def __init__(self, account: _Optional[_Union[AccountRef, _Mapping]] = ...) -> None: ...

class ListAccountsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAccountsResponse(_message.Message):
    __slots__ = ("accounts",)
    ACCOUNTS_FIELD_NUMBER: _ClassVar[int]
    accounts: _containers.RepeatedCompositeFieldContainer[Account]
    def __init__(self, accounts: _Optional[_Iterable[_Union[Account, _Mapping]]] = ...) -> None: ...

class GetBalanceRequest(_message.Message):
    __slots__ = ("account",)
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    account: AccountRef
    def __init__(self, account: _Optional[_Union[AccountRef, _Mapping]] = ...) -> None: ...

class Balance(_message.Message):
    __slots__ = ("account_id", "booked", "available", "as_of")
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    BOOKED_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    account_id: str
    booked: Money
    available: Money
    as_of: _timestamp_pb2.Timestamp
    def __init__(self, account_id: _Optional[str] = ..., booked: _Optional[_Union[Money, _Mapping]] = ..., available: _Optional[_Union[Money, _Mapping]] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListTransactionsRequest(_message.Message):
    __slots__ = ("account", "page_size", "page_token", "from_date", "to_date")
    ACCOUNT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FROM_DATE_FIELD_NUMBER: _ClassVar[int]
    TO_DATE_FIELD_NUMBER: _ClassVar[int]
    account: AccountRef
    page_size: int
    page_token: str
    from_date: str
    to_date: str
    def __init__(self, account: _Optional[_Union[AccountRef, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., from_date: _Optional[str] = ..., to_date: _Optional[str] = ...) -> None: ...

class Transaction(_message.Message):
    __slots__ = ("transaction_id", "account_id", "amount", "credit_debit", "booked_at", "value_date", "counterparty_account_id", "reference", "end_to_end_id", "remittance", "balance_after")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CREDIT_DEBIT_FIELD_NUMBER: _ClassVar[int]
    BOOKED_AT_FIELD_NUMBER: _ClassVar[int]
    VALUE_DATE_FIELD_NUMBER: _ClassVar[int]
    COUNTERPARTY_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    END_TO_END_ID_FIELD_NUMBER: _ClassVar[int]
    REMITTANCE_FIELD_NUMBER: _ClassVar[int]
    BALANCE_AFTER_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    account_id: str
    amount: Money
    credit_debit: CreditDebit
    booked_at: _timestamp_pb2.Timestamp
    value_date: str
    counterparty_account_id: str
    reference: str
    end_to_end_id: str
    remittance: str
    balance_after: Money
    def __init__(self, transaction_id: _Optional[str] = ..., account_id: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., credit_debit: _Optional[_Union[CreditDebit, str]] = ..., booked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., value_date: _Optional[str] = ..., counterparty_account_id: _Optional[str] = ..., reference: _Optional[str] = ..., end_to_end_id: _Optional[str] = ..., remittance: _Optional[str] = ..., balance_after: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class ListTransactionsResponse(_message.Message):
    __slots__ = ("transactions", "next_page_token")
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    transactions: _containers.RepeatedCompositeFieldContainer[Transaction]
    next_page_token: str
    def __init__(self, transactions: _Optional[_Iterable[_Union[Transaction, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class TransferFundsRequest(_message.Message):
    __slots__ = ("request_id", "debtor", "creditor", "amount", "end_to_end_id", "remittance")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DEBTOR_FIELD_NUMBER: _ClassVar[int]
    CREDITOR_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    END_TO_END_ID_FIELD_NUMBER: _ClassVar[int]
    REMITTANCE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    debtor: AccountRef
    creditor: AccountRef
    amount: Money
    end_to_end_id: str
    remittance: str
    def __init__(self, request_id: _Optional[str] = ..., debtor: _Optional[_Union[AccountRef, _Mapping]] = ..., creditor: _Optional[_Union[AccountRef, _Mapping]] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., end_to_end_id: _Optional[str] = ..., remittance: _Optional[str] = ...) -> None: ...

class PayBillRequest(_message.Message):
    __slots__ = ("request_id", "debtor", "biller_id", "customer_reference", "amount", "end_to_end_id", "remittance")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DEBTOR_FIELD_NUMBER: _ClassVar[int]
    BILLER_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    END_TO_END_ID_FIELD_NUMBER: _ClassVar[int]
    REMITTANCE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    debtor: AccountRef
    biller_id: str
    customer_reference: str
    amount: Money
    end_to_end_id: str
    remittance: str
    def __init__(self, request_id: _Optional[str] = ..., debtor: _Optional[_Union[AccountRef, _Mapping]] = ..., biller_id: _Optional[str] = ..., customer_reference: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., end_to_end_id: _Optional[str] = ..., remittance: _Optional[str] = ...) -> None: ...

class GetPaymentRequest(_message.Message):
    __slots__ = ("payment_id",)
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    def __init__(self, payment_id: _Optional[str] = ...) -> None: ...

class Payment(_message.Message):
    __slots__ = ("payment_id", "kind", "status", "iso20022_status", "debtor_account_id", "creditor_account_id", "biller_id", "customer_reference", "amount", "end_to_end_id", "remittance", "core_transaction_id", "reason_code", "reason_message", "created_at", "updated_at", "booked_at", "replayed")
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ISO20022_STATUS_FIELD_NUMBER: _ClassVar[int]
    DEBTOR_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CREDITOR_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    BILLER_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    END_TO_END_ID_FIELD_NUMBER: _ClassVar[int]
    REMITTANCE_FIELD_NUMBER: _ClassVar[int]
    CORE_TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    REASON_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    BOOKED_AT_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    payment_id: str
    kind: PaymentKind
    status: PaymentStatus
    iso20022_status: str
    debtor_account_id: str
    creditor_account_id: str
    biller_id: str
    customer_reference: str
    amount: Money
    end_to_end_id: str
    remittance: str
    core_transaction_id: str
    reason_code: str
    reason_message: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    booked_at: _timestamp_pb2.Timestamp
    replayed: bool
    def __init__(self, payment_id: _Optional[str] = ..., kind: _Optional[_Union[PaymentKind, str]] = ..., status: _Optional[_Union[PaymentStatus, str]] = ..., iso20022_status: _Optional[str] = ..., debtor_account_id: _Optional[str] = ..., creditor_account_id: _Optional[str] = ..., biller_id: _Optional[str] = ..., customer_reference: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., end_to_end_id: _Optional[str] = ..., remittance: _Optional[str] = ..., core_transaction_id: _Optional[str] = ..., reason_code: _Optional[str] = ..., reason_message: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., booked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., replayed: _Optional[bool] = ...) -> None: ...

class WatchTransactionsRequest(_message.Message):
    __slots__ = ("cursor", "account_ids")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_IDS_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    account_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, cursor: _Optional[str] = ..., account_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class TransactionEvent(_message.Message):
    __slots__ = ("cursor", "type", "payment_id", "kind", "status", "debtor_account_id", "creditor_account_id", "biller_id", "amount", "end_to_end_id", "reason_code", "occurred_at")
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DEBTOR_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    CREDITOR_ACCOUNT_ID_FIELD_NUMBER: _ClassVar[int]
    BILLER_ID_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    END_TO_END_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    cursor: str
    type: EventType
    payment_id: str
    kind: PaymentKind
    status: PaymentStatus
    debtor_account_id: str
    creditor_account_id: str
    biller_id: str
    amount: Money
    end_to_end_id: str
    reason_code: str
    occurred_at: _timestamp_pb2.Timestamp
    def __init__(self, cursor: _Optional[str] = ..., type: _Optional[_Union[EventType, str]] = ..., payment_id: _Optional[str] = ..., kind: _Optional[_Union[PaymentKind, str]] = ..., status: _Optional[_Union[PaymentStatus, str]] = ..., debtor_account_id: _Optional[str] = ..., creditor_account_id: _Optional[str] = ..., biller_id: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ..., end_to_end_id: _Optional[str] = ..., reason_code: _Optional[str] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
