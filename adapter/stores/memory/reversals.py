"""ISO 8583 reversals in memory (`adapter.ports.reversals`): the port's rules, no disk.

"Durable" here means "applied to this process's state": `arm` yields to the loop once (where
a real store waits for its commit), so a caller cancelled there has written nothing (Rule 3);
after that the row is applied in one step. `disarm` applies its delete before it yields, so
a cancelled caller's disarm is still written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from adapter.ports.clock import Clock, system_clock
from adapter.ports.reversals import Reversal, ReversalState, ReversalStoreError


@dataclass(frozen=True)
class _Row:
    reversal: Reversal
    order: int  # insertion order: `outstanding` is oldest first (Rule 5)


class MemoryReversalStore:
    def __init__(self, *, clock: Clock = system_clock) -> None:
        self._clock = clock
        self._rows: dict[str, _Row] = {}
        self._inserted = 0
        self._closed = False

    def _open(self) -> None:
        if self._closed:
            raise ReversalStoreError("the reversal store is closed")

    def _insert(self, reference: str, state: ReversalState, original: Mapping[str, str]) -> bool:
        if reference in self._rows:
            return False
        self._inserted += 1
        self._rows[reference] = _Row(Reversal(reference, state, dict(original), 0, None),
                                     self._inserted)
        return True

    def _update(self, reference: str, **changes: Any) -> None:
        row = self._rows.get(reference)
        if row is not None:
            self._rows[reference] = replace(row, reversal=replace(row.reversal, **changes))

    async def get(self, reference: str) -> Reversal | None:
        row = self._rows.get(reference)
        return None if row is None else row.reversal

    async def arm(self, reference: str, original: Mapping[str, str]) -> bool:
        self._open()
        original = dict(original)  # as sent, whatever the caller does with its dict later
        await asyncio.sleep(0)  # where a real store waits for its commit
        self._open()
        return self._insert(reference, ReversalState.ARMED, original)

    async def disarm(self, reference: str) -> None:
        self._open()
        row = self._rows.get(reference)
        if row is not None and row.reversal.state is ReversalState.ARMED:
            del self._rows[reference]
        await asyncio.sleep(0)

    async def mark_pending(self, reference: str,
                           original: Mapping[str, str] | None = None) -> Reversal | None:
        self._open()
        if original is not None:
            self._insert(reference, ReversalState.PENDING, original)
        row = self._rows.get(reference)
        if row is not None and row.reversal.state is ReversalState.ARMED:
            self._update(reference, state=ReversalState.PENDING)
        return await self.get(reference)

    async def count_attempt(self, reference: str) -> int:
        self._open()
        row = self._rows.get(reference)
        if row is None:
            return 0
        self._update(reference, attempts=row.reversal.attempts + 1)
        return self._rows[reference].reversal.attempts

    async def mark_reversed(self, reference: str) -> None:
        self._open()
        self._update(reference, state=ReversalState.REVERSED, completed_at=self._clock())

    async def outstanding(self) -> list[Reversal]:
        rows = sorted((r for r in self._rows.values()
                       if r.reversal.state in (ReversalState.ARMED, ReversalState.PENDING)),
                      key=lambda r: r.order)
        return [r.reversal for r in rows]

    async def aclose(self) -> None:
        self._closed = True
