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

HEADER = 2
# The longest interface message is about 1.5 kB (field 48 alone may hold 999 characters).
MAX_FRAME = 4096
_HIGH_WATER = 65536  # wait for the peer to read once this much is queued in the transport


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

    @property
    def transport(self) -> asyncio.WriteTransport:
        return self._writer.transport  # type: ignore[return-value]

    async def read(self, *, idle_timeout: float | None = None,
                   read_timeout: float | None = None) -> bytes | None:
        """The next frame, or None when the peer closed between frames; None timeouts wait
        for ever (Rule 4)."""
        # One timeout per frame, not two: it runs as the idle timeout until the first byte,
        # then is moved to the read timeout (Rule 4); `begun` tells which one fired.
        begun = False
        try:
            async with asyncio.timeout(idle_timeout) as deadline:
                try:
                    first = await self._reader.readexactly(1)
                except asyncio.IncompleteReadError:
                    return None
                begun = True
                deadline.reschedule(None if read_timeout is None
                                    else asyncio.get_running_loop().time() + read_timeout)
                return await self._read_rest(first)
        except TimeoutError:
            if begun:
                raise ReadTimeout(
                    f"a frame was not finished within {read_timeout:g} s") from None
            raise IdleTimeout(f"no frame begun within {idle_timeout:g} s") from None

    async def _read_rest(self, first: bytes) -> bytes:
        try:
            header = first + await self._reader.readexactly(HEADER - 1)
        except asyncio.IncompleteReadError:
            raise FramingError("the connection closed inside a length header") from None
        length = int.from_bytes(header, "big")
        if not 0 < length <= MAX_FRAME:
            raise FramingError(f"a frame length of {length}; allowed 1 to {MAX_FRAME}")
        try:
            return await self._reader.readexactly(length)
        except asyncio.IncompleteReadError:
            raise FramingError("the connection closed inside a frame") from None

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
        self._flush()
        if not self._writer.is_closing():
            self._writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)
