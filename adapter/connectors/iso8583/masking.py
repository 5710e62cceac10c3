"""Masking of account numbers and PANs for logs and error messages.

Invariant: a value from a sensitive field (ISO 8583 field 2 PAN, 102/103 account ids) never
reaches a log line or an error message except as `mask(value)`: all but the last 4 characters
replaced by '*' (`adapter.infra.logmask.mask`, the project's one masking rule).
"""

from __future__ import annotations

from collections.abc import Mapping

from adapter.connectors.iso8583.spec import SENSITIVE_FIELDS
from adapter.infra.logmask import mask


def redact(fields: Mapping[str, str]) -> dict[str, str]:
    """A copy of a message safe to log: sensitive fields masked, field 48 reduced to its tags."""
    out: dict[str, str] = {}
    for key, value in fields.items():
        if key in SENSITIVE_FIELDS:
            out[key] = mask(value)
        elif key == "48":
            out[key] = f"<{len(value)} chars>"
        else:
            out[key] = value
    return out


__all__ = ["mask", "redact"]
