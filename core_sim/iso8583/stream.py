"""Length-prefixed ISO 8583 frames on one asyncio stream pair (the host's end of a link).

Owns: cutting the byte stream into frames (interface document: a 2-byte big-endian binary
length before each message, the length not counting itself) and writing frames back.

Invariants:
- Rule 1: a length of 0 or above `MAX_FRAME` is a `FramingError`: nothing marks where the
  next header would start, so the connection must be closed.
- Rule 2: a frame whose content is garbage is still a whole frame; the framing stays in sync
  and the codec decides about the content.
- Rule 3: frames are written whole and in order; the frames written during one event-loop
  turn leave together (one TLS record, one send), which is what lets one connection carry
  many requests in flight.
- Rule 4: reads are bounded in time. Between frames the peer may stay silent for
  `idle_timeout` seconds (`IdleTimeout`); once the first byte of a frame has arrived, the rest
  of its header and body must arrive within `read_timeout` seconds (`ReadTimeout`), so a peer
  that declares 4,000 bytes and sends 100 cannot hold the connection open. Both close the
  connection (a half-read frame cannot be resynchronised either).
"""

from __future__ import annotations

import asyncio
import contextlib
import math

HEADER = 2
# The longest interface message is about 1.5 kB (field 48 alone may hold 999 characters).
MAX_FRAME = 4096
_HIGH_WATER = 65536  # wait for the peer to read once this much is queued in the transport
_CHUNK = 65536  # the most one read takes from the stream reader


class FramingError(ValueError):
    """The stream is not a sequence of frames; close the connection."""


class ReadTimeout(FramingError):
    """A frame was begun and not finished within the read timeout (Rule 4)."""


class IdleTimeout(Exception):
    """No frame was begun within the idle timeout (Rule 4): close the connection."""


class FrameStream:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._pending: list[bytes] = []
        self._drain_lock = asyncio.Lock()
        # Bytes read and not yet returned as a frame, and the loop time the first of them
        # arrived (Rule 4's read timeout runs from there).
        self._buffer = bytearray()
        self._begun = 0.0
        self._read_at = 0.0  # loop time of the last read
        self._deadline = math.inf  # the waiting read's (Rule 4)
        self._timer: asyncio.TimerHandle | None = None
        self._reading = False
        self._expired = False

    @property
    def transport(self) -> asyncio.WriteTransport:
        return self._writer.transport  # type: ignore[return-value]

    async def read(self, *, idle_timeout: float | None = None,
                   read_timeout: float | None = None) -> bytes | None:
        """The next frame, or None when the peer closed between frames; None timeouts wait
        for ever (Rule 4)."""
        # A TLS record usually carries several frames: they are cut from one buffer, and only
        # a frame not yet whole waits (and pays for a deadline).
        while (frame := self._take()) is None:
            begun = bool(self._buffer)
            loop = asyncio.get_running_loop()
            if not begun:
                timeout = idle_timeout
            elif read_timeout is None:
                timeout = None
            else:
                timeout = self._begun + read_timeout - loop.time()
            if timeout is None:
                self._deadline = math.inf
            else:
                self._arm(loop, loop.time() + timeout)
            self._reading = True
            try:
                chunk = await self._reader.read(_CHUNK)
            finally:
                self._reading = False
            if self._expired:
                if begun:
                    raise ReadTimeout(f"a frame was not finished within {read_timeout:g} s")
                raise IdleTimeout(f"no frame begun within {idle_timeout:g} s")
            if not chunk:
                if not begun:
                    return None
                where = "a length header" if len(self._buffer) < HEADER else "a frame"
                raise FramingError(f"the connection closed inside {where}")
            self._read_at = loop.time()
            if not begun:
                self._begun = self._read_at
            self._buffer += chunk
        return frame

    def _arm(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """Rule 4's deadline for the read about to wait. One timer per connection, moved
        only when the deadline comes earlier than it: an idle deadline moves later with
        every read, and the timer, when it fires early, sets itself again (`_expire`), so a
        read costs a clock reading instead of a timer's scheduling and cancelling."""
        self._deadline = deadline
        timer = self._timer
        if timer is not None and timer.when() <= deadline:
            return
        if timer is not None:
            timer.cancel()
        self._timer = loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self._timer = None
        if not self._reading or self._deadline == math.inf:
            return  # the next read arms a timer of its own
        loop = asyncio.get_running_loop()
        if loop.time() < self._deadline:
            self._timer = loop.call_at(self._deadline, self._expire)
            return
        # The waiting read wakes with "no more data" and sees the flag: the connection is
        # closed either way (Rule 4), so ending the reader's stream loses nothing.
        self._expired = True
        self._reader.feed_eof()

    def _take(self) -> bytes | None:
        """The first whole frame of the buffer, if there is one (Rule 1 as soon as its
        length is known)."""
        buffer = self._buffer
        if len(buffer) < HEADER:
            return None
        length = int.from_bytes(buffer[:HEADER], "big")
        if not 0 < length <= MAX_FRAME:
            raise FramingError(f"a frame length of {length}; allowed 1 to {MAX_FRAME}")
        end = HEADER + length
        if len(buffer) < end:
            return None
        frame = bytes(buffer[HEADER:end])
        del buffer[:end]
        if buffer:
            # What is left came with the last read (a frame ending in an earlier one would
            # have been taken then): the next frame began at that read.
            self._begun = self._read_at
        return frame

    def write(self, payload: bytes) -> None:
        if not 0 < len(payload) <= MAX_FRAME:
            raise FramingError(f"a frame of {len(payload)} bytes; allowed 1 to {MAX_FRAME}")
        if self._writer.is_closing():
            return
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.append(len(payload).to_bytes(HEADER, "big") + payload)

    def _flush(self) -> None:
        if self._pending and not self._writer.is_closing():
            self._writer.write(b"".join(self._pending))
        self._pending.clear()

    async def send(self, payload: bytes) -> None:
        """Write one frame; wait only if the peer is not reading (back-pressure)."""
        self.write(payload)
        if self.transport.get_write_buffer_size() > _HIGH_WATER:
            async with self._drain_lock:
                await self._writer.drain()

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._flush()
        if not self._writer.is_closing():
            self._writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)
