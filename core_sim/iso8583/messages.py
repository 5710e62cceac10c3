"""The messages the simulated core's ISO 8583 host answers, and the codes inside them.

Owns: the MTIs (ISO 8583:1987 section 4.1), which fields each request must and may carry and
which request fields each response echoes (interface document: README "ISO 8583 connector"),
and the values of field 3 (processing code), field 39 (response code) and field 70 (network
management information code) that the interface uses.

| request     | must carry                        | may also carry   | answered by          |
|-------------|-----------------------------------|------------------|----------------------|
| 0200 30xxxx | 3 7 11 37 41 102                  | 4 12 13 48 49    | 0210 + 39, 54        |
| 0200 40/50  | 3 4 7 11 37 41 49 102 103         | 12 13 48         | 0210 + 39, 48 TX/BT  |
| 0420 / 0421 | 3 4 7 11 37 41 90 102             | 12 13 49 103     | 0430 + 39            |
| 0800        | 7 11 41 70                        | -                | 0810 + 39            |

Invariants:
- Rule 1 (ISO 8583:1987 4.1.2, MTI position 3 "message function"): a request (0) or an advice
  (2) is answered with the next function (1, 3), origin position 4 set to 0: 0200 -> 0210,
  0420 and its repeat 0421 -> 0430, 0800 -> 0810. Responses are never answered.
- Rule 2: a request that lacks a field it must carry, or carries one it may not, is answered
  with field 39 = 30 (format error) and changes nothing.
- Rule 3: a 0210 echoes 3 4 7 11 12 13 37 41 49 102 103 as received; a 0430 the same without
  102 and 103; an 0810 echoes 7 11 41 70. Field 11 + field 41 let the adapter match the reply.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import lru_cache


class Mti:
    FINANCIAL_REQUEST = "0200"
    FINANCIAL_RESPONSE = "0210"
    REVERSAL_ADVICE = "0420"
    REVERSAL_ADVICE_REPEAT = "0421"
    REVERSAL_RESPONSE = "0430"
    NETWORK_REQUEST = "0800"
    NETWORK_RESPONSE = "0810"


REVERSALS = frozenset({Mti.REVERSAL_ADVICE, Mti.REVERSAL_ADVICE_REPEAT})


@lru_cache(maxsize=64)  # asked twice per request, of a handful of MTIs
def response_mti(mti: str) -> str | None:
    """The MTI that answers `mti` (Rule 1), or None if `mti` is not a request or advice."""
    if len(mti) != 4 or not mti.isdigit() or mti[2] not in "02":
        return None
    return f"{mti[:2]}{int(mti[2]) + 1}0"


class ProcessingCode:
    """Field 3 positions 1-2, the transaction type (positions 3-6: account types, 0000)."""

    BALANCE_INQUIRY = "30"
    TRANSFER = "40"
    PAYMENT = "50"  # bill payment (the interface document: "payment range")


class NetworkCode:
    """Field 70 (ISO 8583:1987 annex: network management information codes)."""

    SIGN_ON = "001"
    SIGN_OFF = "002"
    ECHO_TEST = "301"


NETWORK_CODES = frozenset({NetworkCode.SIGN_ON, NetworkCode.SIGN_OFF, NetworkCode.ECHO_TEST})


class ResponseCode:
    """Field 39 values the core sends (ISO 8583:1987 annex: response codes)."""

    APPROVED = "00"
    DO_NOT_HONOUR = "05"
    INVALID_TRANSACTION = "12"
    INVALID_AMOUNT = "13"
    NO_SUCH_ACCOUNT = "14"  # "invalid card number (no such number)"
    NO_SUCH_ISSUER = "15"  # the interface document: the biller does not exist
    FORMAT_ERROR = "30"
    INSUFFICIENT_FUNDS = "51"
    NOT_PERMITTED = "57"  # "transaction not permitted to cardholder": currency mismatch
    RESTRICTED = "62"  # "restricted card": the account is blocked
    SECURITY_VIOLATION = "63"  # the peer's certificate was revoked (iso_host Rule 7)
    DUPLICATE_TRANSMISSION = "94"
    SYSTEM_MALFUNCTION = "96"


@dataclass(frozen=True)
class Shape:
    """Which fields a request must and may carry (Rule 2)."""

    mandatory: frozenset[str]
    optional: frozenset[str]
    _allowed: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_allowed", self.mandatory | self.optional | {"t"})

    def fault(self, fields: AbstractSet[str]) -> str | None:
        """The first field that breaks the shape (missing or not allowed), or None.
        `fields` may hold the MTI ("t"), which every message carries."""
        if self.mandatory <= fields and fields <= self._allowed:
            return None  # a well-formed request asks for two subset tests, nothing sorted
        fields = fields - {"t"}
        for number in sorted(self.mandatory - fields, key=int):
            return f"field {number} is missing"
        for number in sorted(fields - self.mandatory - self.optional, key=int):
            return f"field {number} is not allowed"
        return None


def _fields(text: str) -> frozenset[str]:
    return frozenset(text.split())


# The shapes of the module docstring's table; the MTI and bitmaps are not fields here.
SHAPE_BALANCE = Shape(_fields("3 7 11 37 41 102"), _fields("4 12 13 48 49"))
SHAPE_POSTING = Shape(_fields("3 4 7 11 37 41 49 102 103"), _fields("12 13 48"))
SHAPE_REVERSAL = Shape(_fields("3 4 7 11 37 41 90 102"), _fields("12 13 49 103"))
SHAPE_NETWORK = Shape(_fields("7 11 41 70"), frozenset())

# Rule 3: the request fields each response repeats.
ECHO_FINANCIAL = ("3", "4", "7", "11", "12", "13", "37", "41", "49", "102", "103")
ECHO_REVERSAL = ("3", "4", "7", "11", "12", "13", "37", "41", "49")
ECHO_NETWORK = ("7", "11", "41", "70")
