"""Idempotency: how a request is fingerprinted and how long keys live. What a valid key is
belongs to the model (`model.identifiers.IdempotencyKey`), checked once at the edge.

Semantics (shared by REST `Idempotency-Key`, SOAP `RequestId`, gRPC `request_id`, and modelled
on draft-ietf-httpapi-idempotency-key-header):
- keys are scoped to the caller: two callers may use the same key independently;
- a retry with the same key and the same request replays the stored outcome, success or error;
- the same key with a different request is refused (IDEMPOTENCY_CONFLICT);
- a retry while the first request is still running is refused (REQUEST_IN_PROGRESS);
- a request that certainly never reached the core (CORE_UNAVAILABLE) releases its key, so the
  caller may retry it under the same key;
- completed keys expire after `KEY_TTL` (24 hours) and are purged.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from pydantic import BaseModel

KEY_TTL = timedelta(hours=24)


def fingerprint(operation: str, request: BaseModel) -> str:
    """A digest of the canonical request: equal requests give equal fingerprints whatever
    the wire format they came in (JSON field order, XML whitespace, IBAN spacing...)."""
    body = request.model_dump_json(exclude_none=True).encode()
    return hashlib.sha256(operation.encode() + b"\0" + body).hexdigest()
