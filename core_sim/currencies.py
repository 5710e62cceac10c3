"""The currencies the simulated core keeps accounts in: ISO 4217 alpha code, numeric code and
minor units, the core's own table (not the adapter's).

Owns: which currencies the ledger accepts, how many decimals each has (the ledger keeps
integer minor units, Rule 1 of `core_sim.ledger`), and the numeric code the ISO 8583 host
reads from and writes to field 49 and field 54.

Invariants:
- Rule 1: every entry is copied from ISO 4217 (list one, "Current currency & funds code
  list"): alpha-3, numeric-3 (leading zeros kept: Bahrain is "048"), minor units 0, 2 or 3.
- Rule 2: alpha and numeric codes are each unique; a code outside this table is unknown to
  the core (the ledger refuses it with VALIDATION, the ISO host with field 39 = 12).
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple


class Currency(NamedTuple):
    alpha: str
    numeric: str
    minor_units: int

    def to_minor(self, amount: Decimal) -> int | None:
        """`amount` in minor units; None if it has more decimals than the currency allows."""
        scaled = amount.scaleb(self.minor_units)
        if scaled != scaled.to_integral_value():
            return None
        return int(scaled)

    def from_minor(self, minor: int) -> Decimal:
        return Decimal(minor).scaleb(-self.minor_units)


# ISO 4217, list one. Grouped by minor units, the property a wrong entry breaks silently.
SUPPORTED: tuple[Currency, ...] = (
    # no minor unit
    Currency("JPY", "392", 0),  # Yen
    Currency("KRW", "410", 0),  # Won
    # two decimals
    Currency("CHF", "756", 2),  # Swiss Franc
    Currency("EUR", "978", 2),  # Euro
    Currency("GBP", "826", 2),  # Pound Sterling
    Currency("SEK", "752", 2),  # Swedish Krona
    Currency("USD", "840", 2),  # US Dollar
    # three decimals
    Currency("BHD", "048", 3),  # Bahraini Dinar
    Currency("JOD", "400", 3),  # Jordanian Dinar
    Currency("KWD", "414", 3),  # Kuwaiti Dinar
    Currency("OMR", "512", 3),  # Rial Omani
    Currency("TND", "788", 3),  # Tunisian Dinar
)

BY_ALPHA: dict[str, Currency] = {c.alpha: c for c in SUPPORTED}
BY_NUMERIC: dict[str, Currency] = {c.numeric: c for c in SUPPORTED}
assert len(BY_ALPHA) == len(BY_NUMERIC) == len(SUPPORTED), "Rule 2: codes are unique"
