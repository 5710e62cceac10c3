"""The ISO 8583:1987 data elements the simulated core reads and writes, as data.

Owns: each field's content class, length type and length, copied from ISO 8583:1987 section
4.4 ("Data element directory") for the fields the interface document (README, "ISO 8583
connector") uses, and the pyiso8583 specification built from them. Nothing here does I/O.

Wire format (interface document): MTI n4; primary bitmap, and the secondary when a field
65-128 is present, as 16 ASCII-hex characters each (or 8 raw bytes in the binary variant);
every field in ASCII, variable lengths as ASCII digits (LLVAR 2, LLLVAR 3).

Invariants:
- Rule 1: a field number not listed here is not part of the interface: decoding a message
  that carries one fails (the host drops the frame).
- Rule 2: `max_len` is the standard's; for LLVAR/LLLVAR it is the maximum, for fixed fields
  the exact length.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class Content(Enum):
    """ISO 8583:1987 attribute notation, section 4.3."""

    N = "n"  # numeric digits
    AN = "an"  # alphabetic and numeric characters
    ANS = "ans"  # alphabetic, numeric and special characters (printable, space included)
    B = "b"  # binary: the bitmaps only


FIXED, LLVAR, LLLVAR = 0, 2, 3


@dataclass(frozen=True)
class DataElement:
    number: str
    name: str
    content: Content
    length_type: int  # FIXED, LLVAR or LLLVAR
    max_len: int


# ISO 8583:1987 data element directory, the fields of the interface document only.
ELEMENTS: tuple[DataElement, ...] = (
    DataElement("3", "Processing code", Content.N, FIXED, 6),
    DataElement("4", "Amount, transaction", Content.N, FIXED, 12),
    DataElement("7", "Transmission date and time", Content.N, FIXED, 10),  # MMDDhhmmss
    DataElement("11", "Systems trace audit number", Content.N, FIXED, 6),
    DataElement("12", "Time, local transaction", Content.N, FIXED, 6),  # hhmmss
    DataElement("13", "Date, local transaction", Content.N, FIXED, 4),  # MMDD
    DataElement("37", "Retrieval reference number", Content.AN, FIXED, 12),
    DataElement("39", "Response code", Content.AN, FIXED, 2),
    DataElement("41", "Card acceptor terminal identification", Content.ANS, FIXED, 8),
    DataElement("48", "Additional data - private", Content.ANS, LLLVAR, 999),
    # 1987 allows a or n here; the interface document carries the ISO 4217 numeric code.
    DataElement("49", "Currency code, transaction", Content.N, FIXED, 3),
    DataElement("54", "Additional amounts", Content.AN, LLLVAR, 120),
    DataElement("70", "Network management information code", Content.N, FIXED, 3),
    DataElement("90", "Original data elements", Content.N, FIXED, 42),
    DataElement("102", "Account identification 1", Content.ANS, LLVAR, 28),
    DataElement("103", "Account identification 2", Content.ANS, LLVAR, 28),
)
BY_NUMBER: dict[str, DataElement] = {e.number: e for e in ELEMENTS}

# Account identifiers: only ever logged masked (adapter.infra.logmask).
ACCOUNT_FIELDS = frozenset({"102", "103"})


def _ascii(length_type: int, max_len: int, desc: str) -> dict[str, Any]:
    return {"data_enc": "ascii", "len_enc": "ascii", "len_type": length_type,
            "max_len": max_len, "desc": desc}


def pyiso8583_spec(*, binary_bitmap: bool) -> dict[str, dict[str, Any]]:
    """The pyiso8583 specification of the interface: no header, MTI, bitmaps, `ELEMENTS`."""
    bitmap_enc, bitmap_len = ("b", 8) if binary_bitmap else ("ascii", 16)
    spec: dict[str, dict[str, Any]] = {
        "h": _ascii(FIXED, 0, "Message header (none)"),
        "t": _ascii(FIXED, 4, "Message type indicator"),
        "p": {**_ascii(FIXED, bitmap_len, "Primary bitmap"), "data_enc": bitmap_enc},
        "1": {**_ascii(FIXED, bitmap_len, "Secondary bitmap"), "data_enc": bitmap_enc},
    }
    for e in ELEMENTS:
        spec[e.number] = _ascii(e.length_type, e.max_len, e.name)
    return spec
