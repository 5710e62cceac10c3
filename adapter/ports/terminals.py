"""The ISO 8583 terminal-id port: which running process sends under which terminal id.

ISO 8583 field 41 (card acceptor terminal id) and field 11 (STAN) together name a request
(the core and the mux match replies on them); each process draws STANs from its own
sequence, so two live processes must never send under one terminal id.

Invariants the implementations keep:
- Rule 1: `claim(terminal_id)` returns True to at most one live holder of a terminal id at a
  time (across processes, on a backend they share); False while another holds it.
- Rule 2: a claim ends with its holder: `aclose`, or the holder's death (PostgreSQL: a
  session advisory lock, released by the server when the holder's connection goes), so a
  restarted process can claim its terminal id again at once.
"""

from __future__ import annotations

from typing import Protocol


class TerminalClaims(Protocol):
    async def claim(self, terminal_id: str) -> bool: ...

    async def aclose(self) -> None:
        """Give up every terminal id claimed here."""
        ...
