"""Caps on open event streams: per caller and per connection, one slot per open stream.

An event stream holds memory and a task for as long as it is open, so the number open must be
bounded by who holds them, not only by the transport (HTTP/2 bounds streams per connection,
not per caller, and a caller may open many connections).

Invariants:
- Rule 1: `hold` takes a slot of the caller and a slot of the connection, or neither: a
  refusal (TOO_MANY_STREAMS, naming the limit that was reached) changes no count.
- Rule 2: leaving `hold`, however the stream ends, gives both slots back; a count that falls
  to zero is deleted, so the tables hold only callers and connections with a stream open.
- Rule 3: counts are changed on the event loop only (no awaits inside), so no lock is needed.
- Rule 4: every change of a count wakes `wait_until`'s waiters, which look again: a waiter
  learns of a stream's end when its slot is given back, without polling.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from adapter.model.errors import TooManyStreams


class StreamSlots:
    def __init__(self, *, per_caller: int, per_connection: int) -> None:
        if per_caller < 1 or per_connection < 1:
            raise ValueError("stream caps must be at least 1")
        self.per_caller = per_caller
        self.per_connection = per_connection
        self._callers: Counter[str] = Counter()
        self._connections: Counter[str] = Counter()
        self._changed = asyncio.Event()  # set and replaced at each change (Rule 4)

    def open_for(self, caller: str) -> int:
        return self._callers[caller]

    def open_on(self, connection: str) -> int:
        return self._connections[connection]

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait, without polling, until `predicate()` holds after some change of the counts
        (e.g. `lambda: not slots.open_for(caller)`); False if it did not within `timeout`
        (a drain, operators' tools, tests)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            if predicate():
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await changed.wait()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    @contextmanager
    def hold(self, caller: str, connection: str) -> Iterator[None]:
        """One slot of `caller` and one of `connection` while the block runs (Rules 1, 2)."""
        if self._connections[connection] >= self.per_connection:
            raise TooManyStreams(
                f"at most {self.per_connection} event streams may be open on one connection "
                "(stream_max_per_connection); close one, or open another connection")
        if self._callers[caller] >= self.per_caller:
            raise TooManyStreams(
                f"at most {self.per_caller} event streams may be open for one caller "
                "(stream_max_per_caller); close one first")
        self._callers[caller] += 1
        self._connections[connection] += 1
        self._wake()
        try:
            yield
        finally:
            for table, key in ((self._callers, caller), (self._connections, connection)):
                table[key] -= 1
                if table[key] <= 0:
                    del table[key]
            self._wake()
