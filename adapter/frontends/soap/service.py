"""The SOAP operations: wire values -> canonical -> service call -> canonical -> wire values.

Each operation is an `async def` spyne method. The ASGI bridge (adapter.infra.spyne_asgi) runs
spyne's parse and deserialisation inline on the event loop, awaits the coroutine the method
returns, then serialises with spyne: no thread hop (see the package docstring for figures).

Invariants:
- Rule 1: before any service call, `SoapFrontend.call` checks, in this order: the SOAPAction
  header (empty, absent or the operation's name; SOAP 1.1 section 6.1.1), headers marked
  `mustUnderstand` (only wsse:Security is understood; SOAP 1.1 section 4.2.3), the client
  certificate's caller (mutual TLS), then the WS-Security UsernameToken (wssecurity.py).
- Rule 2: every error leaves through `faults.to_fault`, with the request's correlation id.
- Rule 3: `RequestId` is the caller-scoped idempotency key, checked here so a violation names
  the SOAP element; replay and conflict semantics are the services' (services.idempotency).
"""

from __future__ import annotations

import adapter.infra.spyne_six  # noqa: F401  (before spyne: Python 3.12+)

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from spyne import Service, rpc

from adapter.frontends import validation
from adapter.model import (
    Account,
    AccountRef,
    Balance,
    BillPaymentRequest,
    HistoryQuery,
    Payment,
    TransactionPage,
    TransferRequest,
)
from adapter.model.errors import AdapterError, FieldViolation, InternalError, ValidationError
from adapter.security.identity import cn_from_asgi_scope
from adapter.services.banking import BankingServices
from adapter.services.context import RequestContext, new_correlation_id
from adapter.services.idempotency import check_key
from adapter.services.payments import PaymentResult

from . import types as t
from .faults import to_fault
from .wssecurity import WSSE, UsernameTokenVerifier

log = logging.getLogger("adapter.soap")

T = TypeVar("T")

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
FAULTS = [t.AdapterFault]

_REF_NAMES = {"id": "AccountId", "iban": "Iban"}
_PAYMENT_NAMES = {
    "debtor.id": "Debtor.AccountId", "debtor.iban": "Debtor.Iban", "debtor": "Debtor",
    "creditor.id": "Creditor.AccountId", "creditor.iban": "Creditor.Iban",
    "creditor": "Creditor", "amount.amount": "Amount", "amount.currency": "Currency",
    "amount": "Amount", "end_to_end_id": "EndToEndId", "remittance": "Remittance",
    "biller_id": "BillerId", "customer_reference": "CustomerReference",
}
_HISTORY_NAMES = {"cursor": "Cursor", "limit": "Limit", "from_date": "FromDate",
                  "to_date": "ToDate"}


@dataclass
class RequestData:
    """What the fault listener needs to know about the request (spyne's `ctx.udc`)."""

    correlation_id: str


class SoapFrontend:
    """The services and the WS-Security verifier, reachable from spyne methods as
    `ctx.app.frontend`."""

    def __init__(self, services: BankingServices, verifier: UsernameTokenVerifier) -> None:
        self.services = services
        self.verifier = verifier

    async def call(self, ctx: Any, fn: Callable[[RequestContext], Awaitable[T]]) -> T:
        operation: str = ctx.descriptor.name
        correlation_id = new_correlation_id()
        ctx.udc = RequestData(correlation_id)
        scope = ctx.transport.scope
        cn = None
        try:
            _check_soap_action(scope, operation)
            _check_must_understand(ctx.in_header_doc)
            caller = self.services.clients.authenticate(cn_from_asgi_scope(scope))
            cn = caller.id
            await self.verifier.verify(caller, ctx.in_header_doc)
            return await fn(RequestContext(caller=caller, correlation_id=correlation_id))
        except AdapterError as exc:
            log.info("SOAP %s refused for %s: %s [%s]", operation, cn or "-", exc.code,
                     correlation_id)
            raise to_fault(exc, correlation_id) from None
        except Exception:
            log.exception("SOAP %s failed [%s]", operation, correlation_id)
            raise to_fault(InternalError(), correlation_id) from None


def _check_soap_action(scope: Any, operation: str) -> None:
    for key, value in scope.get("headers", ()):
        if key == b"soapaction":
            action = bytes(value).decode("latin-1").strip().strip('"')
            if action and action != operation:
                raise ValidationError(
                    f"the SOAPAction header names {action[:64]!r}, the body is a "
                    f"{operation} request",
                    violations=(FieldViolation("SOAPAction", "must match the body"),),
                )


def _check_must_understand(header: Any) -> None:
    for element in header or ():
        flag = element.get(f"{{{SOAP_ENV}}}mustUnderstand")
        if flag in ("1", "true") and element.tag != f"{{{WSSE}}}Security":
            raise ValidationError(
                f"the header {element.tag[:128]} is marked mustUnderstand but is not supported")


def _frontend(ctx: Any) -> SoapFrontend:
    frontend: SoapFrontend = ctx.app.frontend
    return frontend


# -- wire -> canonical ------------------------------------------------------------------------


def _ref_data(ref: Any) -> dict[str, Any]:
    if ref is None:
        return {}
    return {"id": ref.AccountId or None, "iban": ref.Iban or None}


def _account_ref(ref: Any, element: str) -> AccountRef:
    names = {k: f"{element}.{v}" for k, v in _REF_NAMES.items()}
    return validation.build(AccountRef, _ref_data(ref), names)


def _money(amount: Any, currency: Any) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


# -- canonical -> wire ------------------------------------------------------------------------


def _account_out(a: Account) -> t.Account:
    return t.Account(AccountId=a.id, Iban=a.iban, Currency=a.currency, Name=a.name,
                     Product=a.product, Status=a.status.name)


def _balance_out(b: Balance) -> t.Balance:
    return t.Balance(AccountId=b.account_id, Currency=b.booked.currency, Booked=b.booked.amount,
                     Available=b.available.amount, AsOf=b.as_of)


def _page_out(page: TransactionPage) -> t.TransactionPage:
    return t.TransactionPage(
        Transactions=[
            t.Transaction(
                TransactionId=x.transaction_id, AccountId=x.account_id, Amount=x.amount.amount,
                Currency=x.amount.currency, CreditDebit=x.credit_debit.value,
                BookedAt=x.booked_at, ValueDate=x.value_date,
                CounterpartyAccountId=x.counterparty_account_id, Reference=x.reference,
                EndToEndId=x.end_to_end_id, Remittance=x.remittance,
                BalanceAfter=x.balance_after.amount if x.balance_after else None,
            )
            for x in page.items
        ],
        NextCursor=page.next_cursor,
    )


def _payment_out(p: Payment) -> t.Payment:
    return t.Payment(
        PaymentId=p.payment_id, Kind=p.kind.name, Status=p.status.name,
        Iso20022Status=p.status.iso20022, DebtorAccountId=p.debtor_account_id,
        CreditorAccountId=p.creditor_account_id, BillerId=p.biller_id,
        CustomerReference=p.customer_reference, Amount=p.amount.amount,
        Currency=p.amount.currency, EndToEndId=p.end_to_end_id, Remittance=p.remittance,
        CoreTransactionId=p.core_transaction_id, ReasonCode=p.reason_code,
        ReasonMessage=p.reason_message, CreatedAt=p.created_at, UpdatedAt=p.updated_at,
        BookedAt=p.booked_at,
    )


def _result_out(result: PaymentResult) -> tuple[t.Payment, bool]:
    if result.replayed:
        log.debug("SOAP payment %s replayed", result.payment.payment_id)
    return _payment_out(result.payment), result.replayed


def _optional_date(value: Any) -> date | None:
    return value if isinstance(value, date) else None


# -- the operations -----------------------------------------------------------------------------

REF = t.required(t.AccountRef)


class BankAdapterService(Service):  # type: ignore[misc]
    """Accounts, balances, history and payments for legacy bank systems."""

    @rpc(_returns=t.required(t.array_of(t.Account)), _out_variable_name="Accounts", _faults=FAULTS)
    async def ListAccounts(ctx):  # type: ignore[no-untyped-def]
        async def run(rc: RequestContext) -> list[t.Account]:
            return [_account_out(a) for a in await f.services.accounts.list_accounts(rc)]

        f = _frontend(ctx)
        return await f.call(ctx, run)

    @rpc(REF, _returns=t.required(t.Account), _out_variable_name="Account", _faults=FAULTS)
    async def GetAccount(ctx, Account):  # type: ignore[no-untyped-def]
        async def run(rc: RequestContext) -> t.Account:
            ref = _account_ref(Account, "Account")
            return _account_out(await f.services.accounts.get_account(rc, ref))

        f = _frontend(ctx)
        return await f.call(ctx, run)

    @rpc(REF, _returns=t.required(t.Balance), _out_variable_name="Balance", _faults=FAULTS)
    async def GetBalance(ctx, Account):  # type: ignore[no-untyped-def]
        async def run(rc: RequestContext) -> t.Balance:
            ref = _account_ref(Account, "Account")
            return _balance_out(await f.services.accounts.get_balance(rc, ref))

        f = _frontend(ctx)
        return await f.call(ctx, run)

    @rpc(REF, t.Cursor.opt, t.PageLimit.opt, t.Day.opt,
         t.Day.opt, _returns=t.required(t.TransactionPage), _out_variable_name="Page",
         _faults=FAULTS)
    async def GetTransactionHistory(ctx, Account, Cursor, Limit, FromDate,  # type: ignore[no-untyped-def]
                                    ToDate):
        async def run(rc: RequestContext) -> t.TransactionPage:
            ref = _account_ref(Account, "Account")
            if Cursor is not None and len(Cursor) > 512:
                raise ValidationError("Cursor is too long", violations=(
                    FieldViolation("Cursor", "at most 512 characters"),))
            data: dict[str, Any] = {"cursor": Cursor or None, "from_date":
                                    _optional_date(FromDate), "to_date": _optional_date(ToDate)}
            if Limit is not None:
                data["limit"] = Limit
            query = validation.build(HistoryQuery, data, _HISTORY_NAMES)
            return _page_out(await f.services.accounts.list_transactions(rc, ref, query))

        f = _frontend(ctx)
        return await f.call(ctx, run)

    @rpc(t.RequestId.req, REF, REF, t.PositiveAmount.req,
         t.CurrencyCode.req, t.EndToEndId.req, t.Remittance.opt,
         _returns=(t.required(t.Payment), t.Flag.req),
         _out_variable_names=("Payment", "Replayed"), _faults=FAULTS)
    async def TransferFunds(ctx, RequestId, Debtor, Creditor, Amount,  # type: ignore[no-untyped-def]
                            Currency, EndToEndId, Remittance):
        async def run(rc: RequestContext) -> tuple[t.Payment, bool]:
            key = check_key(RequestId, "RequestId")
            request = validation.build(TransferRequest, {
                "debtor": _ref_data(Debtor), "creditor": _ref_data(Creditor),
                "amount": _money(Amount, Currency), "end_to_end_id": EndToEndId,
                "remittance": Remittance or None,
            }, _PAYMENT_NAMES)
            return _result_out(await f.services.payments.transfer(rc, request, key))

        f = _frontend(ctx)
        return await f.call(ctx, run)

    @rpc(t.RequestId.req, REF, t.BillerId.req, t.CustomerReference.req,
         t.PositiveAmount.req, t.CurrencyCode.req, t.EndToEndId.req,
         t.Remittance.opt,
         _returns=(t.required(t.Payment), t.Flag.req),
         _out_variable_names=("Payment", "Replayed"), _faults=FAULTS)
    async def PayBill(ctx, RequestId, Debtor, BillerId, CustomerReference,  # type: ignore[no-untyped-def]
                      Amount, Currency, EndToEndId, Remittance):
        async def run(rc: RequestContext) -> tuple[t.Payment, bool]:
            key = check_key(RequestId, "RequestId")
            request = validation.build(BillPaymentRequest, {
                "debtor": _ref_data(Debtor), "biller_id": BillerId,
                "customer_reference": CustomerReference, "amount": _money(Amount, Currency),
                "end_to_end_id": EndToEndId, "remittance": Remittance or None,
            }, _PAYMENT_NAMES)
            return _result_out(await f.services.payments.pay_bill(rc, request, key))

        f = _frontend(ctx)
        return await f.call(ctx, run)

    @rpc(t.PaymentId.req, _returns=t.required(t.Payment), _out_variable_name="Payment",
         _faults=FAULTS)
    async def GetPaymentStatus(ctx, PaymentId):  # type: ignore[no-untyped-def]
        async def run(rc: RequestContext) -> t.Payment:
            if not PaymentId or len(PaymentId) > 64:
                raise ValidationError("PaymentId must be 1 to 64 characters", violations=(
                    FieldViolation("PaymentId", "1 to 64 characters"),))
            return _payment_out(await f.services.payments.get_payment(rc, PaymentId))

        f = _frontend(ctx)
        return await f.call(ctx, run)


__all__ = ["BankAdapterService", "SoapFrontend"]
