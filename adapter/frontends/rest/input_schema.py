"""The canonical input rules, written as JSON Schema, for the OpenAPI document (openapi.py).

pydantic writes the wire models' shapes; the meaning of a value is checked later by the
canonical model (adapter.model), whose rules pydantic cannot see. This module states those
rules in JSON Schema so that the document accepts exactly what the server accepts, and a
fuzzer working from it (schemathesis) reaches the money path instead of the refusals.

Invariants:
- Rule 1: every pattern here is derived from, or checked against, the canonical validator it
  describes (tests/rest/test_openapi.py compares them value by value): a value matches the
  schema if and only if the server accepts it.
- Rule 2: what JSON Schema cannot state is named, not hidden: an IBAN's country length and
  mod-97 check digits are `format: iban` (a format of this document, described in its text),
  and rules between two values (debtor != creditor, dateFrom <= dateTo, a cursor the core
  made, the account's currency) are stated in the descriptions; the server refuses them with
  the field named.
- Rule 3: patterns use only what ECMA-262 and Python's `re` read alike (no lookaround, no
  `\\d`, no Unicode escapes above U+FFFF: such characters are written literally).
"""

from __future__ import annotations

import sys
from functools import cache
from typing import Any

from adapter.model.accounts import ACCOUNT_ID_RE
from adapter.model.currencies import CURRENCIES
from adapter.model.identifiers import CURSOR_MAX, PAYMENT_ID_MAX
from adapter.model.money import MAX_DIGITS
from adapter.model.payments import BILLER_RE, CUSTOMER_REF_RE, REMITTANCE_MAX
from adapter.services.pipeline import CORRELATION_ID_RE

IBAN_FORMAT = "iban"
HOME_CURRENCY = "EUR"

# model.accounts.normalise_iban removes spaces and upper-cases before IBAN_RE, so the wire
# accepts a spaced, lower-case IBAN: the pattern says so, character by character.
IBAN_PATTERN = r"^ *[A-Za-z] *[A-Za-z] *[0-9] *[0-9]( *[A-Za-z0-9]){11,30} *$"
ACCOUNT_ID_PATTERN = ACCOUNT_ID_RE.pattern
# model.payments.E2E_RE, and no leading or trailing space (`_e2e`).
_E2E_CHAR = r"[A-Za-z0-9/\-?:().,'+]"
E2E_PATTERN = rf"^{_E2E_CHAR}([A-Za-z0-9/\-?:().,'+ ]{{0,33}}{_E2E_CHAR})?$"
PAYMENT_ID_PATTERN = rf"^[A-Za-z0-9-]{{1,{PAYMENT_ID_MAX}}}$"
CURSOR_PATTERN = rf"^[\x21-\x7e]{{1,{CURSOR_MAX}}}$"
REQUEST_ID_PATTERN = f"^{CORRELATION_ID_RE.pattern}$"
# ISO 8601 calendar dates the core can store and compare as text: years 1000-9999
# (model.payments.HistoryQuery refuses earlier ones, naming the parameter).
DATE_PATTERN = r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"


def iban() -> dict[str, Any]:
    """The `iban` format alone: a pattern beside it would let a generator make values from
    the pattern that the format refuses (IBAN_PATTERN is the format's shape, in its text)."""
    return {"type": "string", "format": IBAN_FORMAT,
            "description": "an IBAN (ISO 13616) matching " + IBAN_PATTERN + " (spaces and "
                           "lower case allowed); its length for the country and its mod-97 "
                           "check digits are checked"}


def account_id() -> dict[str, Any]:
    return {"type": "string", "pattern": ACCOUNT_ID_PATTERN,
            "description": "the bank's internal account id, such as 10000001"}


def account_reference() -> dict[str, Any]:
    """Exactly one of `id` and `iban` (model.accounts.AccountRef): the two branches exclude
    each other, so `oneOf` is what the server does; a null member counts as absent."""
    null = {"type": "null"}
    return {
        "title": "AccountReference", "type": "object",
        "description": "an account named by exactly one of its internal id or its IBAN "
                       "(a null member is the same as an absent one)",
        "properties": {"id": {"anyOf": [account_id(), null]},
                       "iban": {"anyOf": [iban(), null]}},
        "oneOf": [
            {"required": ["id"], "properties": {"id": account_id(), "iban": null}},
            {"required": ["iban"], "properties": {"iban": iban(), "id": null}},
        ],
    }


def _positive_amount_pattern(minor: int) -> str:
    """model.money Rules 2-4 for a positive amount of a currency with `minor` decimals: the
    grammar, at most MAX_DIGITS digits before the decimals, no non-zero digit past `minor`
    (trailing zeros are allowed and dropped), and greater than zero."""
    integer = rf"[1-9][0-9]{{0,{MAX_DIGITS - minor - 1}}}"
    if minor == 0:
        return rf"^({integer})(\.0+)?$"
    fraction = rf"\.[0-9]{{1,{minor}}}0*"
    # 0.xx: a non-zero digit among the first `minor` decimals.
    small = "|".join("0" * zeros + "[1-9]" + (f"[0-9]{{0,{minor - zeros - 1}}}"
                                              if minor - zeros > 1 else "")
                     for zeros in range(minor))
    return rf"^({integer}({fraction})?|0\.({small})0*)$"


def amount() -> dict[str, Any]:
    """A positive amount in a known currency, one branch per number of minor units."""
    # The bank's home currency first (the order of an enum means nothing to a validator; a
    # generator tries the first value first), then the others alphabetically.
    codes = sorted(CURRENCIES, key=lambda code: (code != HOME_CURRENCY, code))
    by_minor: dict[int, list[str]] = {}
    for code in codes:
        by_minor.setdefault(CURRENCIES[code].minor_units, []).append(code)
    return {
        "title": "Amount", "type": "object",
        "description": "an amount in a currency (NextGenPSD2 `Amount`): a decimal string, "
                       "greater than zero, ASCII digits, no sign, no exponent, no redundant "
                       "leading zero, digits on both sides of a '.', at most "
                       f"{MAX_DIGITS} digits, and no more decimals than the currency's minor "
                       "units (trailing zeros are allowed). A JSON number is refused.",
        "required": ["currency", "amount"],
        "properties": {"currency": {"type": "string", "enum": codes,
                                    "description": "ISO 4217 alphabetic code"},
                       "amount": {"type": "string", "examples": ["12.50"]}},
        "oneOf": [
            {"properties": {"currency": {"enum": group},
                            "amount": {"pattern": _positive_amount_pattern(minor)}}}
            for minor, group in sorted(by_minor.items(), key=lambda item: item[0] != 2)
        ],
    }


def _char(code: int) -> str:
    ch = chr(code)
    return "\\" + ch if ch in "\\]^-[" else ch


@cache
def printable_pattern(max_length: int) -> str:
    """`str.isprintable()` of this interpreter's Unicode database, as a character class of
    literal ranges (Rule 3)."""
    ranges: list[tuple[int, int]] = []
    start: int | None = None
    for code in range(sys.maxunicode + 1):
        printable = chr(code).isprintable()
        if printable and start is None:
            start = code
        elif not printable and start is not None:
            ranges.append((start, code - 1))
            start = None
    if start is not None:
        ranges.append((start, sys.maxunicode))
    cls = "".join(_char(a) if a == b else f"{_char(a)}-{_char(b)}" for a, b in ranges)
    return f"^[{cls}]{{0,{max_length}}}$"


def remittance() -> dict[str, Any]:
    return {"anyOf": [{"type": "string", "maxLength": REMITTANCE_MAX,
                       "pattern": printable_pattern(REMITTANCE_MAX)}, {"type": "null"}],
            "description": f"at most {REMITTANCE_MAX} printable characters (no control, "
                           "format, separator other than space, or unassigned character)"}


def end_to_end_id() -> dict[str, Any]:
    return {"type": "string", "pattern": E2E_PATTERN, "maxLength": 35,
            "description": "1 to 35 characters of the SWIFT set: letters, digits, space and "
                           "/ - ? : ( ) . , ' +, no leading or trailing space"}


def biller_id() -> dict[str, Any]:
    return {"type": "string", "pattern": BILLER_RE.pattern, "examples": ["ELEC01"]}


def customer_reference() -> dict[str, Any]:
    return {"type": "string", "pattern": CUSTOMER_REF_RE.pattern,
            "description": "the customer's reference at the biller", "examples": ["CUST-778812"]}


def account_path() -> dict[str, Any]:
    """A path segment (wire.account_ref_from_path): shaped like an IBAN, it is read as one and
    must be a valid IBAN; otherwise an internal account id."""
    return {"anyOf": [{**account_id(), "not": {"pattern": IBAN_PATTERN}}, iban()],
            "examples": ["10000001", "DE89370400440532013000"]}


def narrow_requests(schemas: dict[str, Any]) -> None:
    """Replace the request schemas pydantic wrote with the canonical rules (in place)."""
    schemas["AccountReference"] = account_reference()
    schemas["Amount"] = amount()
    # Once, by reference: the character class is long.
    schemas["RemittanceInformation"] = remittance()
    for name in ("TransferInitiation", "BillPaymentInitiation"):
        props = schemas[name]["properties"]
        props["endToEndIdentification"] = end_to_end_id()
        props["remittanceInformationUnstructured"] = {
            "$ref": "#/components/schemas/RemittanceInformation"}
    bill = schemas["BillPaymentInitiation"]["properties"]
    bill["billerId"] = biller_id()
    bill["customerReference"] = customer_reference()
    schemas["TransferInitiation"]["description"] = (
        "A credit transfer between two accounts (NextGenPSD2 payment initiation body); the "
        "debtor and the creditor must be different accounts, held in the amount's currency.")
