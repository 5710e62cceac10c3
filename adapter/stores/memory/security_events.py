"""The security-event log in this process's memory (`adapter.ports.security_events`).

Seqs count from 1 and are never reused while the object lives (Rule 1). Unbounded like the
log it stands in for: events are rare by construction (at most one per signal, subject and
window), and this backend serves tests and single runs.
"""

from __future__ import annotations

from adapter.model.security_events import SecurityEvent


class MemorySecurityEventLog:
    def __init__(self) -> None:
        self._events: list[SecurityEvent] = []

    async def append(self, event: SecurityEvent) -> SecurityEvent:
        stored = event.model_copy(update={"seq": len(self._events) + 1})
        self._events.append(stored)
        return stored

    async def since(self, seq: int, limit: int) -> list[SecurityEvent]:
        return self._events[max(seq, 0):max(seq, 0) + limit]

    async def last_seq(self) -> int:
        return len(self._events)

    async def aclose(self) -> None:
        return None
