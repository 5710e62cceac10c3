"""STAN allocation: field 11, the systems trace audit number, for one terminal (field 41).

Owns: the sequence 000001..999999 of one connector (ISO 8583:1987 field 11, n 6), wrapping
around, and skipping any STAN whose (field 11, field 41) key is still in flight in the mux.

Invariants:
- Rule 1: 000000 is never allocated (it stands for "no STAN" in a fenced reversal's original).
- Rule 2: a STAN whose key is in flight is never handed out again (`mux`, Rule 1), so a
  wrap-around can never make two requests in flight share a key.
- Rule 3: if every STAN is in flight, `next` raises `StanExhausted` (nothing is sent).
"""

from __future__ import annotations

from collections.abc import Callable

from adapter.connectors.iso8583.exceptions import StanExhausted
from adapter.connectors.iso8583.mux import Key
from adapter.connectors.iso8583.spec import STAN_MODULUS


class StanSequence:
    def __init__(self, terminal_id: str, in_flight: Callable[[Key], bool]) -> None:
        self.terminal_id = terminal_id
        self._in_flight = in_flight
        self._last = 0

    def next(self) -> str:
        for _ in range(STAN_MODULUS - 1):
            self._last = self._last % (STAN_MODULUS - 1) + 1  # 1..999999 (Rule 1)
            stan = f"{self._last:06d}"
            if not self._in_flight((stan, self.terminal_id)):
                return stan
        raise StanExhausted("every STAN is in flight")
