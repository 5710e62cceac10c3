"""The canonical transaction model: values every front-end, service and connector share.

No protocol is imported here: this package knows nothing of HTTP, SOAP, gRPC or ISO 8583.
"""

from adapter.model.accounts import Account, AccountRef, AccountStatus, Balance, make_iban
from adapter.model.money import Money, PositiveMoney
from adapter.model.payments import (
    BillPaymentRequest,
    CreditDebit,
    HistoryQuery,
    Payment,
    PaymentKind,
    Transaction,
    TransactionPage,
    TransferRequest,
)
from adapter.model.status import IllegalTransition, PaymentStatus

__all__ = [
    "Account",
    "AccountRef",
    "AccountStatus",
    "Balance",
    "BillPaymentRequest",
    "CreditDebit",
    "HistoryQuery",
    "IllegalTransition",
    "Money",
    "Payment",
    "PaymentKind",
    "PaymentStatus",
    "PositiveMoney",
    "Transaction",
    "TransactionPage",
    "TransferRequest",
    "make_iban",
]
