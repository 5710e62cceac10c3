"""Field helpers: the structured contents of fields 4, 48, 54 and 90, both ways.

Owns: reading and writing the inside of a field (the codec only sees strings). Pure functions
of the core's own tables (`core_sim.currencies`); a malformed value raises `ElementError`,
which the host answers with field 39 = 30.

- Field 4, amount, transaction (n12): minor units of the field 49 currency, no decimal point
  (ISO 8583:1987: "the decimal is implied by the currency code").
- Field 48, additional data - private (ans..999 LLLVAR): the interface document's
  tag-length-value elements: tag an2, length n3, value.
- Field 54, additional amounts (an..120 LLLVAR): up to six 20-character amounts, ISO
  8583:1987 layout: account type n2, amount type n2, currency code n3, C/D, amount n12.
- Field 90, original data elements (n42): original MTI n4, STAN n6, transmission date and
  time n10, acquiring institution id n11, forwarding institution id n11.
"""

from __future__ import annotations

from dataclasses import dataclass

from core_sim.currencies import BY_NUMERIC, Currency

AMOUNT_DIGITS = 12
TLV_TAG = 2
TLV_LENGTH = 3
ADDITIONAL_AMOUNT = 20
ADDITIONAL_AMOUNTS_MAX = 6  # 120 / 20

# Field 54 positions 3-4 (ISO 8583:1987 annex, amount types): 01 ledger, 02 available balance.
LEDGER_BALANCE = "01"
AVAILABLE_BALANCE = "02"
DEFAULT_ACCOUNT_TYPE = "00"


class ElementError(ValueError):
    """A field whose inside is not what the interface document says."""


def amount(minor: int) -> str:
    """Field 4 for `minor` units (0 .. 10**12 - 1)."""
    if not 0 <= minor < 10**AMOUNT_DIGITS:
        raise ElementError("the amount does not fit field 4 (n12)")
    return f"{minor:0{AMOUNT_DIGITS}d}"


def parse_amount(value: str) -> int:
    if len(value) != AMOUNT_DIGITS or not (value.isascii() and value.isdigit()):
        raise ElementError("field 4 is not n12")
    return int(value)


def currency(numeric: str) -> Currency:
    """The field 49 currency; ElementError if the core keeps no accounts in it."""
    found = BY_NUMERIC.get(numeric)
    if found is None:
        raise ElementError("field 49 is not a currency the core supports")
    return found


def pack_tlv(values: dict[str, str | None]) -> str:
    """Field 48 from tag -> value; empty and None values are left out."""
    out = []
    for tag, value in values.items():
        if not value:
            continue
        if len(tag) != TLV_TAG or len(value) >= 10**TLV_LENGTH:
            raise ElementError(f"field 48 tag {tag!r} cannot hold its value")
        out.append(f"{tag}{len(value):0{TLV_LENGTH}d}{value}")
    return "".join(out)


def parse_tlv(data: str) -> dict[str, str]:
    """Field 48 -> tag -> value; a repeated tag, a bad length or an overrun is refused."""
    out: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        head_end = pos + TLV_TAG + TLV_LENGTH
        tag, length = data[pos : pos + TLV_TAG], data[pos + TLV_TAG : head_end]
        if len(length) != TLV_LENGTH or not (length.isascii() and length.isdigit()):
            raise ElementError("field 48 is not tag-length-value")
        end = head_end + int(length)
        if end > len(data):
            raise ElementError(f"field 48 element {tag} overruns the field")
        if tag in out:
            raise ElementError(f"field 48 repeats tag {tag}")
        out[tag] = data[head_end:end]
        pos = end
    return out


def additional_amount(amount_type: str, minor: int, cur: Currency,
                      account_type: str = DEFAULT_ACCOUNT_TYPE) -> str:
    """One field 54 amount; a negative balance is written D (debit) with its magnitude."""
    sign = "D" if minor < 0 else "C"
    return f"{account_type}{amount_type}{cur.numeric}{sign}{amount(abs(minor))}"


def parse_additional_amounts(data: str) -> dict[str, tuple[int, Currency]]:
    """Field 54 -> amount type -> (signed minor units, currency)."""
    if not data or len(data) % ADDITIONAL_AMOUNT \
            or len(data) > ADDITIONAL_AMOUNT * ADDITIONAL_AMOUNTS_MAX:
        raise ElementError("field 54 is not one to six 20-character amounts")
    out: dict[str, tuple[int, Currency]] = {}
    for pos in range(0, len(data), ADDITIONAL_AMOUNT):
        item = data[pos : pos + ADDITIONAL_AMOUNT]
        sign = item[7]
        if sign not in ("C", "D"):
            raise ElementError("field 54 amount has no C/D indicator")
        minor = parse_amount(item[8:])
        out[item[2:4]] = (-minor if sign == "D" else minor, currency(item[4:7]))
    return out


@dataclass(frozen=True)
class OriginalData:
    """Field 90 of a reversal advice."""

    mti: str
    stan: str
    transmission: str
    acquirer: str
    forwarder: str


def parse_original_data(value: str) -> OriginalData:
    if len(value) != 42 or not (value.isascii() and value.isdigit()):
        raise ElementError("field 90 is not n42")
    return OriginalData(value[0:4], value[4:10], value[10:20], value[20:31], value[31:42])
