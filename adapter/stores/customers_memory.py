"""The customer store in memory: the fake for unit tests, keeping the port's every rule.

Each method runs without an await between its read and its write, so on one event loop it
is as atomic as the SQLite statements it stands in for.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from adapter.ports.customers import (
    Challenge,
    CustomerRecord,
    DeviceRecord,
    DuplicateUsername,
    LockState,
    SecurityEvent,
    SessionRecord,
)


class MemoryCustomerStore:
    def __init__(self) -> None:
        self._customers: dict[str, CustomerRecord] = {}
        self._locks: dict[str, LockState] = {}
        self._devices: dict[str, DeviceRecord] = {}
        self._challenges: dict[str, Challenge] = {}
        self._jtis: dict[tuple[str, str], datetime] = {}
        self._sessions: dict[str, SessionRecord] = {}
        self._refresh: dict[str, tuple[str, bool]] = {}
        self._payees: set[tuple[str, str]] = set()
        self._events: list[SecurityEvent] = []
        self._alerts: list[SecurityEvent] = []

    async def add_customer(self, customer: CustomerRecord) -> None:
        username = customer.username.lower()
        if any(c.username == username for c in self._customers.values()):
            raise DuplicateUsername(username)
        self._customers[customer.customer_id] = replace(customer, username=username)

    async def get_customer(self, customer_id: str) -> CustomerRecord | None:
        return self._customers.get(customer_id)

    async def find_customer(self, username: str) -> CustomerRecord | None:
        username = username.lower()
        return next((c for c in self._customers.values() if c.username == username), None)

    async def list_customers(self) -> list[CustomerRecord]:
        return sorted(self._customers.values(), key=lambda c: c.username)

    async def set_password_hash(self, customer_id: str, password_hash: str) -> None:
        c = self._customers[customer_id]
        self._customers[customer_id] = replace(c, password_hash=password_hash)

    async def set_totp(self, customer_id: str, totp_sealed: str) -> None:
        c = self._customers[customer_id]
        self._customers[customer_id] = replace(c, totp_sealed=totp_sealed, totp_last_step=0)

    async def accept_totp_step(self, customer_id: str, step: int) -> bool:
        c = self._customers.get(customer_id)
        if c is None or step <= c.totp_last_step:
            return False
        self._customers[customer_id] = replace(c, totp_last_step=step)
        return True

    async def get_lock(self, username: str) -> LockState:
        return self._locks.get(username.lower(), LockState())

    async def save_lock(self, username: str, state: LockState) -> None:
        self._locks[username.lower()] = state

    async def add_device(self, device: DeviceRecord) -> None:
        if device.credential_id in self._devices:
            raise ValueError("this credential is registered already")
        self._devices[device.credential_id] = device

    async def get_device(self, credential_id: str) -> DeviceRecord | None:
        return self._devices.get(credential_id)

    async def list_devices(self, customer_id: str) -> list[DeviceRecord]:
        return sorted((d for d in self._devices.values() if d.customer_id == customer_id),
                      key=lambda d: (d.created_at, d.credential_id))

    async def advance_sign_count(self, credential_id: str, seen: int, new: int) -> bool:
        d = self._devices.get(credential_id)
        if d is None or d.sign_count != seen or not (new > seen or new == seen == 0):
            return False
        self._devices[credential_id] = replace(d, sign_count=new)
        return True

    async def revoke_device(self, credential_id: str, at: datetime) -> bool:
        d = self._devices.get(credential_id)
        if d is None or d.revoked_at is not None:
            return False
        self._devices[credential_id] = replace(d, revoked_at=at)
        return True

    async def put_challenge(self, challenge: Challenge) -> None:
        self._challenges[challenge.challenge_id] = challenge

    async def take_challenge(self, challenge_id: str) -> Challenge | None:
        return self._challenges.pop(challenge_id, None)

    async def remember_jti(self, jkt: str, jti: str, now: datetime,
                           expires_at: datetime) -> bool:
        for seen, until in list(self._jtis.items()):
            if until < now:
                del self._jtis[seen]
        if (jkt, jti) in self._jtis:
            return False
        self._jtis[(jkt, jti)] = expires_at
        return True

    async def add_session(self, session: SessionRecord) -> None:
        self._sessions[session.session_id] = session
        self._refresh[session.refresh_hash] = (session.session_id, False)

    async def session_by_access(self, access_hash: str) -> SessionRecord | None:
        return next((s for s in self._sessions.values() if s.access_hash == access_hash), None)

    async def session_by_refresh(self, refresh_hash: str) -> tuple[SessionRecord, bool] | None:
        entry = self._refresh.get(refresh_hash)
        if entry is None:
            return None
        return self._sessions[entry[0]], entry[1]

    async def rotate(self, session_id: str, used_refresh: str, access_hash: str,
                     access_expires: datetime, refresh_hash: str) -> bool:
        s = self._sessions.get(session_id)
        entry = self._refresh.get(used_refresh)
        if (s is None or s.revoked_at is not None or s.refresh_hash != used_refresh
                or entry is None or entry[1]):
            return False
        self._refresh[used_refresh] = (session_id, True)
        self._refresh[refresh_hash] = (session_id, False)
        self._sessions[session_id] = replace(s, access_hash=access_hash,
                                             access_expires=access_expires,
                                             refresh_hash=refresh_hash)
        return True

    async def touch_session(self, session_id: str, at: datetime) -> None:
        s = self._sessions.get(session_id)
        if s is not None and s.revoked_at is None:
            self._sessions[session_id] = replace(s, last_seen=at)

    async def revoke_session(self, session_id: str, at: datetime) -> None:
        s = self._sessions.get(session_id)
        if s is not None and s.revoked_at is None:
            self._sessions[session_id] = replace(s, revoked_at=at)

    async def revoke_sessions_of(self, customer_id: str, at: datetime,
                                 credential_id: str | None = None) -> int:
        n = 0
        for s in list(self._sessions.values()):
            if (s.customer_id == customer_id and s.revoked_at is None
                    and credential_id in (None, s.credential_id)):
                self._sessions[s.session_id] = replace(s, revoked_at=at)
                n += 1
        return n

    async def is_known_payee(self, customer_id: str, payee: str) -> bool:
        return (customer_id, payee) in self._payees

    async def add_payee(self, customer_id: str, payee: str) -> None:
        self._payees.add((customer_id, payee))

    async def record_event(self, event: SecurityEvent) -> SecurityEvent:
        stored = replace(event, seq=len(self._events) + 1)
        self._events.append(stored)
        if stored.alert:
            self._alerts.append(stored)
        return stored

    async def audit_trail(self, customer_id: str) -> list[SecurityEvent]:
        return [e for e in self._events if e.customer_id == customer_id]

    async def alerts_since(self, seq: int, limit: int) -> list[SecurityEvent]:
        return [e for e in self._alerts if e.seq > seq][:limit]

    async def aclose(self) -> None:
        return None
