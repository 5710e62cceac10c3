"""The customer store contract, run against every implementation (in memory, SQLite)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapter.ports.customers import (
    Challenge,
    CustomerRecord,
    CustomerStorePort,
    DeviceRecord,
    DuplicateUsername,
    LockState,
    SecurityEvent,
    SessionRecord,
)
from adapter.stores.customers_memory import MemoryCustomerStore
from adapter.stores.customers_sqlite import SqliteCustomerStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CustomerStorePort]:
    s: Any = MemoryCustomerStore() if request.param == "memory" else SqliteCustomerStore(
        tmp_path / "customers.db")
    yield s
    asyncio.run(s.aclose())


def customer(cid: str = "c1", username: str = "Alice") -> CustomerRecord:
    return CustomerRecord(customer_id=cid, username=username, password_hash="h",
                          totp_sealed="s", accounts=frozenset({"10000001"}), created_at=T0)


def session(sid: str = "s1", access: str = "a1", refresh: str = "r1") -> SessionRecord:
    return SessionRecord(session_id=sid, customer_id="c1", credential_id="cred", jkt="jkt",
                         auth_level="device+password", created_at=T0, last_seen=T0,
                         access_hash=access, access_expires=T0 + timedelta(minutes=5),
                         refresh_hash=refresh)


def test_usernames_are_unique_case_insensitively(store: CustomerStorePort) -> None:
    async def go() -> None:
        await store.add_customer(customer())
        with pytest.raises(DuplicateUsername):
            await store.add_customer(customer("c2", "ALICE"))
        found = await store.find_customer("aLiCe")
        assert found is not None and found.customer_id == "c1" and found.username == "alice"
        assert [c.customer_id for c in await store.list_customers()] == ["c1"]
    asyncio.run(go())


def test_totp_steps_only_move_forward_and_reset_with_a_new_secret(
        store: CustomerStorePort) -> None:
    async def go() -> None:
        await store.add_customer(customer())
        assert await store.accept_totp_step("c1", 100)
        assert not await store.accept_totp_step("c1", 100)
        assert not await store.accept_totp_step("c1", 99)
        assert await store.accept_totp_step("c1", 101)
        await store.set_totp("c1", "s2")
        assert await store.accept_totp_step("c1", 5)
    asyncio.run(go())


def test_lock_state_round_trips_for_any_username(store: CustomerStorePort) -> None:
    async def go() -> None:
        assert await store.get_lock("nobody") == LockState()
        state = LockState(failures=0, locked_until=T0, lock_count=2, permanent=False)
        await store.save_lock("Nobody", state)
        assert await store.get_lock("nobody") == state
    asyncio.run(go())


def test_devices_sign_counts_and_revocation(store: CustomerStorePort) -> None:
    async def go() -> None:
        await store.add_customer(customer())
        device = DeviceRecord(credential_id="cred", customer_id="c1", public_key=b"\xa1",
                              jkt="jkt", sign_count=0, name="phone", created_at=T0)
        await store.add_device(device)
        with pytest.raises(ValueError):
            await store.add_device(device)
        assert await store.advance_sign_count("cred", 0, 0)  # no counter: 0 and 0
        assert await store.advance_sign_count("cred", 0, 3)
        assert not await store.advance_sign_count("cred", 0, 4)  # read a stale count
        assert not await store.advance_sign_count("cred", 3, 3)
        assert not await store.advance_sign_count("cred", 3, 0)
        assert await store.revoke_device("cred", T0)
        assert not await store.revoke_device("cred", T0)
        (stored,) = await store.list_devices("c1")
        assert (stored.sign_count, stored.revoked_at, stored.public_key) == (3, T0, b"\xa1")
    asyncio.run(go())


def test_challenges_and_jtis_are_one_time(store: CustomerStorePort) -> None:
    async def go() -> None:
        ch = Challenge(challenge_id="x" * 32, purpose="sca", challenge=b"\x00" * 48,
                       expires_at=T0, customer_id="c1", binding="s1")
        await store.put_challenge(ch)
        assert await store.take_challenge("x" * 32) == ch
        assert await store.take_challenge("x" * 32) is None
        later = T0 + timedelta(minutes=2)
        assert await store.remember_jti("k", "j1", T0, later)
        assert not await store.remember_jti("k", "j1", T0, later)
        assert await store.remember_jti("k2", "j1", T0, later)
        # Once past its expiry the id is forgotten (its proof's iat is refused anyway).
        assert await store.remember_jti("k", "j1", later + timedelta(seconds=1),
                                        later + timedelta(minutes=2))
    asyncio.run(go())


def test_refresh_rotation_is_one_time_and_revocation_sticks(store: CustomerStorePort) -> None:
    async def go() -> None:
        await store.add_customer(customer())
        await store.add_session(session())
        assert (await store.session_by_access("a1")).session_id == "s1"  # type: ignore[union-attr]
        exp = T0 + timedelta(minutes=10)
        assert await store.rotate("s1", "r1", "a2", exp, "r2")
        assert not await store.rotate("s1", "r1", "a3", exp, "r3")
        assert await store.session_by_access("a1") is None
        found = await store.session_by_refresh("r1")
        assert found is not None and found[1] is True
        found = await store.session_by_refresh("r2")
        assert found is not None and found[1] is False and found[0].access_hash == "a2"
        await store.touch_session("s1", exp)
        await store.revoke_session("s1", exp)
        assert not await store.rotate("s1", "r2", "a4", exp, "r4")
        await store.touch_session("s1", exp + timedelta(minutes=1))
        s = await store.session_by_access("a2")
        assert s is not None and s.revoked_at == exp and s.last_seen == exp
        await store.add_session(session("s5", "a5", "r5"))
        assert await store.revoke_sessions_of("c1", exp, "other") == 0
        assert await store.revoke_sessions_of("c1", exp) == 1
    asyncio.run(go())


def test_events_audit_every_one_and_outbox_the_alerts(store: CustomerStorePort) -> None:
    async def go() -> None:
        await store.add_payee("c1", "iban:X")
        assert await store.is_known_payee("c1", "iban:X")
        assert not await store.is_known_payee("c2", "iban:X")
        a = await store.record_event(SecurityEvent("c1", "login", T0, {"device": "p"}))
        b = await store.record_event(SecurityEvent("c1", "new_device", T0, {}, alert=True))
        c = await store.record_event(SecurityEvent("c2", "customer_locked", T0, {}, alert=True))
        assert a.seq < b.seq < c.seq
        assert [e.kind for e in await store.audit_trail("c1")] == ["login", "new_device"]
        assert [e.seq for e in await store.alerts_since(0, 10)] == [b.seq, c.seq]
        assert [e.kind for e in await store.alerts_since(b.seq, 10)] == ["customer_locked"]
    asyncio.run(go())
