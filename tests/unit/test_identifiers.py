"""The identifiers of model.identifiers: those the adapter mints (payment ids, UUIDv7, and core
references) and those callers send (idempotency keys, payment ids, cursors)."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pydantic
import pytest

from adapter.model.identifiers import (
    Cursor,
    IdempotencyKey,
    PaymentId,
    new_core_reference,
    new_payment_id,
)


def test_payment_ids_are_uuid7_in_creation_order() -> None:
    before_ms = time.time_ns() // 1_000_000
    ids = [new_payment_id() for _ in range(2000)]
    after_ms = time.time_ns() // 1_000_000
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert all(str(u) == i for u, i in zip(parsed, ids, strict=True))  # canonical text
    stamps = [u.int >> 80 for u in parsed]
    assert before_ms <= stamps[0] and stamps[-1] <= after_ms
    assert stamps == sorted(stamps)  # time-ordered: the journal's indexes grow at one end
    assert len(set(ids)) == len(ids)


def test_core_references_fit_iso8583_field_37() -> None:
    refs = {new_core_reference() for _ in range(2000)}
    assert len(refs) == 2000
    assert all(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{12}", r) for r in refs)


@pytest.mark.parametrize(("kind", "good", "bad"), [
    (IdempotencyKey, ["k", "!" * 255, "0b4a-...~"], ["", "k" * 256, "a b", "k\x00", "kl\u00e9"]),
    (PaymentId, ["0190b3c2-7a8b-7c3d-9e0f-123456789abc", "P" * 64],
     ["", "p" * 65, "pay.ment", "a b", "id/1"]),
    (Cursor, ["Zm9vYmFy", "c" * 512], ["", "c" * 513, "a b", "\x0b", "caf\u00e9"]),
])
def test_caller_identifiers_accept_and_refuse_exactly_their_grammar(
        kind: Any, good: list[str], bad: list[str]) -> None:
    """Each canonical identifier type is the one place its rule lives (model.identifiers)."""
    adapter: pydantic.TypeAdapter[str] = pydantic.TypeAdapter(kind)
    for value in good:
        assert adapter.validate_python(value) == value
    for value in [*bad, None]:
        with pytest.raises(pydantic.ValidationError):
            adapter.validate_python(value)


def test_every_made_payment_id_is_a_valid_payment_id() -> None:
    adapter: pydantic.TypeAdapter[str] = pydantic.TypeAdapter(PaymentId)
    assert all(adapter.validate_python(new_payment_id()) for _ in range(100))
