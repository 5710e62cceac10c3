"""The simulated core's SOAP 1.1 service (document/literal wrapped), over the ledger.

Owns the core's SOAP contract (committed as wsdl/core_sim.wsdl) and the mapping of ledger
outcomes to it.

Invariants:
- Rule 1: a business refusal is a SOAP Fault with faultcode `Client.<CODE>`; a system error is
  `Server.<CODE>`. Either way the detail carries `<CoreError><Code>CODE</Code>...` in the
  service namespace, and CODE is one of the ledger's stable codes.
- Rule 2: amounts are `xs:decimal` in the account's currency, never floats; they are converted
  to minor units once, here, and a value with more decimals than the currency allows is
  refused (VALIDATION), never rounded.
- Rule 3: faults are applied in the order `faults` documents: latency, then an injected error
  (nothing booked), then the booking, then a lost reply (the booking stands).
- Rule 4: `GetTransferStatus` answers NOT_FOUND as a state, not a fault: "never seen" is the
  one answer that lets the adapter fence an in-doubt posting with `CancelTransfer`.

Regenerate the committed WSDL after changing this file:
    .venv/bin/python -m core_sim.soap_service > wsdl/core_sim.wsdl
"""

from __future__ import annotations

import adapter.infra.spyne_six  # noqa: F401  (before spyne: Python 3.12+)

import logging
import sys
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal as PyDecimal
from typing import Any

from lxml import etree
from spyne import Application, Fault, Service, rpc
from spyne.model.complex import Array, ComplexModel
from spyne.model.enum import Enum
from spyne.model.primitive import Boolean, Date, DateTime, Decimal, Integer, Unicode
from spyne.protocol.soap import Soap11

from adapter.infra.logmask import mask
from adapter.infra.spyne_asgi import wsdl_document
from core_sim.faults import FaultSettings
from core_sim.ledger import AccountRow, Ledger, LedgerError, Posting, from_minor, to_minor

logger = logging.getLogger(__name__)

TNS = "urn:bank:core-sim:v1"
SERVICE_NAME = "CoreBankingService"
DEFAULT_ADDRESS = "https://localhost:7443/core/v1"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
XS_NS = "http://www.w3.org/2001/XMLSchema"
PATH = "/core/v1"

# Plain notation always: str(Decimal) may choose exponent form ("1E+3"), which xs:decimal forbids.
Amount = Decimal(str_format="{0:f}")


class Account(ComplexModel):
    __namespace__ = TNS
    _type_info = [
        ("AccountId", Unicode(min_occurs=1, nillable=False)),
        ("Iban", Unicode),
        ("Currency", Unicode(min_occurs=1, nillable=False)),
        ("Name", Unicode),
        ("Status", Unicode),
        ("Kind", Unicode),
    ]


class BalanceInfo(ComplexModel):
    __namespace__ = TNS
    __type_name__ = "Balance"
    _type_info = [
        ("AccountId", Unicode(min_occurs=1, nillable=False)),
        ("Currency", Unicode(min_occurs=1, nillable=False)),
        ("Booked", Amount),
        ("Available", Amount),
        ("AsOf", DateTime),
    ]


TransferState = Enum("BOOKED", "NOT_FOUND", "CANCELLED", "REVERSED", type_name="TransferState")


class TransferResult(ComplexModel):
    __namespace__ = TNS
    _type_info = [
        ("Reference", Unicode(min_occurs=1, nillable=False)),
        ("State", TransferState),
        ("TransactionId", Unicode),
        ("BookedAt", DateTime),
        ("Replayed", Boolean),
    ]


class HistoryEntry(ComplexModel):
    __namespace__ = TNS
    __type_name__ = "Entry"
    _type_info = [
        ("EntryId", Unicode(min_occurs=1, nillable=False)),
        ("Reference", Unicode),
        ("Amount", Amount),
        ("Currency", Unicode),
        ("CreditDebit", Enum("CRDT", "DBIT", type_name="CreditDebit")),
        ("BookedAt", DateTime),
        ("ValueDate", Date),
        ("CounterpartyAccountId", Unicode),
        ("EndToEndId", Unicode),
        ("Remittance", Unicode),
        ("BalanceAfter", Amount),
        # The booking's id, as PostTransfer answered it (ledger Rule 7), and the
        # counterparty's IBAN when its account has one.
        ("TransactionId", Unicode(min_occurs=1, nillable=False)),
        ("CounterpartyIban", Unicode),
    ]


class HistoryPage(ComplexModel):
    __namespace__ = TNS
    _type_info = [
        ("Entries", Array(HistoryEntry)),
        ("NextCursor", Unicode),
    ]


# -- drop-reply plumbing ----------------------------------------------------------------------


@dataclass
class ReplyFate:
    """Per-request slot: a service method marks the reply as lost; the HTTP layer obeys."""

    drop_mode: str | None = None


reply_fate: ContextVar[ReplyFate | None] = ContextVar("core_sim_reply_fate", default=None)


@dataclass
class CoreBackend:
    ledger: Ledger
    faults: FaultSettings


def _backend(ctx: Any) -> CoreBackend:
    backend: CoreBackend = ctx.app.core_backend
    return backend


def core_fault(code: str, message: str, *, server: bool = False) -> Fault:
    detail = etree.Element(f"{{{TNS}}}CoreError", nsmap={"core": TNS})
    etree.SubElement(detail, f"{{{TNS}}}Code").text = code
    etree.SubElement(detail, f"{{{TNS}}}Message").text = message
    return Fault(f"{'Server' if server else 'Client'}.{code}", message, detail=detail)


async def _enter(ctx: Any) -> CoreBackend:
    """Apply latency and an injected error (Rule 3) before the operation touches the ledger."""
    backend = _backend(ctx)
    await backend.faults.delay(ctx.descriptor.name)
    if backend.faults.should_fail():
        raise core_fault("CORE_UNAVAILABLE", "the core is unavailable (injected fault)",
                         server=True)
    return backend


def _ledger_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except LedgerError as exc:
        raise core_fault(exc.code, exc.message) from None


def _account(row: AccountRow) -> Account:
    return Account(AccountId=row.account_id, Iban=row.iban, Currency=row.currency, Name=row.name,
                   Status=row.status, Kind=row.kind)


def _result(reference: str, posting: Posting | None) -> TransferResult:
    if posting is None:
        return TransferResult(Reference=reference, State="NOT_FOUND")
    return TransferResult(Reference=posting.reference, State=posting.state.upper(),
                          TransactionId=posting.transaction_id, BookedAt=posting.booked_at,
                          Replayed=posting.replayed)


def _required(**values: Any) -> None:
    missing = [name for name, value in values.items() if value is None or value == ""]
    if missing:
        raise core_fault("VALIDATION", f"missing: {', '.join(missing)}")


class CoreBankingService(Service):  # type: ignore[misc]
    @rpc(_returns=Array(Account), _out_variable_name="Accounts")
    async def ListAccounts(ctx):
        backend = await _enter(ctx)
        return [_account(a) for a in backend.ledger.list_accounts()]

    @rpc(Unicode, Unicode, _returns=Account, _out_variable_name="Account")
    async def GetAccount(ctx, AccountId, Iban):
        backend = await _enter(ctx)
        if bool(AccountId) == bool(Iban):
            raise core_fault("VALIDATION", "name the account by exactly one of AccountId or Iban")
        return _account(_ledger_call(backend.ledger.get_account, AccountId or None, Iban or None))

    @rpc(Unicode, _returns=BalanceInfo, _out_variable_name="Balance")
    async def GetBalance(ctx, AccountId):
        backend = await _enter(ctx)
        _required(AccountId=AccountId)
        booked, available, currency = _ledger_call(backend.ledger.balance, AccountId)
        return BalanceInfo(AccountId=AccountId, Currency=currency,
                           Booked=from_minor(booked, currency),
                           Available=from_minor(available, currency),
                           AsOf=datetime.now().astimezone())

    @rpc(Unicode, Unicode, Unicode, Unicode, Unicode, Amount, Unicode, Unicode, Unicode,
         _returns=TransferResult, _out_variable_name="Result")
    async def PostTransfer(ctx, Reference, DebtorAccountId, CreditorAccountId,
                           BillerId, CustomerReference, Amount, Currency, EndToEndId,
                           Remittance):
        backend = await _enter(ctx)
        _required(Reference=Reference, DebtorAccountId=DebtorAccountId, Amount=Amount,
                  Currency=Currency, EndToEndId=EndToEndId)
        if not isinstance(Amount, PyDecimal) or not Amount.is_finite():
            raise core_fault("VALIDATION", "Amount must be a finite decimal")
        minor = _ledger_call(to_minor, Amount, Currency)
        posting: Posting = _ledger_call(
            backend.ledger.post_transfer, Reference, DebtorAccountId, minor, Currency, EndToEndId,
            creditor_id=CreditorAccountId or None, biller_id=BillerId or None,
            customer_reference=CustomerReference or None, remittance=Remittance or None,
        )
        logger.debug("posting %s %s from %s: %s", Reference, posting.state,
                     mask(DebtorAccountId), "replayed" if posting.replayed else "new")
        if backend.faults.should_drop():
            fate = reply_fate.get()
            if fate is not None:
                fate.drop_mode = backend.faults.drop_mode
        return _result(Reference, posting)

    @rpc(Unicode, _returns=TransferResult, _out_variable_name="Result")
    async def GetTransferStatus(ctx, Reference):
        backend = await _enter(ctx)
        _required(Reference=Reference)
        return _result(Reference, backend.ledger.transfer_status(Reference))

    @rpc(Unicode, _returns=TransferResult, _out_variable_name="Result")
    async def CancelTransfer(ctx, Reference):
        backend = await _enter(ctx)
        _required(Reference=Reference)
        return _result(Reference, _ledger_call(backend.ledger.cancel, Reference))

    @rpc(Unicode, Unicode, Integer, Date, Date, _returns=HistoryPage, _out_variable_name="Page")
    async def GetHistory(ctx, AccountId, Cursor, Limit, FromDate, ToDate):
        backend = await _enter(ctx)
        _required(AccountId=AccountId)
        entries, next_cursor = _ledger_call(
            backend.ledger.history, AccountId, Cursor or None, Limit or 20, FromDate, ToDate
        )
        return HistoryPage(
            Entries=[
                HistoryEntry(
                    EntryId=str(e.entry_id), Reference=e.reference,
                    Amount=from_minor(abs(e.amount_minor), e.currency), Currency=e.currency,
                    CreditDebit="CRDT" if e.amount_minor > 0 else "DBIT", BookedAt=e.booked_at,
                    ValueDate=e.value_date, CounterpartyAccountId=e.counterparty,
                    EndToEndId=e.end_to_end_id, Remittance=e.remittance,
                    BalanceAfter=from_minor(e.balance_after, e.currency),
                    TransactionId=e.transaction_id, CounterpartyIban=e.counterparty_iban,
                )
                for e in entries
            ],
            NextCursor=next_cursor,
        )


def build_application(ledger: Ledger | None = None,
                      faults: FaultSettings | None = None) -> Application:
    """The spyne Application; `ledger` may be None only to generate the WSDL."""
    app = Application(
        [CoreBankingService],
        tns=TNS,
        name=SERVICE_NAME,
        in_protocol=Soap11(validator="soft"),
        out_protocol=Soap11(),
    )
    app.core_backend = CoreBackend(ledger, faults or FaultSettings())  # type: ignore[arg-type]
    return app


def service_wsdl(address: str = DEFAULT_ADDRESS) -> bytes:
    """The WSDL as committed (canonical, so a change to the contract reads well in a diff)."""
    return wsdl_document(build_application(), address)


if __name__ == "__main__":
    sys.stdout.buffer.write(service_wsdl())
