"""The core's ISO 8583 codec: one message (field number -> string) to bytes and back.

Owns: calling pyiso8583 with the specification of `fields`, checking each field's content
class (which pyiso8583 leaves to its caller), and turning every pyiso8583 failure into one
`MessageError`. Sans-IO: no sockets, no clock, no logging.

Invariants:
- Rule 1: `decode(encode(m))` returns the fields of `m`; bitmaps are computed, never taken
  from the caller, and removed from decoded messages.
- Rule 2: a field the interface does not define, a wrong length, a wrong content class or
  bytes after the last field is refused naming the field, never quoting its value (it may
  be an account number).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import iso8583

from core_sim.iso8583.fields import BY_NUMBER, Content, pyiso8583_spec

Message = dict[str, str]

_MTI = "t"
_BITMAPS = ("p", "1")


def _numeric(value: str) -> bool:
    return value.isascii() and value.isdigit()


def _alphanumeric(value: str) -> bool:
    return value.isascii() and value.isalnum()


def _printable(value: str) -> bool:
    # ISO 8583 "s": special characters are printable ASCII; control characters never are.
    return value.isascii() and value.isprintable()


_CHECKS: dict[Content, Callable[[str], bool]] = {
    Content.N: _numeric, Content.AN: _alphanumeric, Content.ANS: _printable}


# Each field's content check (the MTI's among them: pyiso8583 holds it to its 4 characters),
# looked up once per field on every message; bitmaps are absent: they are computed on
# encoding and dropped on decoding.
_FIELD_CHECKS: dict[str, Callable[[str], bool]] = {
    _MTI: _numeric, **{number: _CHECKS[element.content] for number, element in BY_NUMBER.items()}}


class MessageError(ValueError):
    """Bytes that are not an interface message, or a message that cannot be written."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _refuse(number: str) -> MessageError:
    if number == _MTI:
        return MessageError("the MTI must be 4 digits", _MTI)
    element = BY_NUMBER.get(number)
    if element is None:
        return MessageError(f"field {number} is not part of the interface", number)
    return MessageError(f"field {number} ({element.name}) must be {element.content.value}",
                        number)


class Codec:
    """Stateless; `binary_bitmap` selects 8 raw bytes per bitmap instead of 16 hex digits."""

    def __init__(self, *, binary_bitmap: bool = False) -> None:
        self._spec = pyiso8583_spec(binary_bitmap=binary_bitmap)

    def encode(self, message: Mapping[str, str]) -> bytes:
        doc: Message = {}
        checks = _FIELD_CHECKS
        for number, value in message.items():
            check = checks.get(number)
            if check is None:
                if number in _BITMAPS:
                    continue
                raise _refuse(number)
            if not isinstance(value, str) or not check(value):
                raise _refuse(number)
            doc[number] = value
        if _MTI not in doc:
            raise MessageError("the MTI is missing", _MTI)
        try:
            raw, _ = iso8583.encode(doc, self._spec)
        except iso8583.EncodeError as exc:
            raise MessageError(f"cannot encode field {exc.field}: {exc.msg}", exc.field) from exc
        return bytes(raw)

    def decode(self, data: bytes) -> Message:
        try:
            doc, _ = iso8583.decode(data, self._spec)
        except iso8583.DecodeError as exc:
            raise MessageError(f"cannot decode field {exc.field}: {exc.msg}", exc.field) from exc
        except KeyError as exc:
            # pyiso8583 looks a bitmap bit up in the spec: the field is not in the interface.
            number = str(exc.args[0])
            raise MessageError(f"field {number} is not part of the interface", number) from exc
        doc.pop("h", None)
        for key in _BITMAPS:
            doc.pop(key, None)
        checks = _FIELD_CHECKS
        for number, value in doc.items():
            check = checks.get(number)
            if check is None or not check(value):
                raise _refuse(number)
        return doc
