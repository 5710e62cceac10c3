"""The channel: one asyncio TLS stream carrying length-prefixed ISO 8583 frames.

Owns: connecting (TCP + mutual TLS, the context comes from `adapter.infra.tls`), writing
frames, reading whole frames, closing, and the backoff schedule for reconnecting. It knows
nothing of messages: frames in, frames out (jPOS `ASCIIChannel` / `BaseChannel` split).

Invariants:
- Rule 1: frames are written whole and in order; concurrent senders never interleave bytes
  (frames are queued synchronously and flushed together at the end of the loop turn; only
  the flow-control wait is shared).
- Rule 2: a `FramingError` on input closes the channel: the stream cannot be resynchronised.
- Rule 3: there is no plain-text mode: `connect` requires an `ssl.SSLContext`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
from collections.abc import AsyncIterator

from adapter.connectors.iso8583.framing import MAX_FRAME, FrameDecoder, FramingError, frame

READ_CHUNK = 65536


class ChannelClosed(ConnectionError):
    """The channel is closed; nothing more can be sent on it."""


class IsoChannel:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        max_frame: int = MAX_FRAME,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._decoder = FrameDecoder(max_frame)
        self._max_frame = max_frame
        self._drain_lock = asyncio.Lock()
        self._closed = False
        self._outbox: list[bytes] = []
        self._flush_scheduled = False

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext,
        *,
        server_hostname: str | None = None,
        timeout: float = 5.0,
        max_frame: int = MAX_FRAME,
    ) -> IsoChannel:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(
                host, port, ssl=ssl_context, server_hostname=server_hostname or host,
                limit=READ_CHUNK,
            ),
            timeout,
        )
        return cls(reader, writer, max_frame=max_frame)

    @property
    def closed(self) -> bool:
        return self._closed or self._writer.is_closing()

    def peer(self) -> str:
        peer = self._writer.get_extra_info("peername")
        return f"{peer[0]}:{peer[1]}" if peer else "?"

    def write(self, payload: bytes) -> None:
        """Queue one frame for sending, without waiting (raises ChannelClosed if closed)."""
        if self.closed:
            raise ChannelClosed("the channel is closed")
        self._outbox.append(frame(payload, self._max_frame))
        if not self._flush_scheduled:
            # Frames queued in one loop turn leave in one TLS record and one send(): with
            # many requests in flight this, not the codec, decides the throughput.
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._outbox and not self._writer.is_closing():
            self._writer.write(b"".join(self._outbox))
        self._outbox.clear()

    async def send(self, payload: bytes) -> None:
        self.write(payload)
        if self._writer.transport.get_write_buffer_size() > READ_CHUNK:
            async with self._drain_lock:
                await self._writer.drain()

    async def frames(self) -> AsyncIterator[bytes]:
        """Whole frames until the peer closes. Raises FramingError (and closes) on bad input."""
        while True:
            data = await self._reader.read(READ_CHUNK)
            if not data:
                try:
                    self._decoder.eof()
                finally:
                    self._closed = True
                return
            try:
                frames = self._decoder.feed(data)
            except FramingError:
                await self.close()
                raise
            for f in frames:
                yield f

    async def close(self) -> None:
        if not self._closed:
            self._flush()
        self._closed = True
        if not self._writer.is_closing():
            self._writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)


class Backoff:
    """Exponential backoff with full jitter: delays grow from `initial` to `maximum`."""

    def __init__(self, initial: float = 0.05, maximum: float = 5.0, factor: float = 2.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self.factor = factor
        self._attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * self.factor**self._attempt)
        self._attempt += 1
        # Full jitter keeps many adapters from reconnecting to a restarted core in lockstep.
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self._attempt = 0
