"""The identifiers a caller hands the adapter, and the ones the adapter makes.

Caller-supplied (validated once, at the edge, by these types; every protocol refuses exactly
the same values with the same code):
- `IdempotencyKey`: 1 to 255 visible ASCII characters (%x21-7E), the shape of
  draft-ietf-httpapi-idempotency-key-header's key and of AIP-155's request_id. REST
  `Idempotency-Key`, SOAP `RequestId`, gRPC `request_id`.
- `PaymentId`: 1 to 64 letters, digits or '-': every id `new_payment_id` makes fits, and
  nothing that needs escaping in a URL path or an XML element does.
- `Cursor`: the opaque page token of a transaction history, 1 to 512 visible ASCII
  characters. The core made it; the adapter only refuses what no core cursor can be.

Adapter-made:
- `new_payment_id`: a UUIDv7 (RFC 9562).
- `new_core_reference`: 12 characters of Crockford base32, the reference a payment is sent to
  the core under; it must fit ISO 8583 field 37 (retrieval reference number, an 12).
"""

from __future__ import annotations

import os
import re
import secrets
import time
from typing import Annotated, Any

from pydantic import BeforeValidator

IDEMPOTENCY_KEY_MAX = 255
PAYMENT_ID_MAX = 64
CURSOR_MAX = 512

IDEMPOTENCY_KEY_RE = re.compile(rf"[\x21-\x7e]{{1,{IDEMPOTENCY_KEY_MAX}}}")
PAYMENT_ID_RE = re.compile(rf"[A-Za-z0-9-]{{1,{PAYMENT_ID_MAX}}}")
CURSOR_RE = re.compile(rf"[\x21-\x7e]{{1,{CURSOR_MAX}}}")

# How a service names the history cursor in a violation it raises itself; each edge's table
# (services.pipeline.Edge.field_names) renames it to the edge's own field name.
HISTORY_CURSOR = "HistoryQuery.cursor"

IDEMPOTENCY_KEY_RULE = f"1 to {IDEMPOTENCY_KEY_MAX} visible ASCII characters"
PAYMENT_ID_RULE = f"1 to {PAYMENT_ID_MAX} letters, digits or '-'"
CURSOR_RULE = f"1 to {CURSOR_MAX} visible ASCII characters, as received in a page"


def _matching(pattern: re.Pattern[str], rule: str) -> Any:
    # BeforeValidator: a missing or empty value gets the same answer as a malformed one, so
    # "" (proto3's unset string, an empty XML element) and None are refused alike.
    def check(value: Any) -> str:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            raise ValueError(rule)
        return value

    return BeforeValidator(check)


IdempotencyKey = Annotated[str, _matching(IDEMPOTENCY_KEY_RE, IDEMPOTENCY_KEY_RULE)]
PaymentId = Annotated[str, _matching(PAYMENT_ID_RE, PAYMENT_ID_RULE)]
Cursor = Annotated[str, _matching(CURSOR_RE, CURSOR_RULE)]

_REF_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U


# Two Crockford digits per entry: 10 bits per lookup, six lookups per reference.
_PAIRS = [a + b for a in _REF_ALPHABET for b in _REF_ALPHABET]


def new_core_reference() -> str:
    """12 characters (ISO 8583 field 37 is an 12), 60 random bits from one urandom call;
    uniqueness is enforced by the journal's UNIQUE constraint."""
    bits = int.from_bytes(secrets.token_bytes(8), "big") >> 4
    p = _PAIRS
    return (p[bits >> 50] + p[bits >> 40 & 1023] + p[bits >> 30 & 1023]
            + p[bits >> 20 & 1023] + p[bits >> 10 & 1023] + p[bits & 1023])


def new_payment_id() -> str:
    """A UUIDv7 (RFC 9562 section 5.7): 48 bits of Unix milliseconds, then 74 random bits.

    Time-ordered ids land at the right-hand edge of the journal's indexes, so a commit
    dirties a few pages instead of one random leaf per payment per index (measured with
    bench/storebench.py: fewer WAL pages written, and fewer for the checkpointer to copy)."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64 | (0b10 << 62) | (
        rand & ((1 << 62) - 1))
    text = f"{value:032x}"  # what str(uuid.UUID(int=value)) gives, without building the object
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
