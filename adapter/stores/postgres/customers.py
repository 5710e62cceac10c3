"""The customer store on PostgreSQL (`adapter.ports.customers`): the `customer*` tables of
migration 0003, in the adapter's database.

    store = PostgresCustomerStore(db)                   # over a shared PostgresDatabase
    store = await PostgresCustomerStore.open(url)        # or with a database of its own

How the port's rules hold across connections and processes:
- Rule 1: `username` is UNIQUE and stored lower-cased; a duplicate is DuplicateUsername.
- Rule 2: every one-time rule is one conditional statement whose row count decides:
  `take_challenge` is DELETE ... RETURNING; `accept_totp_step` and `advance_sign_count` are
  UPDATEs conditioned on the value read; `remember_jti` inserts, and on conflict takes over
  only an expired row; `rotate` is one transaction that first moves the session's current
  refresh token (the row lock serialises two rotations: the second re-reads the session,
  finds its token gone, and changes nothing), then marks the used token and adds the new one.
  Of two concurrent callers, the second waits for the first's row lock, re-checks its
  condition on the committed row (READ COMMITTED), and gets False / None.
- Rule 3: `record_event` is one statement: the audit row and, for an alert, its outbox row.
  Seqs are drawn under this schema's audit lock taken SHARED until commit, and
  `alerts_since` takes it EXCLUSIVE before it reads (as the event outbox does, see
  `outbox.py`): a reader that sees seq N has seen every alert below N, none is still to
  come, and writers never wait for each other.
- Rule 4: revocations only set `revoked_at` where it is NULL.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import psycopg

from adapter.ports.customers import (
    Challenge,
    CustomerRecord,
    DeviceRecord,
    DuplicateUsername,
    LockState,
    SecurityEvent,
    SessionRecord,
)
from adapter.stores.postgres.database import PostgresDatabase

_CUSTOMER_COLS = ("customer_id, username, password_hash, totp_sealed, totp_last_step, accounts,"
                  " created_at")
_DEVICE_COLS = ("credential_id, customer_id, public_key, jkt, sign_count, name, created_at,"
                " revoked_at")
_SESSION_COLS = ("session_id, customer_id, credential_id, jkt, auth_level, created_at,"
                 " last_seen, access_hash, access_expires, refresh_hash, revoked_at")
_EVENT_COLS = "a.seq, a.customer_id, a.kind, a.at, a.detail, a.alert"
# ('cust', this schema): apart from the outbox's key and the migrations' bigint key.
_AUDIT_KEY = "1668641652, hashtext(current_schema())"
_AUDIT_LOCK = f"pg_advisory_xact_lock_shared({_AUDIT_KEY})"
_AUDIT_READ_LOCK = f"SELECT pg_advisory_xact_lock({_AUDIT_KEY})"
_RECORD_EVENT = f"""
WITH appending AS (SELECT {_AUDIT_LOCK}),
a AS (
    INSERT INTO customer_security_audit (customer_id, kind, at, detail, alert)
    SELECT %(customer)s, %(kind)s, %(at)s, %(detail)s::jsonb, %(alert)s FROM appending
    RETURNING seq, alert
), o AS (
    INSERT INTO customer_alert_outbox (seq) SELECT seq FROM a WHERE alert
)
SELECT seq FROM a
"""
_JTI_PRUNE_EVERY = 10.0  # seconds of the caller's clock between deletes of expired jtis


def _customer(row: tuple[Any, ...]) -> CustomerRecord:
    return CustomerRecord(customer_id=row[0], username=row[1], password_hash=row[2],
                          totp_sealed=row[3], totp_last_step=row[4],
                          accounts=frozenset(row[5]), created_at=row[6])


def _device(row: tuple[Any, ...]) -> DeviceRecord:
    return DeviceRecord(credential_id=row[0], customer_id=row[1], public_key=bytes(row[2]),
                        jkt=row[3], sign_count=row[4], name=row[5], created_at=row[6],
                        revoked_at=row[7])


def _session(row: tuple[Any, ...]) -> SessionRecord:
    return SessionRecord(session_id=row[0], customer_id=row[1], credential_id=row[2],
                         jkt=row[3], auth_level=row[4], created_at=row[5], last_seen=row[6],
                         access_hash=row[7], access_expires=row[8], refresh_hash=row[9],
                         revoked_at=row[10])


def _event(row: tuple[Any, ...]) -> SecurityEvent:
    return SecurityEvent(seq=row[0], customer_id=row[1], kind=row[2], at=row[3],
                         detail=row[4], alert=bool(row[5]))


class PostgresCustomerStore:
    def __init__(self, database: PostgresDatabase, *, owns_database: bool = False) -> None:
        self.database = database
        self._owns = owns_database
        self._jti_pruned_at: datetime | None = None

    @classmethod
    async def open(cls, url: str, **options: Any) -> PostgresCustomerStore:
        return cls(await PostgresDatabase.open(url, **options), owns_database=True)

    async def aclose(self) -> None:
        if self._owns:
            await self.database.aclose()

    async def _one(self, sql: str, args: Any) -> tuple[Any, ...] | None:
        async with self.database.pool.connection() as conn:
            cur = await conn.execute(sql, args)
            return await cur.fetchone()

    async def _all(self, sql: str, args: Any) -> list[tuple[Any, ...]]:
        async with self.database.pool.connection() as conn:
            cur = await conn.execute(sql, args)
            return await cur.fetchall()

    async def _count(self, sql: str, args: Any) -> int:
        async with self.database.pool.connection() as conn:
            cur = await conn.execute(sql, args)
            return cur.rowcount

    # -- customers -------------------------------------------------------------------------

    async def add_customer(self, customer: CustomerRecord) -> None:
        try:
            await self._count(
                f"INSERT INTO customers ({_CUSTOMER_COLS})"
                " VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s)",
                (customer.customer_id, customer.username.lower(), customer.password_hash,
                 customer.totp_sealed, customer.totp_last_step,
                 json.dumps(sorted(customer.accounts)), customer.created_at))
        except psycopg.errors.UniqueViolation as exc:
            raise DuplicateUsername(customer.username.lower()) from exc

    async def get_customer(self, customer_id: str) -> CustomerRecord | None:
        row = await self._one(f"SELECT {_CUSTOMER_COLS} FROM customers WHERE customer_id = %s",
                              (customer_id,))
        return _customer(row) if row else None

    async def find_customer(self, username: str) -> CustomerRecord | None:
        row = await self._one(f"SELECT {_CUSTOMER_COLS} FROM customers WHERE username = %s",
                              (username.lower(),))
        return _customer(row) if row else None

    async def list_customers(self) -> list[CustomerRecord]:
        rows = await self._all(f"SELECT {_CUSTOMER_COLS} FROM customers ORDER BY username", ())
        return [_customer(r) for r in rows]

    async def set_password_hash(self, customer_id: str, password_hash: str) -> None:
        await self._count("UPDATE customers SET password_hash = %s WHERE customer_id = %s",
                          (password_hash, customer_id))

    async def set_totp(self, customer_id: str, totp_sealed: str) -> None:
        await self._count(
            "UPDATE customers SET totp_sealed = %s, totp_last_step = 0 WHERE customer_id = %s",
            (totp_sealed, customer_id))

    async def accept_totp_step(self, customer_id: str, step: int) -> bool:
        return await self._count(
            "UPDATE customers SET totp_last_step = %s WHERE customer_id = %s"
            " AND totp_last_step < %s", (step, customer_id, step)) == 1

    # -- lockout ---------------------------------------------------------------------------

    async def get_lock(self, username: str) -> LockState:
        row = await self._one(
            "SELECT failures, locked_until, lock_count, permanent FROM customer_locks"
            " WHERE username = %s", (username.lower(),))
        if row is None:
            return LockState()
        return LockState(failures=row[0], locked_until=row[1], lock_count=row[2],
                         permanent=bool(row[3]))

    async def save_lock(self, username: str, state: LockState) -> None:
        await self._count(
            "INSERT INTO customer_locks (username, failures, locked_until, lock_count,"
            " permanent) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (username) DO UPDATE SET"
            " failures = excluded.failures, locked_until = excluded.locked_until,"
            " lock_count = excluded.lock_count, permanent = excluded.permanent",
            (username.lower(), state.failures, state.locked_until, state.lock_count,
             state.permanent))

    # -- devices ---------------------------------------------------------------------------

    async def add_device(self, device: DeviceRecord) -> None:
        try:
            await self._count(
                f"INSERT INTO customer_devices ({_DEVICE_COLS})"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (device.credential_id, device.customer_id, device.public_key, device.jkt,
                 device.sign_count, device.name, device.created_at, device.revoked_at))
        except psycopg.errors.UniqueViolation as exc:
            raise ValueError("this credential is registered already") from exc

    async def get_device(self, credential_id: str) -> DeviceRecord | None:
        row = await self._one(
            f"SELECT {_DEVICE_COLS} FROM customer_devices WHERE credential_id = %s",
            (credential_id,))
        return _device(row) if row else None

    async def list_devices(self, customer_id: str) -> list[DeviceRecord]:
        rows = await self._all(
            f"SELECT {_DEVICE_COLS} FROM customer_devices WHERE customer_id = %s"
            " ORDER BY created_at, credential_id", (customer_id,))
        return [_device(r) for r in rows]

    async def advance_sign_count(self, credential_id: str, seen: int, new: int) -> bool:
        # W3C WebAuthn Level 2, section 7.2 step 21: the stored count only grows; 0 and 0
        # means the authenticator keeps no counter.
        if not (new > seen or new == seen == 0):
            return False
        return await self._count(
            "UPDATE customer_devices SET sign_count = %s WHERE credential_id = %s"
            " AND sign_count = %s", (new, credential_id, seen)) == 1

    async def revoke_device(self, credential_id: str, at: datetime) -> bool:
        return await self._count(
            "UPDATE customer_devices SET revoked_at = %s WHERE credential_id = %s"
            " AND revoked_at IS NULL", (at, credential_id)) == 1

    # -- one-time values -------------------------------------------------------------------

    async def put_challenge(self, challenge: Challenge) -> None:
        await self._count(
            "INSERT INTO customer_challenges (challenge_id, purpose, challenge, expires_at,"
            " customer_id, binding) VALUES (%s, %s, %s, %s, %s, %s)",
            (challenge.challenge_id, challenge.purpose, challenge.challenge,
             challenge.expires_at, challenge.customer_id, challenge.binding))

    async def take_challenge(self, challenge_id: str) -> Challenge | None:
        row = await self._one(
            "DELETE FROM customer_challenges WHERE challenge_id = %s RETURNING challenge_id,"
            " purpose, challenge, expires_at, customer_id, binding", (challenge_id,))
        if row is None:
            return None
        return Challenge(challenge_id=row[0], purpose=row[1], challenge=bytes(row[2]),
                         expires_at=row[3], customer_id=row[4], binding=row[5])

    async def remember_jti(self, jkt: str, jti: str, now: datetime,
                           expires_at: datetime) -> bool:
        async with self.database.pool.connection() as conn:
            if self._jti_pruned_at is None \
                    or (now - self._jti_pruned_at).total_seconds() >= _JTI_PRUNE_EVERY:
                self._jti_pruned_at = now
                await conn.execute("DELETE FROM customer_dpop_jti WHERE expires_at < %s",
                                   (now,))
            # A row still present but expired is taken over (forgotten, as on SQLite).
            cur = await conn.execute(
                "INSERT INTO customer_dpop_jti (jkt, jti, expires_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (jkt, jti) DO UPDATE SET expires_at = excluded.expires_at"
                " WHERE customer_dpop_jti.expires_at < %s", (jkt, jti, expires_at, now))
            return cur.rowcount == 1

    # -- sessions --------------------------------------------------------------------------

    async def add_session(self, session: SessionRecord) -> None:
        s = session
        await self._count(
            f"WITH s AS (INSERT INTO customer_sessions ({_SESSION_COLS})"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING session_id)"
            " INSERT INTO customer_refresh_tokens (refresh_hash, session_id)"
            " SELECT %s, session_id FROM s",
            (s.session_id, s.customer_id, s.credential_id, s.jkt, s.auth_level, s.created_at,
             s.last_seen, s.access_hash, s.access_expires, s.refresh_hash, s.revoked_at,
             s.refresh_hash))

    async def session_by_access(self, access_hash: str) -> SessionRecord | None:
        row = await self._one(
            f"SELECT {_SESSION_COLS} FROM customer_sessions WHERE access_hash = %s",
            (access_hash,))
        return _session(row) if row else None

    async def session_by_refresh(self, refresh_hash: str) -> tuple[SessionRecord, bool] | None:
        cols = ", ".join(f"s.{c.strip()}" for c in _SESSION_COLS.split(","))
        row = await self._one(
            f"SELECT {cols}, t.used FROM customer_refresh_tokens t"
            " JOIN customer_sessions s ON s.session_id = t.session_id"
            " WHERE t.refresh_hash = %s", (refresh_hash,))
        if row is None:
            return None
        return _session(row[:11]), bool(row[11])

    async def rotate(self, session_id: str, used_refresh: str, access_hash: str,
                     access_expires: datetime, refresh_hash: str) -> bool:
        async with self.database.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "UPDATE customer_sessions SET access_hash = %s, access_expires = %s,"
                " refresh_hash = %s WHERE session_id = %s AND refresh_hash = %s"
                " AND revoked_at IS NULL",
                (access_hash, access_expires, refresh_hash, session_id, used_refresh))
            if cur.rowcount != 1:
                raise psycopg.Rollback()
            cur = await conn.execute(
                "UPDATE customer_refresh_tokens SET used = true WHERE refresh_hash = %s"
                " AND NOT used AND session_id = %s", (used_refresh, session_id))
            if cur.rowcount != 1:
                raise psycopg.Rollback()
            await conn.execute(
                "INSERT INTO customer_refresh_tokens (refresh_hash, session_id)"
                " VALUES (%s, %s)", (refresh_hash, session_id))
            return True
        return False  # rolled back

    async def touch_session(self, session_id: str, at: datetime) -> None:
        await self._count(
            "UPDATE customer_sessions SET last_seen = %s WHERE session_id = %s"
            " AND revoked_at IS NULL", (at, session_id))

    async def revoke_session(self, session_id: str, at: datetime) -> None:
        await self._count(
            "UPDATE customer_sessions SET revoked_at = %s WHERE session_id = %s"
            " AND revoked_at IS NULL", (at, session_id))

    async def revoke_sessions_of(self, customer_id: str, at: datetime,
                                 credential_id: str | None = None) -> int:
        if credential_id is None:
            return await self._count(
                "UPDATE customer_sessions SET revoked_at = %s WHERE customer_id = %s"
                " AND revoked_at IS NULL", (at, customer_id))
        return await self._count(
            "UPDATE customer_sessions SET revoked_at = %s WHERE customer_id = %s"
            " AND revoked_at IS NULL AND credential_id = %s", (at, customer_id, credential_id))

    # -- payees ----------------------------------------------------------------------------

    async def is_known_payee(self, customer_id: str, payee: str) -> bool:
        return await self._one("SELECT 1 FROM customer_payees WHERE customer_id = %s"
                               " AND payee = %s", (customer_id, payee)) is not None

    async def add_payee(self, customer_id: str, payee: str) -> None:
        await self._count("INSERT INTO customer_payees (customer_id, payee) VALUES (%s, %s)"
                          " ON CONFLICT DO NOTHING", (customer_id, payee))

    # -- audit trail and alert outbox ------------------------------------------------------

    async def record_event(self, event: SecurityEvent) -> SecurityEvent:
        row = await self._one(_RECORD_EVENT, {
            "customer": event.customer_id, "kind": event.kind, "at": event.at,
            "detail": json.dumps(event.detail, sort_keys=True), "alert": event.alert})
        assert row is not None
        return SecurityEvent(customer_id=event.customer_id, kind=event.kind, at=event.at,
                             detail=event.detail, alert=event.alert, seq=int(row[0]))

    async def audit_trail(self, customer_id: str) -> list[SecurityEvent]:
        rows = await self._all(
            f"SELECT {_EVENT_COLS} FROM customer_security_audit a WHERE a.customer_id = %s"
            " ORDER BY a.seq", (customer_id,))
        return [_event(r) for r in rows]

    async def alerts_since(self, seq: int, limit: int) -> list[SecurityEvent]:
        if limit <= 0:
            return []
        async with self.database.pool.connection() as conn, conn.transaction():
            await conn.execute(_AUDIT_READ_LOCK)
            cur = await conn.execute(
                f"SELECT {_EVENT_COLS} FROM customer_alert_outbox o"
                " JOIN customer_security_audit a ON a.seq = o.seq"
                " WHERE o.seq > %s ORDER BY o.seq LIMIT %s", (seq, limit))
            rows = await cur.fetchall()
        return [_event(r) for r in rows]
