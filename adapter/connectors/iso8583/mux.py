"""The mux: many requests in flight on one channel, each reply matched to its own caller.

Owns: the table of requests in flight keyed by (field 11 STAN, field 41 terminal id), the
per-request timeout, what happens to replies that match nobody (jPOS `QMUX`), and when the
oldest request still in flight was registered (a liveness signal, see `liveness`).

Invariants:
- Rule 1: a key is in flight at most once: `request` refuses a duplicate with `DuplicateKey`
  before anything is sent.
- Rule 2: a reply is delivered only to the request with its key AND whose MTI it answers
  (`spec.RESPONSE_MTI`: 0200->0210, 0420/0421->0430, 0800->0810). Anything else is unmatched.
- Rule 3: a request leaves the table exactly once: answered, timed out, cancelled or failed
  with the connection. A reply arriving after that is "late": it is logged (masked) and given
  to `on_unmatched`, never to another caller.
- Rule 4: requests are kept in the order they were registered, so the first one in the table
  is the oldest in flight (`oldest_registered_at`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from adapter.connectors.iso8583.codec import Message
from adapter.connectors.iso8583.masking import redact
from adapter.connectors.iso8583.spec import RESPONSE_MTI

log = logging.getLogger(__name__)

Key = tuple[str, str]
RECENT_KEYS = 4096  # how many timed-out keys are remembered to tell "late" from "unknown"


class MuxError(Exception):
    pass


class DuplicateKey(MuxError):
    """A request with the same (STAN, terminal id) is already in flight."""


class MuxTimeout(MuxError):
    """No reply within the request's timeout. The request WAS sent."""


class ConnectionLost(MuxError):
    """The connection closed while the request was in flight. `sent` says whether it left."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


def key_of(message: Message) -> Key:
    return (message.get("11", ""), message.get("41", ""))


@dataclass(slots=True)
class _InFlight:
    mti: str
    future: asyncio.Future[Message]
    registered_at: float


class Mux:
    def __init__(
        self,
        on_unmatched: Callable[[Message, str], None] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Insertion-ordered (Rule 4): a dict keeps the order keys were added in.
        self._pending: dict[Key, _InFlight] = {}
        self._expired: OrderedDict[Key, str] = OrderedDict()
        self._on_unmatched = on_unmatched
        self._clock = clock
        self.unmatched_count = 0
        self.late_count = 0

    def in_flight(self, key: Key) -> bool:
        return key in self._pending

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    def oldest_registered_at(self) -> float | None:
        """When the oldest request still in flight was registered (clock seconds); None if
        nothing is in flight."""
        for entry in self._pending.values():
            return entry.registered_at
        return None

    async def request(
        self,
        message: Message,
        send: Callable[[Message], Awaitable[None]],
        timeout: float,
    ) -> Message:
        """Send `message` with `send` and wait for the reply matched to it."""
        key = key_of(message)
        mti = message["t"]
        if mti not in RESPONSE_MTI:
            raise MuxError(f"MTI {mti} expects no reply")
        if key in self._pending:
            raise DuplicateKey(f"STAN {key[0]} of terminal {key[1]} is already in flight")
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[key] = _InFlight(mti, future, self._clock())
        sent = False
        try:
            await send(message)
            sent = True
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            self._expire(key, mti)
            raise MuxTimeout(
                f"no reply to {mti} STAN {key[0]} within {timeout:.3f}s"
            ) from None
        except ConnectionLost as exc:
            raise ConnectionLost(str(exc), sent=sent) from exc
        finally:
            entry = self._pending.get(key)
            if entry is not None and entry.future is future:
                del self._pending[key]

    def _expire(self, key: Key, mti: str) -> None:
        self._expired[key] = mti
        self._expired.move_to_end(key)
        while len(self._expired) > RECENT_KEYS:
            self._expired.popitem(last=False)

    def deliver(self, message: Message) -> bool:
        """Hand a received reply to its caller. False (and logged) if it matches nobody."""
        key = key_of(message)
        entry = self._pending.get(key)
        mti = message.get("t", "")
        if entry is not None and RESPONSE_MTI[entry.mti] == mti and not entry.future.done():
            del self._pending[key]
            entry.future.set_result(message)
            return True
        if key in self._expired and RESPONSE_MTI.get(self._expired[key]) == mti:
            reason = "late"
            self.late_count += 1
            del self._expired[key]
        else:
            reason = "unmatched"
            self.unmatched_count += 1
        log.warning("iso8583 %s reply %s dropped: %s", reason, mti, redact(message))
        if self._on_unmatched is not None:
            try:
                self._on_unmatched(message, reason)
            except Exception:
                log.exception("iso8583 unmatched-reply handler failed")
        return False

    def fail_all(self, reason: str) -> None:
        """The connection is gone: every caller in flight learns it now."""
        pending, self._pending = self._pending, {}
        for key, entry in pending.items():
            self._expire(key, entry.mti)
            if not entry.future.done():
                entry.future.set_exception(ConnectionLost(reason, sent=True))
