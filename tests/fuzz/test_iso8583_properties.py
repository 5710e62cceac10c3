"""Property tests of the adapter's ISO 8583 framing and codec: round trips, and no input that
crashes them with anything but their own error."""

from __future__ import annotations

import contextlib
import string

from hypothesis import given
from hypothesis import strategies as st

from adapter.connectors.iso8583.codec import Codec, CodecError, message_fields
from adapter.connectors.iso8583.framing import MAX_FRAME, FrameDecoder, FramingError, frame
from adapter.connectors.iso8583.spec import FIELDS, BitmapEncoding, Field, Kind

ALPHABETS = {
    Kind.N: string.digits,
    Kind.AN: string.ascii_letters + string.digits,
    Kind.ANS: "".join(chr(c) for c in range(0x20, 0x7F)),
}
DATA_FIELDS = [f for f in FIELDS if f.kind is not Kind.HEX and f.number != "t"]


def value_for(f: Field) -> st.SearchStrategy[str]:
    alphabet = ALPHABETS[f.kind]
    if f.len_type == 0:
        return st.text(alphabet, min_size=f.max_len, max_size=f.max_len)
    return st.text(alphabet, min_size=1, max_size=f.max_len)


@st.composite
def messages(draw: st.DrawFn) -> dict[str, str]:
    chosen = draw(st.lists(st.sampled_from(DATA_FIELDS), unique_by=lambda f: f.number,
                           min_size=1))
    msg = {"t": draw(st.sampled_from(["0200", "0210", "0420", "0421", "0430", "0800", "0810"]))}
    for f in chosen:
        msg[f.number] = draw(value_for(f))
    return msg


@given(messages(), st.sampled_from(list(BitmapEncoding)))
def test_decode_inverts_encode(msg: dict[str, str], bitmap: BitmapEncoding) -> None:
    """Rule 1 of the codec, for every field of the spec at every legal length and content."""
    codec = Codec(bitmap)
    assert message_fields(codec.decode(codec.encode(msg))) == msg


@given(st.binary(max_size=600), st.sampled_from(list(BitmapEncoding)))
def test_decode_of_any_bytes_is_a_message_or_a_codec_error(data: bytes,
                                                          bitmap: BitmapEncoding) -> None:
    """Garbage never escapes as another exception type (the channel maps only CodecError)."""
    with contextlib.suppress(CodecError):
        Codec(bitmap).decode(data)


@given(messages(), st.data())
def test_a_corrupted_message_decodes_or_is_refused(msg: dict[str, str],
                                                   data: st.DataObject) -> None:
    """One byte changed anywhere in a valid message: a message or a CodecError, nothing else."""
    raw = bytearray(Codec().encode(msg))
    at = data.draw(st.integers(0, len(raw) - 1))
    raw[at] = data.draw(st.integers(0, 255))
    with contextlib.suppress(CodecError):
        Codec().decode(bytes(raw))


@given(st.lists(st.binary(min_size=1, max_size=300), max_size=8), st.data())
def test_framing_is_independent_of_how_the_stream_is_cut(payloads: list[bytes],
                                                         data: st.DataObject) -> None:
    """Frames fed in arbitrary pieces come out whole, in order, exactly once."""
    stream = b"".join(frame(p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder, out, start = FrameDecoder(), [], 0
    for cut in [*cuts, len(stream)]:
        out += decoder.feed(stream[start:cut])
        start = cut
    assert out == payloads
    assert decoder.buffered == 0


@given(st.binary(max_size=2000))
def test_framing_of_any_bytes_yields_frames_or_a_framing_error(data: bytes) -> None:
    """A hostile stream gives whole frames within the limit, or FramingError; never more."""
    decoder = FrameDecoder()
    try:
        for f in decoder.feed(data):
            assert 0 < len(f) <= MAX_FRAME
    except FramingError:
        pass
