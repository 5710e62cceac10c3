"""The customer store on SQLite: its own file (STATE/customers.db), WAL, autocommit.

Why a file of its own: customer authentication is a different trust domain from the payment
journal (it holds password hashes and sealed TOTP secrets) and has a different write pattern
(a few rows per login, not per payment), so it gets its own backups and permissions (0600).

Every one-time rule of the port (Rule 2) is one conditional UPDATE or DELETE ... RETURNING
whose row count decides, so two processes on one file cannot both win. Statements are short
and run on the event loop, like the journal store's reads.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adapter.ports.customers import (
    Challenge,
    CustomerRecord,
    DeviceRecord,
    DuplicateUsername,
    LockState,
    SecurityEvent,
    SessionRecord,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    customer_id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    totp_sealed TEXT NOT NULL,
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    accounts TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lock_state (
    username TEXT PRIMARY KEY,
    failures INTEGER NOT NULL,
    locked_until TEXT,
    lock_count INTEGER NOT NULL,
    permanent INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    credential_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (customer_id),
    public_key BLOB NOT NULL,
    jkt TEXT NOT NULL,
    sign_count INTEGER NOT NULL,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS devices_customer ON devices (customer_id);
CREATE TABLE IF NOT EXISTS challenges (
    challenge_id TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    challenge BLOB NOT NULL,
    expires_at TEXT NOT NULL,
    customer_id TEXT,
    binding TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dpop_jti (
    jkt TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (jkt, jti)
);
CREATE INDEX IF NOT EXISTS dpop_jti_expiry ON dpop_jti (expires_at);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    credential_id TEXT NOT NULL,
    jkt TEXT NOT NULL,
    auth_level TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    access_hash TEXT NOT NULL UNIQUE,
    access_expires TEXT NOT NULL,
    refresh_hash TEXT NOT NULL,
    revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS sessions_customer ON sessions (customer_id);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    refresh_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (session_id),
    used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS payees (
    customer_id TEXT NOT NULL,
    payee TEXT NOT NULL,
    PRIMARY KEY (customer_id, payee)
);
CREATE TABLE IF NOT EXISTS security_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at TEXT NOT NULL,
    detail TEXT NOT NULL,
    alert INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS security_audit_customer ON security_audit (customer_id, seq);
CREATE TABLE IF NOT EXISTS security_alert_outbox (
    seq INTEGER PRIMARY KEY REFERENCES security_audit (seq)
);
"""


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _req_dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


_CUSTOMER_COLS = ("customer_id, username, password_hash, totp_sealed, totp_last_step, accounts,"
                  " created_at")
_DEVICE_COLS = ("credential_id, customer_id, public_key, jkt, sign_count, name, created_at,"
                " revoked_at")
_SESSION_COLS = ("session_id, customer_id, credential_id, jkt, auth_level, created_at,"
                 " last_seen, access_hash, access_expires, refresh_hash, revoked_at")


def _customer(row: tuple[Any, ...]) -> CustomerRecord:
    return CustomerRecord(customer_id=row[0], username=row[1], password_hash=row[2],
                          totp_sealed=row[3], totp_last_step=row[4],
                          accounts=frozenset(json.loads(row[5])), created_at=_req_dt(row[6]))


def _device(row: tuple[Any, ...]) -> DeviceRecord:
    return DeviceRecord(credential_id=row[0], customer_id=row[1], public_key=bytes(row[2]),
                        jkt=row[3], sign_count=row[4], name=row[5],
                        created_at=_req_dt(row[6]), revoked_at=_dt(row[7]))


def _session(row: tuple[Any, ...]) -> SessionRecord:
    return SessionRecord(session_id=row[0], customer_id=row[1], credential_id=row[2],
                         jkt=row[3], auth_level=row[4], created_at=_req_dt(row[5]),
                         last_seen=_req_dt(row[6]), access_hash=row[7],
                         access_expires=_req_dt(row[8]), refresh_hash=row[9],
                         revoked_at=_dt(row[10]))


def _event(row: tuple[Any, ...]) -> SecurityEvent:
    return SecurityEvent(seq=row[0], customer_id=row[1], kind=row[2], at=_req_dt(row[3]),
                         detail=json.loads(row[4]), alert=bool(row[5]))


class SqliteCustomerStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not path.exists()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        if fresh:
            os.chmod(path, 0o600)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)

    def _one(self, sql: str, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._db.execute(sql, args).fetchone()
        return row

    # -- customers -------------------------------------------------------------------------

    async def add_customer(self, customer: CustomerRecord) -> None:
        try:
            self._db.execute(
                f"INSERT INTO customers ({_CUSTOMER_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (customer.customer_id, customer.username.lower(), customer.password_hash,
                 customer.totp_sealed, customer.totp_last_step,
                 json.dumps(sorted(customer.accounts)), _ts(customer.created_at)))
        except sqlite3.IntegrityError as exc:
            raise DuplicateUsername(customer.username.lower()) from exc

    async def get_customer(self, customer_id: str) -> CustomerRecord | None:
        row = self._one(f"SELECT {_CUSTOMER_COLS} FROM customers WHERE customer_id = ?",
                        (customer_id,))
        return _customer(row) if row else None

    async def find_customer(self, username: str) -> CustomerRecord | None:
        row = self._one(f"SELECT {_CUSTOMER_COLS} FROM customers WHERE username = ?",
                        (username.lower(),))
        return _customer(row) if row else None

    async def list_customers(self) -> list[CustomerRecord]:
        rows = self._db.execute(
            f"SELECT {_CUSTOMER_COLS} FROM customers ORDER BY username").fetchall()
        return [_customer(r) for r in rows]

    async def set_password_hash(self, customer_id: str, password_hash: str) -> None:
        self._db.execute("UPDATE customers SET password_hash = ? WHERE customer_id = ?",
                         (password_hash, customer_id))

    async def set_totp(self, customer_id: str, totp_sealed: str) -> None:
        self._db.execute(
            "UPDATE customers SET totp_sealed = ?, totp_last_step = 0 WHERE customer_id = ?",
            (totp_sealed, customer_id))

    async def accept_totp_step(self, customer_id: str, step: int) -> bool:
        cur = self._db.execute(
            "UPDATE customers SET totp_last_step = ? WHERE customer_id = ? AND totp_last_step < ?",
            (step, customer_id, step))
        return cur.rowcount == 1

    # -- lockout ---------------------------------------------------------------------------

    async def get_lock(self, username: str) -> LockState:
        row = self._one("SELECT failures, locked_until, lock_count, permanent FROM lock_state"
                        " WHERE username = ?", (username.lower(),))
        if row is None:
            return LockState()
        return LockState(failures=row[0], locked_until=_dt(row[1]), lock_count=row[2],
                         permanent=bool(row[3]))

    async def save_lock(self, username: str, state: LockState) -> None:
        self._db.execute(
            "INSERT INTO lock_state (username, failures, locked_until, lock_count, permanent)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (username) DO UPDATE SET"
            " failures = excluded.failures, locked_until = excluded.locked_until,"
            " lock_count = excluded.lock_count, permanent = excluded.permanent",
            (username.lower(), state.failures, _ts(state.locked_until), state.lock_count,
             int(state.permanent)))

    # -- devices ---------------------------------------------------------------------------

    async def add_device(self, device: DeviceRecord) -> None:
        try:
            self._db.execute(
                f"INSERT INTO devices ({_DEVICE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (device.credential_id, device.customer_id, device.public_key, device.jkt,
                 device.sign_count, device.name, _ts(device.created_at),
                 _ts(device.revoked_at)))
        except sqlite3.IntegrityError as exc:
            raise ValueError("this credential is registered already") from exc

    async def get_device(self, credential_id: str) -> DeviceRecord | None:
        row = self._one(f"SELECT {_DEVICE_COLS} FROM devices WHERE credential_id = ?",
                        (credential_id,))
        return _device(row) if row else None

    async def list_devices(self, customer_id: str) -> list[DeviceRecord]:
        rows = self._db.execute(
            f"SELECT {_DEVICE_COLS} FROM devices WHERE customer_id = ?"
            " ORDER BY created_at, credential_id", (customer_id,)).fetchall()
        return [_device(r) for r in rows]

    async def advance_sign_count(self, credential_id: str, seen: int, new: int) -> bool:
        # W3C WebAuthn Level 2, section 7.2 step 21: the stored count only grows; 0 and 0
        # means the authenticator keeps no counter.
        if not (new > seen or new == seen == 0):
            return False
        cur = self._db.execute(
            "UPDATE devices SET sign_count = ? WHERE credential_id = ? AND sign_count = ?",
            (new, credential_id, seen))
        return cur.rowcount == 1

    async def revoke_device(self, credential_id: str, at: datetime) -> bool:
        cur = self._db.execute(
            "UPDATE devices SET revoked_at = ? WHERE credential_id = ? AND revoked_at IS NULL",
            (_ts(at), credential_id))
        return cur.rowcount == 1

    # -- one-time values -------------------------------------------------------------------

    async def put_challenge(self, challenge: Challenge) -> None:
        self._db.execute(
            "INSERT INTO challenges (challenge_id, purpose, challenge, expires_at, customer_id,"
            " binding) VALUES (?, ?, ?, ?, ?, ?)",
            (challenge.challenge_id, challenge.purpose, challenge.challenge,
             _ts(challenge.expires_at), challenge.customer_id, challenge.binding))

    async def take_challenge(self, challenge_id: str) -> Challenge | None:
        row = self._one(
            "DELETE FROM challenges WHERE challenge_id = ? RETURNING challenge_id, purpose,"
            " challenge, expires_at, customer_id, binding", (challenge_id,))
        if row is None:
            return None
        return Challenge(challenge_id=row[0], purpose=row[1], challenge=bytes(row[2]),
                         expires_at=_req_dt(row[3]), customer_id=row[4], binding=row[5])

    async def remember_jti(self, jkt: str, jti: str, now: datetime,
                           expires_at: datetime) -> bool:
        self._db.execute("DELETE FROM dpop_jti WHERE expires_at < ?", (_ts(now),))
        cur = self._db.execute(
            "INSERT INTO dpop_jti (jkt, jti, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING", (jkt, jti, _ts(expires_at)))
        return cur.rowcount == 1

    # -- sessions --------------------------------------------------------------------------

    async def add_session(self, session: SessionRecord) -> None:
        s = session
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                f"INSERT INTO sessions ({_SESSION_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (s.session_id, s.customer_id, s.credential_id, s.jkt, s.auth_level,
                 _ts(s.created_at), _ts(s.last_seen), s.access_hash, _ts(s.access_expires),
                 s.refresh_hash, _ts(s.revoked_at)))
            self._db.execute("INSERT INTO refresh_tokens (refresh_hash, session_id) VALUES (?, ?)",
                             (s.refresh_hash, s.session_id))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    async def session_by_access(self, access_hash: str) -> SessionRecord | None:
        row = self._one(f"SELECT {_SESSION_COLS} FROM sessions WHERE access_hash = ?",
                        (access_hash,))
        return _session(row) if row else None

    async def session_by_refresh(self, refresh_hash: str) -> tuple[SessionRecord, bool] | None:
        row = self._one("SELECT session_id, used FROM refresh_tokens WHERE refresh_hash = ?",
                        (refresh_hash,))
        if row is None:
            return None
        srow = self._one(f"SELECT {_SESSION_COLS} FROM sessions WHERE session_id = ?", (row[0],))
        assert srow is not None, "a refresh token always has its session"
        return _session(srow), bool(row[1])

    async def rotate(self, session_id: str, used_refresh: str, access_hash: str,
                     access_expires: datetime, refresh_hash: str) -> bool:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            cur = db.execute(
                "UPDATE refresh_tokens SET used = 1 WHERE refresh_hash = ? AND used = 0"
                " AND session_id = ?", (used_refresh, session_id))
            if cur.rowcount != 1:
                db.execute("ROLLBACK")
                return False
            cur = db.execute(
                "UPDATE sessions SET access_hash = ?, access_expires = ?, refresh_hash = ?"
                " WHERE session_id = ? AND refresh_hash = ? AND revoked_at IS NULL",
                (access_hash, _ts(access_expires), refresh_hash, session_id, used_refresh))
            if cur.rowcount != 1:
                db.execute("ROLLBACK")
                return False
            db.execute("INSERT INTO refresh_tokens (refresh_hash, session_id) VALUES (?, ?)",
                       (refresh_hash, session_id))
            db.execute("COMMIT")
            return True
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def touch_session(self, session_id: str, at: datetime) -> None:
        self._db.execute(
            "UPDATE sessions SET last_seen = ? WHERE session_id = ? AND revoked_at IS NULL",
            (_ts(at), session_id))

    async def revoke_session(self, session_id: str, at: datetime) -> None:
        self._db.execute(
            "UPDATE sessions SET revoked_at = ? WHERE session_id = ? AND revoked_at IS NULL",
            (_ts(at), session_id))

    async def revoke_sessions_of(self, customer_id: str, at: datetime,
                                 credential_id: str | None = None) -> int:
        cur = self._db.execute(
            "UPDATE sessions SET revoked_at = ? WHERE customer_id = ? AND revoked_at IS NULL"
            " AND (? IS NULL OR credential_id = ?)",
            (_ts(at), customer_id, credential_id, credential_id))
        return cur.rowcount

    # -- payees ----------------------------------------------------------------------------

    async def is_known_payee(self, customer_id: str, payee: str) -> bool:
        return self._one("SELECT 1 FROM payees WHERE customer_id = ? AND payee = ?",
                         (customer_id, payee)) is not None

    async def add_payee(self, customer_id: str, payee: str) -> None:
        self._db.execute("INSERT INTO payees (customer_id, payee) VALUES (?, ?)"
                         " ON CONFLICT DO NOTHING", (customer_id, payee))

    # -- audit trail and alert outbox ------------------------------------------------------

    async def record_event(self, event: SecurityEvent) -> SecurityEvent:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            cur = db.execute(
                "INSERT INTO security_audit (customer_id, kind, at, detail, alert)"
                " VALUES (?, ?, ?, ?, ?)",
                (event.customer_id, event.kind, _ts(event.at),
                 json.dumps(event.detail, sort_keys=True), int(event.alert)))
            seq = cur.lastrowid
            assert seq is not None
            if event.alert:
                db.execute("INSERT INTO security_alert_outbox (seq) VALUES (?)", (seq,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return SecurityEvent(customer_id=event.customer_id, kind=event.kind, at=event.at,
                             detail=event.detail, alert=event.alert, seq=seq)

    async def audit_trail(self, customer_id: str) -> list[SecurityEvent]:
        rows = self._db.execute(
            "SELECT seq, customer_id, kind, at, detail, alert FROM security_audit"
            " WHERE customer_id = ? ORDER BY seq", (customer_id,)).fetchall()
        return [_event(r) for r in rows]

    async def alerts_since(self, seq: int, limit: int) -> list[SecurityEvent]:
        rows = self._db.execute(
            "SELECT a.seq, a.customer_id, a.kind, a.at, a.detail, a.alert"
            " FROM security_alert_outbox o JOIN security_audit a ON a.seq = o.seq"
            " WHERE o.seq > ? ORDER BY o.seq LIMIT ?", (seq, limit)).fetchall()
        return [_event(r) for r in rows]

    async def aclose(self) -> None:
        self._db.close()
