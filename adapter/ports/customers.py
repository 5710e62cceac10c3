"""The customer store port: customers, their devices, sessions, one-time challenges, lock
state, known payees, and the security audit trail with its alert outbox.

Invariants every implementation keeps (the contract suite, tests/customers/test_store.py,
runs against each):
- Rule 1: usernames are unique, compared case-insensitively (stored lower-cased).
- Rule 2: one-time values are one-time under concurrency: `take_challenge` returns a
  challenge to exactly one caller, `accept_totp_step` accepts a step only if it is newer than
  the last accepted one, `remember_jti` is True once per (jkt, jti), `advance_sign_count` only
  moves forward from the count the caller read, `rotate` uses a refresh token once.
- Rule 3: `record_event` appends the audit entry and, for an alert, its outbox row in one
  transaction; outbox `seq` values only grow.
- Rule 4: a revoked session or device never becomes valid again.

Secrets are never stored in clear: passwords as Argon2id hashes, TOTP secrets sealed with the
state folder's secrets key (Fernet), tokens as SHA-256 digests (a stolen database holds no
usable token).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class CustomerRecord:
    customer_id: str
    username: str
    password_hash: str
    totp_sealed: str
    accounts: frozenset[str]
    created_at: datetime
    # RFC 6238 time step of the last accepted code: a code of this step or earlier is refused.
    totp_last_step: int = 0


@dataclass(frozen=True)
class LockState:
    """Failure counting for one username, known or not (so lockout enumerates nothing)."""

    failures: int = 0
    locked_until: datetime | None = None
    lock_count: int = 0
    permanent: bool = False


@dataclass(frozen=True)
class DeviceRecord:
    credential_id: str  # base64url, as WebAuthn carries it
    customer_id: str
    public_key: bytes  # COSE_Key (RFC 9053), as the authenticator registered it
    jkt: str  # RFC 7638 thumbprint of the same key: what DPoP proofs must be signed with
    sign_count: int
    name: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class SessionRecord:
    """One login on one device: the family of every access and refresh token it issues."""

    session_id: str
    customer_id: str
    credential_id: str
    jkt: str
    auth_level: str
    created_at: datetime
    last_seen: datetime
    access_hash: str
    access_expires: datetime
    refresh_hash: str
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class Challenge:
    """A one-time WebAuthn challenge. `binding` ties it to what it was issued for: the
    customer (enrolment, SCA) and, for SCA, the digest of the payment it authorises."""

    challenge_id: str
    purpose: str  # enrol | login | sca
    challenge: bytes
    expires_at: datetime
    customer_id: str | None = None
    binding: str = ""


@dataclass(frozen=True)
class SecurityEvent:
    """An audit-trail entry; those with `alert` set are also outbox events for notification."""

    customer_id: str
    kind: str
    at: datetime
    detail: dict[str, Any] = field(default_factory=dict)
    alert: bool = False
    seq: int = 0


class DuplicateUsername(Exception):
    """A customer with this username exists already."""


class CustomerStorePort(Protocol):
    # -- customers -------------------------------------------------------------------------
    async def add_customer(self, customer: CustomerRecord) -> None:
        """Insert; raise DuplicateUsername if the username is taken (Rule 1)."""
        ...

    async def get_customer(self, customer_id: str) -> CustomerRecord | None: ...

    async def find_customer(self, username: str) -> CustomerRecord | None: ...

    async def list_customers(self) -> list[CustomerRecord]: ...

    async def set_password_hash(self, customer_id: str, password_hash: str) -> None: ...

    async def set_totp(self, customer_id: str, totp_sealed: str) -> None:
        """A new TOTP secret; its step counter starts again at 0."""
        ...

    async def accept_totp_step(self, customer_id: str, step: int) -> bool:
        """Record `step` as the last accepted TOTP step if it is newer (Rule 2)."""
        ...

    # -- lockout ---------------------------------------------------------------------------
    async def get_lock(self, username: str) -> LockState: ...

    async def save_lock(self, username: str, state: LockState) -> None: ...

    # -- devices ---------------------------------------------------------------------------
    async def add_device(self, device: DeviceRecord) -> None: ...

    async def get_device(self, credential_id: str) -> DeviceRecord | None: ...

    async def list_devices(self, customer_id: str) -> list[DeviceRecord]: ...

    async def advance_sign_count(self, credential_id: str, seen: int, new: int) -> bool: ...

    async def revoke_device(self, credential_id: str, at: datetime) -> bool:
        """Revoke an active device; False if unknown or already revoked (Rule 4)."""
        ...

    # -- one-time values -------------------------------------------------------------------
    async def put_challenge(self, challenge: Challenge) -> None: ...

    async def take_challenge(self, challenge_id: str) -> Challenge | None:
        """Remove and return the challenge (expired or not: the caller checks); None if it
        was never issued or someone took it already (Rule 2)."""
        ...

    async def remember_jti(self, jkt: str, jti: str, now: datetime,
                           expires_at: datetime) -> bool:
        """True the first time a DPoP proof id is seen for a key; forgets it after
        `expires_at` (a proof that old is refused by its `iat` anyway)."""
        ...

    # -- sessions --------------------------------------------------------------------------
    async def add_session(self, session: SessionRecord) -> None: ...

    async def session_by_access(self, access_hash: str) -> SessionRecord | None: ...

    async def session_by_refresh(self, refresh_hash: str) -> tuple[SessionRecord, bool] | None:
        """The session a refresh token (current or already used) belongs to, and whether this
        token was used already."""
        ...

    async def rotate(self, session_id: str, used_refresh: str, access_hash: str,
                     access_expires: datetime, refresh_hash: str) -> bool:
        """Mark `used_refresh` used and install the new pair, if `used_refresh` is the
        session's current, unused refresh token and the session is live; else False."""
        ...

    async def touch_session(self, session_id: str, at: datetime) -> None: ...

    async def revoke_session(self, session_id: str, at: datetime) -> None: ...

    async def revoke_sessions_of(self, customer_id: str, at: datetime,
                                 credential_id: str | None = None) -> int: ...

    # -- payees ----------------------------------------------------------------------------
    async def is_known_payee(self, customer_id: str, payee: str) -> bool: ...

    async def add_payee(self, customer_id: str, payee: str) -> None: ...

    # -- audit trail and alert outbox ------------------------------------------------------
    async def record_event(self, event: SecurityEvent) -> SecurityEvent:
        """Append to the audit trail (and to the alert outbox if `alert`); return it with
        its seq (Rule 3)."""
        ...

    async def audit_trail(self, customer_id: str) -> list[SecurityEvent]: ...

    async def alerts_since(self, seq: int, limit: int) -> list[SecurityEvent]: ...

    async def aclose(self) -> None: ...
