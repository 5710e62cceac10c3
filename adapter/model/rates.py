"""Rates: "N per period" as operators write them (`50/second`, `1000/minute`) and as the rate
limiter uses them (an emission interval and a burst capacity, GCRA: ITU-T I.371 section 4.4.2,
the "generic cell rate algorithm").

Invariants:
- Rule 1: the text is `N/UNIT` with N a positive ASCII integer and UNIT one of second, minute,
  hour, day (a plural `s` allowed), or `none` (no limit). Anything else is a ValueError whose
  message quotes the text and says what is allowed.
- Rule 2: a rate of N per period P lets a caller spend N calls at once and then one every
  P / N seconds: `interval` = P / N, `capacity` = P (the credit a caller may hold).
- Rule 3: an operation rule is `OPERATION=RATE`; OPERATION is a canonical operation name
  (`read`, `transfer`, ...: letters, digits and `_`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UNITS = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
NONE = "none"
_RATE = re.compile(r"([1-9][0-9]{0,8})/(second|minute|hour|day)s?")
_OPERATION = re.compile(r"[a-z][a-z0-9_]{0,63}")
ALLOWED = "N/second, N/minute, N/hour or N/day with N a positive integer, or none"


@dataclass(frozen=True)
class Rate:
    count: int
    period: float  # seconds

    @property
    def interval(self) -> float:
        """Seconds between two calls at the sustained rate (Rule 2)."""
        return self.period / self.count

    @property
    def capacity(self) -> float:
        """Seconds of credit: `count` calls at once from a rested budget (Rule 2)."""
        return self.period

    def __str__(self) -> str:
        unit = next(u for u, seconds in UNITS.items() if seconds == self.period)
        return f"{self.count}/{unit}"


def parse_rate(text: str) -> Rate | None:
    """`50/second` -> Rate(50, 1.0); `none` -> None (Rule 1)."""
    value = text.strip()
    if value.lower() == NONE:
        return None
    match = _RATE.fullmatch(value)
    if match is None:
        raise ValueError(f"{text!r} is not a rate: use {ALLOWED}")
    return Rate(int(match.group(1)), UNITS[match.group(2)])


def parse_operation_rate(text: str) -> tuple[str, Rate | None]:
    """`transfer=50/second` -> ("transfer", Rate(50, 1.0)) (Rule 3)."""
    operation, sep, rate = text.partition("=")
    operation = operation.strip()
    if not sep or not _OPERATION.fullmatch(operation):
        raise ValueError(f"{text!r} is not OPERATION=RATE (for example transfer=50/second)")
    try:
        return operation, parse_rate(rate)
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None
