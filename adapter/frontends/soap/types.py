"""The SOAP contract's types: every element name, simple type and facet the WSDL publishes.

Legacy callers generate clients from this once and keep them for years, so:
- Rule 1: names are stable. Rename nothing; add optional elements at the end of a sequence.
- Rule 2: a required element is `minOccurs=1` and not nillable; an optional one is
  `minOccurs=0` and not nillable (absent, never `xsi:nil`).
- Rule 3: amounts are `xs:decimal` with `totalDigits=18` (ISO 20022 ActiveCurrencyAndAmount)
  and `fractionDigits=4` (the most any accepted ISO 4217 currency has, CLF); the currency's
  own minor units are checked by the canonical model, which refuses rather than rounds.
- Rule 4: facets mirror the canonical model's rules (adapter.model), so a schema-valid
  request is refused only for reasons the schema cannot express (IBAN mod-97, minor units).

The committed contract is wsdl/bank_adapter.wsdl; regenerate it after changing this module:
    .venv/bin/python -m adapter.frontends.soap > wsdl/bank_adapter.wsdl
"""

from __future__ import annotations

import adapter.infra.spyne_six  # noqa: F401  (before spyne: Python 3.12+)

from typing import Any

from spyne import Fault
from spyne.model.complex import Array, ComplexModel
from spyne.model.enum import Enum
from spyne.model.primitive import Boolean, Date, DateTime, Decimal, Int, Unicode

TNS = "urn:bank:adapter:soap:v1"


def required(model: Any) -> Any:
    return model.customize(min_occurs=1, nillable=False)


def optional(model: Any) -> Any:
    return model.customize(min_occurs=0, nillable=False)


def array_of(model: Any) -> Any:
    """A wrapper of zero or more `model` items, none of them nil."""
    return Array(model.customize(nillable=False))


class Simple:
    """A named simple type in TNS, in its required (`req`) and optional (`opt`) forms.

    spyne's `customize()` on a restricted type derives a new, element-named type
    ("Payment_AmountType"); building each form with the name and namespace keeps one
    named type in the schema ("tns:Amount") whichever element uses it.
    """

    def __init__(self, base: Any, name: str, **facets: Any) -> None:
        self.name = name
        self.req = base(type_name=name, __namespace__=TNS, min_occurs=1, nillable=False,
                        **facets)
        self.opt = base(type_name=name, __namespace__=TNS, min_occurs=0, nillable=False,
                        **facets)


def _enum(name: str, *values: str) -> Simple:
    # Enum() takes no occurrence arguments; customize() keeps an enum's name.
    def base(*, type_name: str, __namespace__: str, **occurs: Any) -> Any:
        return Enum(*values, type_name=type_name, __namespace__=__namespace__).customize(**occurs)

    return Simple(base, name)


# -- simple types (Rule 4: the patterns are the canonical model's) ------------------------------

AccountId = Simple(Unicode, "AccountId", max_len=34, pattern="[A-Za-z0-9][A-Za-z0-9\\-]{0,33}")
# Spaces and lower case are accepted and normalised (ISO 13616 paper format); 34 + 8 spaces.
Iban = Simple(Unicode, "Iban", min_len=15, max_len=42, pattern="[A-Za-z0-9 ]+")
CurrencyCode = Simple(Unicode, "CurrencyCode", pattern="[A-Z]{3}")
Amount = Simple(Decimal, "Amount", total_digits=18, fraction_digits=4)
PositiveAmount = Simple(Decimal, "PositiveAmount", total_digits=18, fraction_digits=4, gt=0)
RequestId = Simple(Unicode, "RequestId", min_len=1, max_len=255, pattern="[!-~]+")
EndToEndId = Simple(Unicode, "EndToEndId", min_len=1, max_len=35,
                    pattern="[A-Za-z0-9/\\-?:().,'+ ]+")
Remittance = Simple(Unicode, "Remittance", max_len=140)
BillerId = Simple(Unicode, "BillerId", pattern="[A-Z0-9]{2,16}")
CustomerReference = Simple(Unicode, "CustomerReference", pattern="[A-Za-z0-9/\\-]{1,35}")
PaymentId = Simple(Unicode, "PaymentId", min_len=1, max_len=64)
Cursor = Simple(Unicode, "Cursor", min_len=1, max_len=512)
PageLimit = Simple(Int, "PageLimit", ge=1, le=100)
Text = Simple(Unicode, "Text", max_len=512)
# Whole seconds after which a refused call may be retried (RATE_LIMITED), as HTTP Retry-After.
RetryAfterSeconds = Simple(Int, "RetryAfterSeconds", ge=1)
DateTimeT = Simple(DateTime, "Timestamp")
Day = Simple(Date, "Day")
Flag = Simple(Boolean, "Flag")

PaymentStatusCode = _enum("PaymentStatus", "RECEIVED", "ACCEPTED", "BOOKED", "REJECTED",
                          "IN_DOUBT", "REVERSED")
Iso20022Status = _enum("Iso20022Status", "RCVD", "ACTC", "ACSC", "RJCT", "PDNG", "CANC")
PaymentKindCode = _enum("PaymentKind", "TRANSFER", "BILL_PAYMENT")
CreditDebitCode = _enum("CreditDebit", "CRDT", "DBIT")
AccountStatusCode = _enum("AccountStatus", "ENABLED", "BLOCKED")


# -- complex types ------------------------------------------------------------------------------


class AccountRef(ComplexModel):
    """An account named by exactly one of AccountId or Iban."""

    __namespace__ = TNS
    _type_info = [
        ("AccountId", AccountId.opt),
        ("Iban", Iban.opt),
    ]


class Account(ComplexModel):
    __namespace__ = TNS
    _type_info = [
        ("AccountId", AccountId.req),
        ("Iban", Iban.opt),
        ("Currency", CurrencyCode.req),
        ("Name", Text.req),
        ("Product", Text.req),
        ("Status", AccountStatusCode.req),
    ]


class Balance(ComplexModel):
    """Booked is what the ledger holds; Available adds the overdraft (ISO 20022 ITAV)."""

    __namespace__ = TNS
    _type_info = [
        ("AccountId", AccountId.req),
        ("Currency", CurrencyCode.req),
        ("Booked", Amount.req),
        ("Available", Amount.req),
        ("AsOf", DateTimeT.req),
    ]


class Transaction(ComplexModel):
    """One ledger entry; Amount is always positive, the direction is CreditDebit."""

    __namespace__ = TNS
    _type_info = [
        ("TransactionId", Text.req),
        ("AccountId", AccountId.req),
        ("Amount", Amount.req),
        ("Currency", CurrencyCode.req),
        ("CreditDebit", CreditDebitCode.req),
        ("BookedAt", DateTimeT.req),
        ("ValueDate", Day.req),
        ("CounterpartyAccountId", Text.opt),
        ("Reference", Text.opt),
        ("EndToEndId", Text.opt),
        ("Remittance", Text.opt),
        ("BalanceAfter", Amount.opt),
    ]


class TransactionPage(ComplexModel):
    """One page of history; pass NextCursor back as Cursor for the next one (absent at the end)."""

    __namespace__ = TNS
    _type_info = [
        ("Transactions", required(array_of(Transaction))),
        ("NextCursor", Cursor.opt),
    ]


class Payment(ComplexModel):
    __namespace__ = TNS
    _type_info = [
        ("PaymentId", PaymentId.req),
        ("Kind", PaymentKindCode.req),
        ("Status", PaymentStatusCode.req),
        ("Iso20022Status", Iso20022Status.req),
        ("DebtorAccountId", AccountId.req),
        ("CreditorAccountId", AccountId.opt),
        ("BillerId", BillerId.opt),
        ("CustomerReference", CustomerReference.opt),
        ("Amount", PositiveAmount.req),
        ("Currency", CurrencyCode.req),
        ("EndToEndId", EndToEndId.req),
        ("Remittance", Remittance.opt),
        ("CoreTransactionId", Text.opt),
        ("ReasonCode", Text.opt),
        ("ReasonMessage", Text.opt),
        ("CreatedAt", DateTimeT.req),
        ("UpdatedAt", DateTimeT.req),
        ("BookedAt", DateTimeT.opt),
    ]


class FieldViolation(ComplexModel):
    __namespace__ = TNS
    _type_info = [
        ("Field", Text.req),
        ("Description", Text.req),
    ]


class AdapterFault(Fault):  # type: ignore[misc]
    """The detail of every SOAP Fault this service returns (declared on every operation).

    Only the contract uses this class; faults are raised as plain spyne `Fault`s whose detail
    is an `AdapterFault` element built by `faults.py`.
    """

    __namespace__ = TNS
    __type_name__ = "AdapterFault"
    _type_info = [
        ("Code", Text.req),
        ("Message", Text.req),
        ("CorrelationId", Text.req),
        ("PaymentId", PaymentId.opt),
        ("Violations", optional(array_of(FieldViolation))),
        ("RetryAfter", RetryAfterSeconds.opt),
    ]
