"""Framing: a 2-byte big-endian binary length before every ISO 8583 message.

Owns: cutting a byte stream into whole frames and prefixing outgoing frames. Sans-IO: `feed`
takes bytes as they arrive and returns the frames they complete (python-hyper/h11 style).

Invariants:
- Rule 1: a frame's length is 1..`max_frame` bytes (the header counts only the message, not
  itself). A zero or over-long header is a `FramingError`: the stream cannot be resynchronised
  (nothing marks where the next header starts), so the owner must close the connection.
- Rule 2: after a `FramingError` the decoder refuses all further input.
- Rule 3: a frame whose content is garbage is still a whole frame: framing stays in sync and the
  codec decides about its content.
"""

from __future__ import annotations

HEADER_LEN = 2
MAX_FRAME = 8192  # far above any message in `spec` (about 1.5 kB at most), far below 65535


class FramingError(ValueError):
    """The byte stream is not a sequence of well-formed frames; close the connection."""


def frame(payload: bytes, max_frame: int = MAX_FRAME) -> bytes:
    if not 0 < len(payload) <= max_frame:
        raise FramingError(f"a frame holds 1 to {max_frame} bytes, not {len(payload)}")
    return len(payload).to_bytes(HEADER_LEN, "big") + payload


class FrameDecoder:
    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._broken: FramingError | None = None

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        if self._broken is not None:
            raise self._broken
        self._buffer += data
        frames: list[bytes] = []
        buf = self._buffer
        pos = 0
        while len(buf) - pos >= HEADER_LEN:
            length = int.from_bytes(buf[pos : pos + HEADER_LEN], "big")
            if not 0 < length <= self.max_frame:
                self._broken = FramingError(
                    f"frame length header says {length} bytes; allowed 1 to {self.max_frame}"
                )
                del buf[:]
                raise self._broken
            end = pos + HEADER_LEN + length
            if len(buf) < end:
                break
            frames.append(bytes(buf[pos + HEADER_LEN : end]))
            pos = end
        del buf[:pos]
        return frames

    def eof(self) -> None:
        """The peer closed the stream: a partial frame left in the buffer is an error."""
        if self._buffer:
            raise FramingError(f"connection closed inside a frame ({len(self._buffer)} bytes)")
