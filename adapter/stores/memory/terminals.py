"""ISO 8583 terminal-id claims within one process (`adapter.ports.terminals`): a set shared by
the claimers made from one `MemoryTerminalRegistry`, for tests and single-process runs."""

from __future__ import annotations


class MemoryTerminalRegistry:
    def __init__(self) -> None:
        self.held: set[str] = set()

    def claims(self) -> MemoryTerminalClaims:
        return MemoryTerminalClaims(self)


class MemoryTerminalClaims:
    def __init__(self, registry: MemoryTerminalRegistry) -> None:
        self._registry = registry
        self._mine: set[str] = set()

    async def claim(self, terminal_id: str) -> bool:
        if terminal_id in self._mine:
            return True
        if terminal_id in self._registry.held:
            return False
        self._registry.held.add(terminal_id)
        self._mine.add(terminal_id)
        return True

    async def aclose(self) -> None:
        self._registry.held -= self._mine
        self._mine.clear()
