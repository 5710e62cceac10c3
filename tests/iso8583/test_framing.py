"""The 2-byte big-endian length framing: whole frames out, however the bytes arrive."""

from __future__ import annotations

import pytest

from adapter.connectors.iso8583.framing import FrameDecoder, FramingError, frame


def test_frame_prefixes_big_endian_length() -> None:
    """300 bytes get the header 0x01 0x2C."""
    assert frame(b"x" * 300)[:2] == b"\x01\x2c"
    assert frame(b"0800") == b"\x00\x040800"


def test_frames_split_and_joined_arbitrarily() -> None:
    """Frames cut at every byte, or several in one chunk, come out whole and in order."""
    stream = frame(b"first") + frame(b"second message") + frame(b"3")
    decoder = FrameDecoder()
    out: list[bytes] = []
    for i in range(len(stream)):
        out += decoder.feed(stream[i : i + 1])
    assert out == [b"first", b"second message", b"3"]
    assert FrameDecoder().feed(stream) == [b"first", b"second message", b"3"]
    assert decoder.buffered == 0


def test_partial_frame_waits() -> None:
    """A header promising more than has arrived yields nothing yet."""
    decoder = FrameDecoder()
    assert decoder.feed(b"\x00\x05ab") == []
    assert decoder.feed(b"cde\x00") == [b"abcde"]
    assert decoder.buffered == 1


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\x00\x00", "frame length header says 0 bytes; allowed 1 to 8192"),
        (b"\xff\xff" + b"x" * 10, "frame length header says 65535 bytes; allowed 1 to 8192"),
        (b"\x20\x01", "frame length header says 8193 bytes; allowed 1 to 8192"),
    ],
)
def test_zero_and_oversized_headers_break_the_stream(data: bytes, error: str) -> None:
    """A header that cannot be honoured is an error, and the decoder refuses anything after."""
    decoder = FrameDecoder()
    with pytest.raises(FramingError) as info:
        decoder.feed(frame(b"ok") + data)
    assert str(info.value) == error
    with pytest.raises(FramingError):
        decoder.feed(frame(b"later"))


def test_eof_inside_a_frame() -> None:
    """The peer closing mid-frame is reported with how much was left."""
    decoder = FrameDecoder()
    decoder.feed(b"\x00\x10abc")
    with pytest.raises(FramingError, match=r"connection closed inside a frame \(5 bytes\)"):
        decoder.eof()
    FrameDecoder().eof()  # nothing buffered: a clean close


def test_frame_refuses_empty_and_oversized_payloads() -> None:
    """Nothing that the other side would refuse is ever sent."""
    with pytest.raises(FramingError, match="a frame holds 1 to 8192 bytes, not 0"):
        frame(b"")
    with pytest.raises(FramingError, match="not 8193"):
        frame(b"x" * 8193)
