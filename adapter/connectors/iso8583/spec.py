"""The ISO 8583 (1987) message specification this project speaks, as data.

Owns: which fields exist on the wire, their content class and length rules, the MTIs, the
processing codes and the response codes. Nothing here does I/O or encodes anything: `codec`
turns this table into a pyiso8583 spec and checks content classes against it.

Default wire format (what any ISO 8583 peer configured for "1987 ASCII" reads):
- MTI: 4 ASCII digits.
- Bitmaps: 16 ASCII-hex characters for the primary bitmap, 16 more for the secondary when any
  field 65-128 is present (pyiso8583 `default_ascii`). The binary-bitmap variant (8 raw bytes
  each) is a configuration choice: `BitmapEncoding.BINARY`.
- Fields: ASCII, lengths as ASCII digits (LLVAR: 2, LLLVAR: 3), layout of pyiso8583
  `default_ascii` for every field listed below.
- Framing (see `framing`): a 2-byte big-endian binary length before each message.

Messages and the fields they carry (M mandatory, C conditional, - absent):

| field | meaning                         | 0200 | 0210 | 0420/0421 | 0430 | 0800 | 0810 |
|-------|---------------------------------|------|------|-----------|------|------|------|
| 3     | processing code                 | M    | M    | M         | M    | -    | -    |
| 4     | amount, minor units             | M    | M    | M         | M    | -    | -    |
| 7     | transmission date/time (UTC)    | M    | M    | M         | M    | M    | M    |
| 11    | STAN (mux key with 41)          | M    | M    | M         | M    | M    | M    |
| 12/13 | local time / date               | M    | C    | M         | C    | -    | -    |
| 37    | retrieval reference = posting   | M    | M    | M         | M    | -    | -    |
| 39    | response code                   | -    | M    | -         | M    | -    | M    |
| 41    | terminal id (mux key with 11)   | M    | M    | M         | M    | M    | M    |
| 48    | private data, tagged (see below)| C    | C    | -         | -    | -    | -    |
| 49    | currency, ISO 4217 numeric      | C    | C    | C         | C    | -    | -    |
| 54    | additional amounts (balances)   | -    | C    | -         | -    | -    | -    |
| 70    | network management code         | -    | -    | -         | -    | M    | M    |
| 90    | original data elements          | -    | -    | M         | -    | -    | -    |
| 102   | account id 1 (debtor)           | M    | C    | M         | -    | -    | -    |
| 103   | account id 2 (creditor / biller)| C    | C    | C         | -    | -    | -    |

Field 48 carries tag-length-value elements: a 2-character tag, 3 ASCII digits of length, the
value. Tags: `E2` end-to-end id, `CR` bill customer reference, `RI` remittance information (in
requests); `TX` core transaction id, `BT` booking time (ISO 8601, in 0210).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """Content class of a field (ISO 8583:1987 attribute notation)."""

    N = "n"  # numeric digits only
    AN = "an"  # letters and digits
    ANS = "ans"  # printable ASCII (letters, digits, specials, space)
    HEX = "hex"  # bitmap written as hex digits


@dataclass(frozen=True)
class Field:
    number: str
    name: str
    kind: Kind
    len_type: int  # 0 fixed, 2 LLVAR, 3 LLLVAR
    max_len: int


# The fields this project uses; lengths are pyiso8583 `default_ascii`'s for the same numbers.
FIELDS: tuple[Field, ...] = (
    Field("t", "Message Type Indicator", Kind.N, 0, 4),
    Field("p", "Bitmap, Primary", Kind.HEX, 0, 16),
    Field("1", "Bitmap, Secondary", Kind.HEX, 0, 16),
    Field("3", "Processing Code", Kind.N, 0, 6),
    Field("4", "Amount, Transaction", Kind.N, 0, 12),
    Field("7", "Transmission Date and Time", Kind.N, 0, 10),
    Field("11", "System Trace Audit Number", Kind.N, 0, 6),
    Field("12", "Time, Local Transaction", Kind.N, 0, 6),
    Field("13", "Date, Local Transaction", Kind.N, 0, 4),
    Field("37", "Retrieval Reference Number", Kind.AN, 0, 12),
    Field("38", "Authorization ID Response", Kind.AN, 0, 6),
    Field("39", "Response Code", Kind.AN, 0, 2),
    Field("41", "Card Acceptor Terminal ID", Kind.ANS, 0, 8),
    Field("44", "Additional Response Data", Kind.ANS, 2, 25),
    Field("48", "Additional Data - Private", Kind.ANS, 3, 999),
    Field("49", "Currency Code, Transaction", Kind.N, 0, 3),
    Field("54", "Additional Amounts", Kind.AN, 3, 240),
    Field("70", "Network Management Information Code", Kind.N, 0, 3),
    Field("90", "Original Data Elements", Kind.N, 0, 42),
    Field("102", "Account ID 1", Kind.ANS, 2, 28),
    Field("103", "Account ID 2", Kind.ANS, 2, 28),
)
BY_NUMBER: dict[str, Field] = {f.number: f for f in FIELDS}

# Fields whose values are account numbers or PANs: masked in every log line and error message.
SENSITIVE_FIELDS = frozenset({"2", "102", "103"})


class BitmapEncoding(StrEnum):
    ASCII_HEX = "ascii"  # 16 hex characters per bitmap: the default
    BINARY = "binary"  # 8 raw bytes per bitmap


class Mti:
    FINANCIAL_REQUEST = "0200"
    FINANCIAL_RESPONSE = "0210"
    REVERSAL_ADVICE = "0420"
    REVERSAL_ADVICE_REPEAT = "0421"
    REVERSAL_RESPONSE = "0430"
    NETWORK_REQUEST = "0800"
    NETWORK_RESPONSE = "0810"


# Request MTI -> the response MTI that answers it (ISO 8583:1987: the third digit + 1; a repeat
# 0421 is answered by 0430 like the original advice).
RESPONSE_MTI: dict[str, str] = {
    Mti.FINANCIAL_REQUEST: Mti.FINANCIAL_RESPONSE,
    Mti.REVERSAL_ADVICE: Mti.REVERSAL_RESPONSE,
    Mti.REVERSAL_ADVICE_REPEAT: Mti.REVERSAL_RESPONSE,
    Mti.NETWORK_REQUEST: Mti.NETWORK_RESPONSE,
}


class ProcessingCode:
    """Field 3: transaction type (2 digits), from-account type, to-account type (00 = default)."""

    BALANCE_INQUIRY = "300000"
    TRANSFER = "400000"
    # 50 is the payment range most switches use for bill payment (ISO 8583:1993 "payment").
    BILL_PAYMENT = "500000"


class NetworkCode:
    """Field 70."""

    SIGN_ON = "001"
    SIGN_OFF = "002"
    ECHO = "301"


class ResponseCode:
    """Field 39 codes this project sends and understands."""

    APPROVED = "00"
    DO_NOT_HONOUR = "05"
    INVALID_TRANSACTION = "12"
    INVALID_AMOUNT = "13"
    NO_SUCH_ACCOUNT = "14"
    NO_SUCH_ISSUER = "15"
    FORMAT_ERROR = "30"
    INSUFFICIENT_FUNDS = "51"
    NOT_PERMITTED = "57"
    RESTRICTED = "62"
    SECURITY_VIOLATION = "63"  # the core no longer accepts our certificate (revoked)
    NO_SUCH_ACCOUNT_ALT = "76"
    ISSUER_INOPERATIVE = "91"
    DUPLICATE_TRANSMISSION = "94"
    SYSTEM_MALFUNCTION = "96"


# Field 54 additional amount types (ISO 8583:1987 annex: 01 ledger balance, 02 available).
AMOUNT_TYPE_LEDGER = "01"
AMOUNT_TYPE_AVAILABLE = "02"

TERMINAL_ID_LEN = 8
STAN_MODULUS = 1_000_000  # field 11 is n6; 000000 is never used
