"""Bounds on what one HTTP/1.1 client may cost the HTTPS listener before it is authorised.

uvicorn's httptools protocol buffers a request head of any size and waits for it forever: four
clients sending 50 MB headers took the adapter from 123 to 439 MB, and 200 clients dribbling
headers held their connections for minutes. `GuardedProtocol` (a subclass of the protocol that
puts the client certificate in the scope, frontends/https.py) enforces, per connection:

- Rule 1 (head size): at most `max_head_bytes` of request line and header fields, and at most
  `max_headers` fields; beyond either, 431 Request Header Fields Too Large (RFC 6585 §5) and
  the connection closes. Bytes are counted as they arrive, so a head that never ends is cut
  off after one read past the limit (a TLS record, at most 16 KiB, RFC 8446 §5.1): memory per
  connection stays bounded whatever the client sends.
- Rule 2 (head time): a request head must arrive whole within `head_timeout` seconds of its
  first byte; otherwise 408 Request Timeout (RFC 9110 §15.5.9) and the connection closes.
- Rule 3 (idle): a keep-alive connection with no request for `idle_timeout` seconds closes
  (uvicorn's keep-alive timer).
- Rule 4 (connections): at most `max_connections` open connections in all and
  `max_connections_per_client` from one peer address; a connection beyond either is closed at
  once, before any byte of it is parsed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httptools

from adapter.frontends.https import TlsScopeProtocol


@dataclass(frozen=True)
class HttpLimits:
    max_head_bytes: int = 16 * 1024
    max_headers: int = 100
    head_timeout: float = 10.0
    idle_timeout: float = 30.0
    max_connections: int = 1024
    max_connections_per_client: int = 128


@dataclass
class _Census:
    """Open connections of one listener: in all and per peer address."""

    total: int = 0
    by_peer: Counter[str] = field(default_factory=Counter)


def _status_line(code: int, reason: str) -> bytes:
    return (f"HTTP/1.1 {code} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(reason)}\r\nconnection: close\r\n\r\n{reason}").encode()


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing; carries the answer."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer


HEAD_TIMER_SLACK = 0.002
TOO_LARGE = _status_line(431, "Request Header Fields Too Large")
TOO_SLOW = _status_line(408, "Request Timeout")
MALFORMED = _status_line(400, "Invalid HTTP request received.")


class GuardedProtocol(TlsScopeProtocol):
    limits: ClassVar[HttpLimits] = HttpLimits()
    census: ClassVar[_Census]

    _head_open = True
    _head_bytes = 0
    _head_timer: asyncio.TimerHandle | None = None
    _head_started: float | None = None  # loop time the current head's first byte came
    _peer: str | None = None
    _counted = False

    @classmethod
    def with_limits(cls, limits: HttpLimits) -> type[GuardedProtocol]:
        """A protocol class for one listener: its own limits and its own connection census."""
        return type("GuardedProtocol", (cls,), {"limits": limits, "census": _Census()})

    @classmethod
    def with_tls(cls, context: Any, *, handshake_timeout: float,
                 on_failure: Any) -> type[TlsScopeProtocol]:
        # The handshake is bounded by the head timeout too (Rule 2).
        return super().with_tls(context, handshake_timeout=min(handshake_timeout,
                                                               cls.limits.head_timeout),
                                on_failure=on_failure)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        census, limits = self.census, self.limits
        peer = transport.get_extra_info("peername")
        self._peer = str(peer[0]) if peer else "?"
        if (census.total >= limits.max_connections
                or census.by_peer[self._peer] >= limits.max_connections_per_client):
            transport.abort()
            return
        census.total += 1
        census.by_peer[self._peer] += 1
        self._counted = True
        super().connection_made(transport)

    def serving_started(self) -> None:
        # Rule 2 from the first moment after the handshake (which has its own bound): a
        # client that connects and says nothing is cut off too.
        self._head_begins()

    def handshake_failed(self) -> None:
        self._uncount()

    def _uncount(self) -> None:
        if not self._counted:
            return
        self._counted = False
        census = self.census
        census.total -= 1
        census.by_peer[self._peer or "?"] -= 1
        if census.by_peer[self._peer or "?"] <= 0:
            del census.by_peer[self._peer or "?"]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._counted:
            return
        self._uncount()
        self._cancel_head_timer()
        super().connection_lost(exc)

    # -- Rule 1 and 2: the head ----------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.held_back(data):
            return
        self._unset_keepalive_if_required()
        if self._head_open:
            if self._head_bytes > self.limits.max_head_bytes:
                self._refuse(TOO_LARGE)
                return
            if self._head_started is None:
                self._head_begins()
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except _Refused as refused:
            self._refuse(refused.answer)
        except httptools.HttpParserUpgrade:
            self._refuse(MALFORMED)
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            self._refuse(cause.answer if isinstance(cause, _Refused) else MALFORMED)

    def on_headers_complete(self) -> None:
        # Counted once the head is whole, not per field: a field callback of our own costs a
        # Python call per header of every request, and memory is already bounded by the byte
        # count in data_received (a head within max_head_bytes holds few fields anyway).
        headers = self.headers
        if len(headers) > self.limits.max_headers:
            raise _Refused(TOO_LARGE)
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in headers)
        if size > self.limits.max_head_bytes:  # ": " and CRLF per field
            raise _Refused(TOO_LARGE)
        self._head_open = False
        self._head_started = None  # the timer, if still set, finds nothing to time
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._head_open = True
        self._head_bytes = 0
        super().on_message_complete()

    # One timer per connection, not one per request: a head that completes leaves the timer
    # set, and when it fires it times the head in progress then, if any (Rule 2).
    def _head_begins(self) -> None:
        self._head_started = self.loop.time()
        if self._head_timer is None:
            self._head_timer = self.loop.call_at(self._head_started + self.limits.head_timeout,
                                                 self._head_check)

    def _head_check(self) -> None:
        self._head_timer = None
        started = self._head_started
        if not self._head_open or started is None or self.transport.is_closing():
            return
        due = started + self.limits.head_timeout
        # The loop's timers may fire up to a millisecond early (uvloop counts whole ms).
        if self.loop.time() >= due - HEAD_TIMER_SLACK:
            self._refuse(TOO_SLOW)
        else:
            self._head_timer = self.loop.call_at(due, self._head_check)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _refuse(self, answer: bytes) -> None:
        self._cancel_head_timer()
        self._head_open = False
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()


def uvicorn_options(limits: HttpLimits) -> dict[str, Any]:
    """The uvicorn.Config arguments that carry these limits."""
    return {"http": GuardedProtocol.with_limits(limits),
            "timeout_keep_alive": limits.idle_timeout}
