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


def refuse_control_characters(values: Iterable[tuple[str, str]], *,
                              pattern: re.Pattern[str] = CONTROL_RE) -> None:
    """Raise VALIDATION naming every (field, value) whose value holds a control character."""
    violations = tuple(
        FieldViolation(field, f"control character U+{ord(found.group()):04X} is not allowed")
        for field, value in values
        if (found := pattern.search(value)) is not None
    )
    if violations:
        summary = "; ".join(f"{v.field}: {v.description}" for v in violations[:5])
        raise ValidationError(f"invalid request: {summary}", violations=violations)
