"""Money: a Decimal amount in an ISO 4217 currency.

Invariants:
- Rule 1: an amount is never a float. Floats cannot represent 0.10 exactly; a float reaching
  this type is a bug at an edge, so it is refused, not converted.
- Rule 2: an amount carries no more decimals than its currency's minor units (trailing zeros are
  allowed and dropped: "12.500" EUR is 12.50 EUR, "12.505" EUR is refused).
- Rule 3: at most 18 digits in all (ISO 20022 ActiveCurrencyAndAmount totalDigits), finite.
- Rule 4: an amount written as text (JSON, protobuf) follows one grammar, ASCII only:
      amount = ["-"] int ["." 1*DIGIT] ;  int = "0" / %x31-39 *DIGIT ;  DIGIT = %x30-39
  so "+1.00", "1.", ".5", "01.00", " 1", "1e2" and fullwidth or other non-ASCII digits are
  refused, not read the way `Decimal()` would read them. SOAP's xs:decimal has its own
  lexical space (XML Schema Part 2, 3.2.3), checked by the SOAP edge, which hands a Decimal.
Payment amounts are additionally positive: see `PositiveMoney`.
"""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator, model_validator

from adapter.model.currencies import lookup

MAX_DIGITS = 18
# Rule 4. `[0-9]`, not `\d`: `\d` matches every Unicode decimal digit.
AMOUNT_RE = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?")
AMOUNT_GRAMMAR = ("a plain decimal string such as '12.50' (ASCII digits, '-' the only sign, "
                  "no redundant leading zero, digits on both sides of a '.')")


def parse_amount(value: Any) -> Decimal:
    """Accept Decimal, int or a decimal string; refuse float, bool and anything else."""
    if isinstance(value, (bool, float)):
        raise ValueError("amount must be a decimal string, not a floating-point number")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str):
        if not AMOUNT_RE.fullmatch(value):
            raise ValueError(f"amount must be {AMOUNT_GRAMMAR}")
        amount = Decimal(value)
    else:
        raise ValueError("amount must be a decimal string")
    if not amount.is_finite():
        raise ValueError("amount must be finite")
    return amount


class Money(BaseModel):
    model_config = ConfigDict(frozen=True)

    amount: Decimal
    currency: str

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> Decimal:
        return parse_amount(value)

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> str:
        if not isinstance(value, str) or lookup(value) is None:
            raise ValueError(f"unknown ISO 4217 currency code {value!r}")
        return value

    @model_validator(mode="after")
    def _scale(self) -> Money:
        minor = self.minor_units
        if self.amount.adjusted() >= MAX_DIGITS - minor:
            raise ValueError(f"amount has more than {MAX_DIGITS} digits")
        scaled = self.amount.quantize(Decimal(1).scaleb(-minor), rounding=ROUND_DOWN)
        if scaled != self.amount:
            raise ValueError(
                f"{self.currency} allows at most {minor} decimal places, got {self.amount}"
            )
        object.__setattr__(self, "amount", scaled)
        return self

    @property
    def minor_units(self) -> int:
        currency = lookup(self.currency)
        assert currency is not None
        return currency.minor_units

    def to_minor(self) -> int:
        """The amount in minor units (ISO 8583 field 4, ledger storage)."""
        return int(self.amount.scaleb(self.minor_units))

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        cur = lookup(currency)
        if cur is None:
            raise ValueError(f"unknown ISO 4217 currency code {currency!r}")
        return cls(amount=Decimal(minor).scaleb(-cur.minor_units), currency=currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def _positive(money: Money) -> Money:
    if money.amount <= 0:
        raise ValueError("amount must be greater than zero")
    return money


PositiveMoney = Annotated[Money, AfterValidator(_positive)]
