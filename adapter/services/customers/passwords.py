"""Password hashing: Argon2id (RFC 9106) behind the project's one bound on expensive hashing,
`adapter.security.hash_gate.HashGate` (its Rules 1-2, without its per-subject throttle: the
customer API has its own lockout).

Invariants:
- Rule 1: at most `workers` hashes run at once, on the gate's own threads (argon2-cffi releases
  the GIL while hashing): a flood of wrong passwords costs at most `workers` cores and never
  blocks a balance inquiry's event loop.
- Rule 2: at most `queue_limit` verifications wait for a worker; one more is refused at once
  with PasswordCheckBusy (503) instead of queueing without bound.
- Rule 3: an unknown username costs one verification against a dummy hash made with the same
  parameters, so the time of an answer does not tell whether the username exists.
- Rule 4: a stored hash made with older parameters is re-hashed on the next successful
  login (RFC 9106 section 4: parameters are chosen per deployment and raised over time).
"""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY

from adapter.model.errors import ServerError
from adapter.security.hash_gate import HashGate

# RFC 9106 section 4, "second recommended option": t=3, p=4, m=64 MiB, Argon2id. The first
# option (2 GiB of memory per hash) is not for a server that hashes under load.
PRODUCTION_PARAMETERS = RFC_9106_LOW_MEMORY
assert PRODUCTION_PARAMETERS.type is Type.ID


class PasswordCheckBusy(ServerError):
    code = "AUTHENTICATION_BUSY"
    default_message = "too many logins are being checked right now; retry in a moment"


def hasher_for(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                          parallelism=parallelism, hash_len=32, salt_len=16, type=Type.ID)


class PasswordVerifier:
    def __init__(self, hasher: PasswordHasher | None = None, *, workers: int = 1,
                 queue_limit: int = 32) -> None:
        self._hasher = hasher or PasswordHasher.from_parameters(PRODUCTION_PARAMETERS)
        self._gate = HashGate(workers=workers, max_waiting=queue_limit, name="argon2",
                              busy=PasswordCheckBusy)
        # Made on the gate's threads, first in their queue, so start-up does not wait for it
        # and every verification (which queues behind it) finds it ready.
        self._dummy = self._gate.submit(
            self._hasher.hash, "not a password: the unknown-username decoy")

    @property
    def in_flight(self) -> int:
        return self._gate.in_gate

    def hash_sync(self, password: str) -> str:
        return self._hasher.hash(password)

    async def hash(self, password: str) -> str:
        return await self._gate.run(self._hasher.hash, password)

    async def verify(self, stored: str | None, password: str) -> tuple[bool, str | None]:
        """(matches, new hash if the stored one should be replaced). `stored` None is an
        unknown username: the decoy is checked and the answer is always False (Rule 3)."""
        return await self._gate.run(self._verify, stored, password)

    def _verify(self, stored: str | None, password: str) -> tuple[bool, str | None]:
        try:
            self._hasher.verify(stored or self._dummy.result(), password)
        except (VerificationError, InvalidHashError):
            return False, None
        if stored is None:
            return False, None
        if self._hasher.check_needs_rehash(stored):
            return True, self._hasher.hash(password)
        return True, None

    def close(self) -> None:
        self._gate.close()
