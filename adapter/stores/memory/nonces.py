"""WS-Security nonces in this process's memory (`adapter.ports.nonces`), bounded.

Nonces are kept as 64-bit digests in time buckets of `bucket_seconds`; a bucket is dropped
whole once every nonce in it is past `retention`, so a nonce is remembered for at least
`retention` and at most `retention + bucket_seconds` (Rule 2). A digest collision could
only refuse a fresh token (about 1 in 10^7 at a full store), never accept a replay. At
`max_entries` a new nonce is refused with INTERNAL_ERROR rather than an old one evicted
(Rule 3). `add` does not yield: check and insert are one step (Rule 4).
"""

from __future__ import annotations

import hashlib
from collections import deque

from adapter.model.errors import InternalError

MAX_NONCES = 1_000_000


class MemoryNonceStore:
    def __init__(self, retention: float, *, max_entries: int = MAX_NONCES,
                 bucket_seconds: float = 10.0) -> None:
        if retention <= 0 or bucket_seconds <= 0:
            raise ValueError("retention and bucket_seconds must be > 0")
        self._retention = retention
        self._max = max_entries
        self._width = bucket_seconds
        self._buckets: deque[tuple[float, set[int]]] = deque()
        self._size = 0

    @property
    def retention(self) -> float:
        return self._retention

    def __len__(self) -> int:
        return self._size

    async def add(self, username: str, nonce: bytes, *, now: float) -> bool:
        while self._buckets and self._buckets[0][0] + self._width + self._retention < now:
            self._size -= len(self._buckets.popleft()[1])
        digest = hashlib.blake2b(username.encode() + b"\0" + nonce, digest_size=8).digest()
        key = int.from_bytes(digest, "big")
        if any(key in seen for _, seen in self._buckets):
            return False
        if self._size >= self._max:
            raise InternalError("too many WS-Security nonces in the replay window; retry later")
        start = now - now % self._width
        if not self._buckets or self._buckets[-1][0] != start:
            self._buckets.append((start, set()))
        self._buckets[-1][1].add(key)
        self._size += 1
        return True

    async def aclose(self) -> None:
        self._buckets.clear()
        self._size = 0
