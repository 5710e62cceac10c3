"""Money: a Decimal amount in an ISO 4217 currency.

Invariants:
- Rule 1: an amount is never a float. Floats cannot represent 0.10 exactly; a float reaching
  this type is a bug at an edge, so it is refused, not converted.
- Rule 2: an amount carries no more decimals than its currency's minor units (trailing zeros are
  allowed and dropped: "12.500" EUR is 12.50 EUR, "12.505" EUR is refused).
- Rule 3: at most 18 digits in all (ISO 20022 ActiveCurrencyAndAmount totalDigits), finite.
Payment amounts are additionally positive: see `PositiveMoney`.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, field_validator, model_validator

from adapter.model.currencies import lookup

MAX_DIGITS = 18


def parse_amount(value: Any) -> Decimal:
    """Accept Decimal, int or a decimal string; refuse float, bool and anything else."""
    if isinstance(value, (bool, float)):
        raise ValueError("amount must be a decimal string, not a floating-point number")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text or text != value or "e" in text.lower() or "_" in text:
            raise ValueError("amount must be a plain decimal string such as '12.50'")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValueError("amount must be a plain decimal string such as '12.50'") from None
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
