"""The in-memory backend of the storage ports (`adapter.ports`): the real semantics, no disk.

Used by the service unit tests (no SQLite there) and run through the same contract suites as
every other backend (`tests/contract/`). State lives in this process only and dies with it.

    payments.py   IdempotencyKeys, PaymentJournal, EventOutbox over one shared state
    reversals.py  ReversalStore
    nonces.py     NonceStore (bounded time buckets; the adapter's default)
    wakeups.py    OutboxWakeups within one process (poke only)
    terminals.py  TerminalClaims within one process
"""

from adapter.stores.memory.nonces import MemoryNonceStore
from adapter.stores.memory.payments import MemoryStore
from adapter.stores.memory.reversals import MemoryReversalStore
from adapter.stores.memory.terminals import MemoryTerminalClaims, MemoryTerminalRegistry
from adapter.stores.memory.wakeups import MemoryOutboxWakeups

__all__ = ["MemoryNonceStore", "MemoryOutboxWakeups", "MemoryReversalStore", "MemoryStore",
           "MemoryTerminalClaims", "MemoryTerminalRegistry"]
