"""The identifiers the payment service mints: payment ids (UUIDv7) and core references."""

from __future__ import annotations

import re
import time
import uuid

from adapter.model.identifiers import new_core_reference, new_payment_id


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
