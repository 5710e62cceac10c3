"""The SOAP operations: wire values -> canonical -> service call -> canonical -> wire values.

Each operation is an `async def` spyne method. The ASGI bridge (adapter.infra.spyne_asgi) runs
spyne's parse and deserialisation inline on the event loop, awaits the coroutine the method
returns, then serialises with spyne: no thread hop (see the package docstring for figures).

Invariants:
- Rule 1: every operation runs through the one call pipeline (services/pipeline.py) with this
  edge's table (`SoapFrontend.edge`). Before any service call it checks, in this order: the
  SOAPAction header (empty, absent or the operation's name; SOAP 1.1 section 6.1.1), headers
  marked `mustUnderstand` (only wsse:Security is understood; SOAP 1.1 section 4.2.3), every
  `Amount` in XML Schema's xs:decimal lexical space, no control character in any element's
  text, the client certificate's caller (mutual TLS), then the WS-Security UsernameToken
  (wssecurity.py).
- Rule 2: every error leaves through `faults.to_fault`, once, with the request's correlation
  id (the caller's `X-Request-ID` HTTP header when it sends a usable one).
- Rule 3: `RequestId`, `PaymentId` and `Cursor` are canonical types (model.identifiers),
  checked while the command is built, so a violation names the SOAP element; replay and
  conflict semantics are the services' (services.idempotency).
"""

from __future__ import annotations

import adapter.infra.spyne_six  # noqa: F401  (before spyne: Python 3.12+)

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, NoReturn, TypeVar

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
from adapter.model import identifiers as ids
from adapter.model.commands import BillPaymentCommand, GetPaymentQuery, TransferCommand
from adapter.model.errors import AdapterError, FieldViolation, Forbidden, ValidationError
from adapter.model.trusted import trusted
from adapter.security.identity import cn_from_asgi_scope, peer_of
from adapter.services.banking import BankingServices
from adapter.services.clients import Caller, Operation
from adapter.services.context import RequestContext
from adapter.services.payments import PaymentResult
from adapter.services.pipeline import Call, Edge
from adapter.services.principal import Credentials

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
# Canonical field names of errors raised by the services, in this contract's element names.
FIELD_NAMES = {ids.HISTORY_CURSOR: "Cursor"}
# Operation -> the canonical operation it performs (rate limits are set per operation).
KINDS = {"ListAccounts": Operation.READ, "GetAccount": Operation.READ,
         "GetBalance": Operation.READ, "GetTransactionHistory": Operation.READ,
         "GetPaymentStatus": Operation.READ, "TransferFunds": Operation.TRANSFER,
         "PayBill": Operation.BILL_PAYMENT}

# XML Schema Part 2 (1.0) section 3.2.3.1, the lexical space of xs:decimal, ASCII digits only
# ([0-9], never \d). whiteSpace is "collapse" (section 4.3.6): surrounding blanks are allowed.
XS_DECIMAL_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
XML_BLANKS = " \t\n\r"
DECIMAL_ELEMENTS = frozenset({"Amount"})


def _leaves(element: Any) -> list[tuple[str, str]]:
    """(dotted element path below the operation, text) of every element without children,
    in document order; one walk per call, shared by every check that reads values."""
    out: list[tuple[str, str]] = []
    _collect(element, "", out)
    return out


def _collect(element: Any, prefix: str, out: list[tuple[str, str]]) -> None:
    for child in element:
        tag = child.tag
        if not isinstance(tag, str):
            continue  # a comment or a processing instruction
        path = prefix + tag[tag.rfind("}") + 1:]  # the local name of "{namespace}local"
        if len(child):
            _collect(child, path + ".", out)
        else:
            out.append((path, child.text or ""))


class SoapFrontend:
    """The services, the WS-Security verifier and the SOAP edge's table, reachable from spyne
    methods as `ctx.app.frontend`."""

    def __init__(self, services: BankingServices, verifier: UsernameTokenVerifier) -> None:
        self.services = services
        self.verifier = verifier
        self.edge = Edge("soap", _render, FIELD_NAMES,
                         checks=(_check_soap_action, _check_must_understand, _check_decimals),
                         verifiers=(self._verify_token,), kinds=KINDS)

    async def call(self, ctx: Any, fn: Callable[[RequestContext], Awaitable[T]]) -> T:
        scope = ctx.transport.scope
        correlation = None
        for key, value in scope.get("headers", ()):
            if key == b"x-request-id":
                correlation = bytes(value).decode("latin-1")
        body = ctx.in_body_doc
        # Blanks around a value are the indentation of pretty-printed XML.
        leaves = ([(path, text.strip(XML_BLANKS)) for path, text in _leaves(body)]
                  if body is not None else [])
        call = Call(self.edge, ctx.descriptor.name,
                    Credentials(cn_from_asgi_scope(scope)), correlation_header=correlation,
                    texts=lambda: leaves, raw=ctx, peer=peer_of(scope))
        return await self.services.pipeline.run(call, fn)

    async def _verify_token(self, call: Call) -> None:
        principal = call.principal
        if not isinstance(principal, Caller):
            raise Forbidden("the SOAP service serves registered clients only")
        await self.verifier.verify(principal, call.raw.in_header_doc)


async def _render(error: AdapterError, call: Call) -> NoReturn:
    raise to_fault(error, call.correlation_id)


def _check_soap_action(call: Call) -> None:
    operation = call.operation
    for key, value in call.raw.transport.scope.get("headers", ()):
        if key == b"soapaction":
            action = bytes(value).decode("latin-1").strip().strip('"')
            if action and action != operation:
                raise ValidationError(
                    f"the SOAPAction header names {action[:64]!r}, the body is a "
                    f"{operation} request",
                    violations=(FieldViolation("SOAPAction", "must match the body"),),
                )


def _check_must_understand(call: Call) -> None:
    for element in call.raw.in_header_doc or ():
        flag = element.get(f"{{{SOAP_ENV}}}mustUnderstand")
        if flag in ("1", "true") and element.tag != f"{{{WSSE}}}Security":
            raise ValidationError(
                f"the header {element.tag[:128]} is marked mustUnderstand but is not supported")


def _check_decimals(call: Call) -> None:
    """spyne reads an xs:decimal with Python's Decimal(), which also takes fullwidth and other
    non-ASCII digits, "1_000" and "NaN": hold each Amount to the schema's lexical space."""
    for path, text in call.texts():
        if (path.rpartition(".")[2] in DECIMAL_ELEMENTS
                and not XS_DECIMAL_RE.fullmatch(text)):
            raise ValidationError(f"invalid request: {path}: not an xs:decimal", violations=(
                FieldViolation(path, "an xs:decimal: ASCII digits, one optional sign and at "
                                     "most one '.'"),))


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


def _key(request_id: Any) -> str:
    key: str = validation.value(ids.IdempotencyKey, request_id, "RequestId")
    return key


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
            command = trusted(TransferCommand, **validation.gather(
                key=lambda: _key(RequestId),
                request=lambda: validation.build(TransferRequest, {
                    "debtor": _ref_data(Debtor), "creditor": _ref_data(Creditor),
                    "amount": _money(Amount, Currency), "end_to_end_id": EndToEndId,
                    "remittance": Remittance or None,
                }, _PAYMENT_NAMES)))
            return _result_out(await f.services.payments.transfer(rc, command))

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
            command = trusted(BillPaymentCommand, **validation.gather(
                key=lambda: _key(RequestId),
                request=lambda: validation.build(BillPaymentRequest, {
                    "debtor": _ref_data(Debtor), "biller_id": BillerId,
                    "customer_reference": CustomerReference, "amount": _money(Amount, Currency),
                    "end_to_end_id": EndToEndId, "remittance": Remittance or None,
                }, _PAYMENT_NAMES)))
            return _result_out(await f.services.payments.pay_bill(rc, command))

        f = _frontend(ctx)
        return await f.call(ctx, run)

    @rpc(t.PaymentId.req, _returns=t.required(t.Payment), _out_variable_name="Payment",
         _faults=FAULTS)
    async def GetPaymentStatus(ctx, PaymentId):  # type: ignore[no-untyped-def]
        async def run(rc: RequestContext) -> t.Payment:
            query = trusted(GetPaymentQuery,
                payment_id=validation.value(ids.PaymentId, PaymentId, "PaymentId"))
            return _payment_out(await f.services.payments.get_payment(rc, query))

        f = _frontend(ctx)
        return await f.call(ctx, run)


__all__ = ["BankAdapterService", "SoapFrontend"]
