"""The WS-Security nonce port: UsernameToken nonces seen within the replay window.

OASIS WSS UsernameToken Profile 1.1, section 4: a receiver should keep each Nonce for as long
as a token carrying it would be fresh, and refuse a token whose Nonce it has seen. The
verifier (`adapter.frontends.soap.wssecurity`, Rules 3 and 4) decides the window; the store
remembers.

Invariants the implementations keep (`now` is Unix time in seconds, read from the verifier's
injected clock):
- Rule 1: `add(username, nonce, now=t)` returns True the first time the pair is seen, False
  for any repeat while it is remembered; nonces are scoped to the username.
- Rule 2: an accepted pair is remembered for at least `retention` seconds after `t`, and may
  be forgotten after that (memory and disk stay bounded).
- Rule 3: when a store cannot remember one more nonce it refuses the token (raises), never
  forgets an older one early: an evicted nonce could be replayed (fail closed).
- Rule 4: two concurrent adds of one pair (two requests, or two processes sharing the store)
  return True at most once.
The nonce itself is never logged; a store may keep only a digest of (username, nonce).
"""

from __future__ import annotations

from typing import Protocol


class NonceStore(Protocol):
    @property
    def retention(self) -> float:
        """Seconds an accepted nonce is remembered at least (Rule 2)."""
        ...

    async def add(self, username: str, nonce: bytes, *, now: float) -> bool: ...

    async def aclose(self) -> None: ...
