"""IBAN construction and checking for the simulated core's accounts (ISO 13616-1).

Owns: the check digits of an IBAN, computed with ISO 7064 MOD 97-10 as ISO 13616-1 specifies:
move the country code and check digits behind the BBAN, write each letter as two digits
(A = 10 ... Z = 35), and the whole number mod 97 must be 1.

Invariants:
- Rule 1: `make_iban(country, bban)` always passes `is_valid`; the check digits are 02..98.
- Rule 2: only upper-case letters and digits are accepted; no spaces (electronic format).
"""

from __future__ import annotations

import re

_SHAPE = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{1,30}")
_BBAN = re.compile(r"[A-Z0-9]{1,30}")
_COUNTRY = re.compile(r"[A-Z]{2}")


def _mod97(text: str) -> int:
    """ISO 7064 MOD 97-10 of an upper-case alphanumeric string (letters A=10 .. Z=35)."""
    remainder = 0
    for ch in text:
        value = ord(ch) - ord("A") + 10 if ch.isalpha() else ord(ch) - ord("0")
        # Letters are two digits, digits one: shift the running remainder accordingly.
        remainder = (remainder * (100 if value > 9 else 10) + value) % 97
    return remainder


def make_iban(country: str, bban: str) -> str:
    """The IBAN for `bban` in `country`: check digits = 98 - (BBAN + country + "00") mod 97."""
    if not _COUNTRY.fullmatch(country) or not _BBAN.fullmatch(bban):
        raise ValueError("an IBAN is a 2-letter country code and 1-30 letters or digits")
    check = 98 - _mod97(bban + country + "00")
    return f"{country}{check:02d}{bban}"


def is_valid(iban: str) -> bool:
    """ISO 13616-1: the rearranged IBAN (BBAN + country + check digits) mod 97 is 1."""
    if not _SHAPE.fullmatch(iban):
        return False
    return _mod97(iban[4:] + iban[:4]) == 1
