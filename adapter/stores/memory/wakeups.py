"""Outbox wake-ups in one process (`adapter.ports.outbox.OutboxWakeups`, Rule 4): `poke`
only, for a single process or a test; PostgreSQL's LISTEN/NOTIFY is the one that crosses
processes (`adapter.stores.postgres.notify`)."""

from __future__ import annotations

import asyncio
import contextlib


class MemoryOutboxWakeups:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def poke(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._event.wait()
        self._event.clear()

    async def aclose(self) -> None:
        return None
