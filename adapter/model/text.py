"""Which characters a text value from a caller may hold: no control characters.

Invariant: no value with a Unicode control character (general category Cc: U+0000-001F,
U+007F-009F) reaches a service or the core, from any protocol. Such a character is never part
of an account id, a key, a cursor or a reference; in a log line or a downstream message it is
at best noise and at worst an injection (a CR LF in a header, a vertical tab in a cursor the
core cannot parse). Horizontal tab is the one exception, and only in HTTP header values, whose
grammar allows it as whitespace (RFC 9110 section 5.5, field-content).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from adapter.model.errors import FieldViolation, ValidationError

CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
HEADER_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# The same set over raw header bytes, which HTTP servers decode as Latin-1 (one byte, one
# code point): a search on the bytes finds exactly what HEADER_CONTROL_RE finds on the text.
HEADER_CONTROL_BYTES_RE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def refuse_control_characters(values: Iterable[tuple[str, str]], *,
                              pattern: re.Pattern[str] = CONTROL_RE) -> None:
    """Raise VALIDATION naming every (field, value) whose value holds a control character."""
    search = pattern.search
    found = [(field, match) for field, value in values if (match := search(value)) is not None]
    if found:
        violations = tuple(
            FieldViolation(field, f"control character U+{ord(match.group()):04X} is not allowed")
            for field, match in found)
        summary = "; ".join(f"{v.field}: {v.description}" for v in violations[:5])
        raise ValidationError(f"invalid request: {summary}", violations=violations)
