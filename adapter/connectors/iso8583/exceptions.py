"""The exception map: the connector's own failures -> canonical errors, at one boundary.

Owns: the "not sent" exceptions of the link, and the tables that turn every foreign exception
the connector can meet (its own, the mux's, the channel's, SQLite's) into the canonical error
a `CorePort` caller handles (encode/httpx `_exceptions.py` and `map_exceptions`). The tree:

    Exception
     ├── NotSent                 the request certainly did not leave (nothing can be booked)
     │    ├── LinkDown           no signed-on session, or none came up within the wait
     │    ├── LinkUnhealthy      signed on, but the core is not answering (`liveness`)
     │    └── StanExhausted      every field 11 STAN of the terminal is in flight
     ├── MuxError                (`mux`)
     │    ├── DuplicateKey       (field 11, field 41) already in flight: refused, not sent
     │    ├── MuxTimeout         sent, no reply in time: the outcome is unknown
     │    └── ConnectionLost     the connection dropped with the request in flight: unknown
     └── ReversalStoreError      the reversal store could not write

Invariants:
- Rule 1: a table lists the most specific class first; building one where a later entry is a
  subclass of an earlier one (and so could never match) raises at import.
- Rule 2: `map_exceptions` raises the canonical error `from` the foreign one, so the cause is
  in the traceback and logs, while the caller sees only the canonical code and message.
- Rule 3: what was certainly not sent maps to `CoreUnavailable` (provably not delivered);
  what may have reached the core maps to `CoreTimeout` for a read and `CoreOutcomeUnknown`
  for a posting (which must then be reversed, never sent again).
- Rule 4: an exception no entry matches passes through unchanged (a bug shows as itself).
"""

from __future__ import annotations

from types import TracebackType

from adapter.connectors.iso8583.mux import ConnectionLost, DuplicateKey, MuxError, MuxTimeout
from adapter.model.errors import AdapterError, CoreTimeout, CoreUnavailable
from adapter.ports.core import CoreOutcomeUnknown
from adapter.ports.reversals import ReversalStoreError


class NotSent(Exception):
    """The request certainly did not leave."""


class LinkDown(NotSent):
    """There is no signed-on session to the core."""


class LinkUnhealthy(NotSent):
    """The session is up but the core is not answering: refused before sending."""


class StanExhausted(NotSent):
    """Every STAN of the terminal is in flight."""


# What a reversal or network request treats as "no answer, try again later".
UNANSWERED: tuple[type[Exception], ...] = (NotSent, MuxError)

Entry = tuple[type[BaseException], type[AdapterError], str | None]


class ExceptionMap:
    """An ordered table: the first entry the exception is an instance of gives the canonical
    class and its message (None: the canonical class's default message)."""

    def __init__(self, *entries: Entry) -> None:
        for i, (later, _, _) in enumerate(entries):
            for earlier, _, _ in entries[:i]:
                if issubclass(later, earlier):
                    raise ValueError(f"{later.__name__} is listed after {earlier.__name__}, "
                                     "which already matches it: most specific first")
        self.entries = entries

    def lookup(self, exc: BaseException) -> tuple[type[AdapterError], str | None] | None:
        for foreign, canonical, message in self.entries:
            if isinstance(exc, foreign):
                return canonical, message
        return None

    # The table is its own context manager (`with map_exceptions(POSTING):`): a posting
    # passes through three of them, and a generator-based one costs a frame each time.
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None or not isinstance(exc, Exception):
            return
        found = self.lookup(exc)
        if found is None:
            return
        canonical, message = found
        raise canonical(message) from exc


def map_exceptions(table: ExceptionMap) -> ExceptionMap:
    """`with map_exceptions(TABLE):` turns a listed exception into its canonical error."""
    return table


_NOT_SENT: tuple[Entry, ...] = (
    (StanExhausted, CoreUnavailable, "no free STAN: too many requests in flight"),
    (NotSent, CoreUnavailable, None),
    (DuplicateKey, CoreUnavailable, "too many requests in flight"),
)

# A balance inquiry (0200/30): nothing moves, so "maybe sent" is only a timeout.
READ = ExceptionMap(
    *_NOT_SENT,
    (MuxTimeout, CoreTimeout, None),
    (ConnectionLost, CoreTimeout, None),
)

# A financial request (0200/40, /50): "maybe sent" must be reversed (Rule 3).
POSTING = ExceptionMap(
    *_NOT_SENT,
    (MuxTimeout, CoreOutcomeUnknown, None),
    (ConnectionLost, CoreOutcomeUnknown, None),
)

# Writing the ARMED row before sending (`reversals`, Rule 1): failing it, nothing was sent.
RECORD_BEFORE_SENDING = ExceptionMap(
    (ReversalStoreError, CoreUnavailable, "the posting could not be recorded before sending"),
)

# Removing the ARMED row after a definite reply: failing it, the row stays and is reversed,
# so the reply must not be reported.
RECORD_REPLY = ExceptionMap(
    (ReversalStoreError, CoreOutcomeUnknown, "the posting's reply could not be recorded"),
)
