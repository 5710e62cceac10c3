"""The sans-IO ISO 8583 codec: a message (field number -> string) to bytes and back.

Owns: turning `spec.FIELDS` into a pyiso8583 specification, checking each field's content
class (n, an, ans) beside pyiso8583's length checks, and mapping every pyiso8583 failure to one
`CodecError`. No sockets, no clock, no logging.

Invariants:
- Rule 1: `decode(encode(m)) == m` for every message that encodes (bitmaps excluded).
- Rule 2: a message with a field outside the spec, a field of the wrong length or class, or
  bytes left over after the last field is refused with `CodecError` naming the field; the
  field's value is never quoted (it may be an account number).
- Rule 3: the bitmap encoding (16 ASCII-hex characters, or 8 binary bytes, per bitmap) is the
  only difference between the two wire variants.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import iso8583
from iso8583.specs import default_ascii

from adapter.connectors.iso8583.spec import FIELDS, BitmapEncoding, Field, Kind

Message = dict[str, str]


class CodecError(ValueError):
    """A message that cannot be encoded or decoded. `field` is the field at fault, if known."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _pyiso_spec(bitmap: BitmapEncoding) -> dict[str, dict[str, Any]]:
    spec: dict[str, dict[str, Any]] = {"h": dict(default_ascii["h"])}
    for f in FIELDS:
        entry = dict(default_ascii[f.number])
        # The spec here is the contract; pyiso8583's defaults must agree with it.
        assert entry["len_type"] == f.len_type and entry["max_len"] == f.max_len, f.number
        entry["desc"] = f.name
        spec[f.number] = entry
    if bitmap is BitmapEncoding.BINARY:
        for key in ("p", "1"):
            spec[key] = {**spec[key], "data_enc": "b", "max_len": 8}
    return spec


def _is_n(value: str) -> bool:
    return value.isascii() and value.isdigit()


def _is_an(value: str) -> bool:
    return value.isascii() and value.isalnum()


def _is_ans(value: str) -> bool:
    return value.isascii() and value.isprintable()


# Content class -> its test; bitmaps (hex) are written and checked by pyiso8583 itself.
_KIND_CHECKS: dict[Kind, Callable[[str], bool] | None] = {
    Kind.N: _is_n, Kind.AN: _is_an, Kind.ANS: _is_ans, Kind.HEX: None}


def _kind_error(f: Field) -> CodecError:
    return CodecError(f"field {f.number} ({f.name}) must be {f.kind.value}", f.number)


class Codec:
    """Encode and decode one message at a time. Stateless; safe to share.

    The pyiso8583 spec and the table of content-class checks are built once, here: per
    message the codec does one dict lookup and one check per field on top of pyiso8583."""

    def __init__(self, bitmap: BitmapEncoding = BitmapEncoding.ASCII_HEX) -> None:
        self.bitmap = bitmap
        self._spec = _pyiso_spec(bitmap)
        self._checks = {f.number: (f, _KIND_CHECKS[f.kind]) for f in FIELDS}

    def encode(self, message: Mapping[str, str]) -> bytes:
        doc: dict[str, str] = {}
        checks = self._checks
        for key, value in message.items():
            entry = checks.get(key)
            if entry is None:
                raise CodecError(f"field {key} is not in the message specification", key)
            f, check = entry
            if check is None:
                continue  # bitmaps are computed from the fields present
            if not isinstance(value, str):
                raise CodecError(f"field {key} must be a string", key)
            if not check(value):
                raise _kind_error(f)
            doc[key] = value
        if "t" not in doc:
            raise CodecError("the message type indicator is missing", "t")
        try:
            raw, _ = iso8583.encode(doc, self._spec)
        except iso8583.EncodeError as exc:
            raise CodecError(f"cannot encode: {exc.msg}: field {exc.field}", exc.field) from exc
        return bytes(raw)

    def decode(self, data: bytes) -> Message:
        try:
            doc, _ = iso8583.decode(data, self._spec)
        except iso8583.DecodeError as exc:
            raise CodecError(f"cannot decode: {exc.msg}: field {exc.field}", exc.field) from exc
        except KeyError as exc:
            field = str(exc.args[0])
            raise CodecError(
                f"cannot decode: field {field} is not in the message specification", field
            ) from exc
        except (ValueError, IndexError, TypeError) as exc:
            raise CodecError(f"cannot decode: {type(exc).__name__}") from exc
        doc.pop("h", None)
        checks = self._checks
        for key, value in doc.items():
            f, check = checks[key]
            if check is not None and not check(value):
                raise _kind_error(f)
        return doc  # a fresh dict from pyiso8583: no copy needed


def message_fields(message: Mapping[str, str]) -> Message:
    """The message without its bitmaps: what two equal messages share."""
    return {k: v for k, v in message.items() if k not in ("p", "1")}
