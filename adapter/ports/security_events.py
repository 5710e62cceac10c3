"""The security-event log port: the durable, ordered record of intrusion thresholds crossed.

Invariants the implementations keep (tests/contract/test_security_events.py runs against each):
- Rule 1: `append` stores the event and returns it with its seq; seqs are positive, only grow
  and are never reused, also across a reopening.
- Rule 2: `since(seq, limit)` returns the events with a greater seq, in seq order, at most
  `limit` of them; `last_seq()` is the greatest seq written (0 when empty).
"""

from __future__ import annotations

from typing import Protocol

from adapter.model.security_events import SecurityEvent


class SecurityEventLog(Protocol):
    async def append(self, event: SecurityEvent) -> SecurityEvent: ...

    async def since(self, seq: int, limit: int) -> list[SecurityEvent]: ...

    async def last_seq(self) -> int: ...

    async def aclose(self) -> None: ...
