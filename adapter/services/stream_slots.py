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
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
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

    def open_for(self, caller: str) -> int:
        return self._callers[caller]

    def open_on(self, connection: str) -> int:
        return self._connections[connection]

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
        try:
            yield
        finally:
            for table, key in ((self._callers, caller), (self._connections, connection)):
                table[key] -= 1
                if table[key] <= 0:
                    del table[key]
