"""Accounts and how callers name them: an internal account id or an IBAN.

IBAN rules (ISO 13616-1): two letters of country, two check digits, up to 30 alphanumerics;
the length is fixed per country; moving the first four characters to the end and reading
letters as 10..35 gives a number whose remainder mod 97 is 1. IBANs are normalised to upper
case without spaces before anything else sees them.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, model_validator

from adapter.model.money import Money

ACCOUNT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,33}$")
IBAN_RE = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")

# ISO 13616 registry lengths for the countries a European bank meets most.
IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22,
    "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18,
    "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26,
}


def iban_checksum_ok(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def normalise_iban(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("IBAN must be a string")
    iban = value.replace(" ", "").upper()
    if not IBAN_RE.match(iban):
        raise ValueError("IBAN must be 2 letters, 2 check digits and 11 to 30 letters or digits")
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        raise ValueError(f"an IBAN of country {iban[:2]} has {expected} characters")
    if not iban_checksum_ok(iban):
        raise ValueError("IBAN check digits are wrong (mod-97)")
    return iban


def make_iban(country: str, bban: str) -> str:
    """Compute the check digits for `bban` (used by the simulated core's demo data)."""
    digits = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def _account_id(value: Any) -> str:
    if not isinstance(value, str) or not ACCOUNT_ID_RE.match(value):
        raise ValueError("account id must be 1 to 34 letters, digits or '-'")
    return value


Iban = Annotated[str, BeforeValidator(normalise_iban)]
AccountId = Annotated[str, AfterValidator(_account_id)]


class AccountRef(BaseModel):
    """An account named by exactly one of its internal id or its IBAN."""

    model_config = ConfigDict(frozen=True)

    id: AccountId | None = None
    iban: Iban | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> AccountRef:
        if (self.id is None) == (self.iban is None):
            raise ValueError("name the account by exactly one of 'id' or 'iban'")
        return self

    def key(self) -> str:
        return self.id if self.id is not None else f"iban:{self.iban}"


class AccountStatus(StrEnum):
    ENABLED = "enabled"
    BLOCKED = "blocked"


class Account(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    iban: str | None
    currency: str
    name: str
    product: str = "current"
    status: AccountStatus = AccountStatus.ENABLED


class Balance(BaseModel):
    """Booked is what the ledger holds; available adds the overdraft limit (ISO 20022 ITAV)."""

    model_config = ConfigDict(frozen=True)

    account_id: str
    booked: Money
    available: Money
    as_of: datetime
