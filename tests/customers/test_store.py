"""The customer store contract, run against every implementation (in memory, SQLite,
PostgreSQL in a fresh schema), then its one-time rules raced by two stores on one database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
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
from adapter.stores.postgres.customers import PostgresCustomerStore
from tests.contract.conftest import opened
from tests.harness.postgres import fresh_database_url

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


Opener = Callable[[], Any]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the store; every call opens the same data (memory: the same object)."""
    if request.param == "memory":
        memory = MemoryCustomerStore()
        yield lambda: memory
    elif request.param == "sqlite":
        yield lambda: SqliteCustomerStore(tmp_path / "customers.db")
    else:
        with fresh_database_url() as url:
            yield lambda: PostgresCustomerStore.open(url, pool_size=4)


def run_with(opener: Opener, go: Callable[..., Awaitable[None]], stores: int = 1) -> None:
    """`go(store, ...)` with `stores` stores opened on the same data, on a fresh loop."""
    async def main() -> None:
        opened_stores = [await opened(opener) for _ in range(stores)]
        try:
            await go(*opened_stores)
        finally:
            for store in opened_stores:
                await store.aclose()
    asyncio.run(main())


def customer(cid: str = "c1", username: str = "Alice") -> CustomerRecord:
    return CustomerRecord(customer_id=cid, username=username, password_hash="h",
                          totp_sealed="s", accounts=frozenset({"10000001"}), created_at=T0)


def session(sid: str = "s1", access: str = "a1", refresh: str = "r1") -> SessionRecord:
    return SessionRecord(session_id=sid, customer_id="c1", credential_id="cred", jkt="jkt",
                         auth_level="device+password", created_at=T0, last_seen=T0,
                         access_hash=access, access_expires=T0 + timedelta(minutes=5),
                         refresh_hash=refresh)


def test_usernames_are_unique_case_insensitively(open_store: Opener) -> None:
    async def go(store: CustomerStorePort) -> None:
        await store.add_customer(customer())
        with pytest.raises(DuplicateUsername):
            await store.add_customer(customer("c2", "ALICE"))
        found = await store.find_customer("aLiCe")
        assert found is not None and found.customer_id == "c1" and found.username == "alice"
        assert [c.customer_id for c in await store.list_customers()] == ["c1"]
    run_with(open_store, go)


def test_totp_steps_only_move_forward_and_reset_with_a_new_secret(
        open_store: Opener) -> None:
    async def go(store: CustomerStorePort) -> None:
        await store.add_customer(customer())
        assert await store.accept_totp_step("c1", 100)
        assert not await store.accept_totp_step("c1", 100)
        assert not await store.accept_totp_step("c1", 99)
        assert await store.accept_totp_step("c1", 101)
        await store.set_totp("c1", "s2")
        assert await store.accept_totp_step("c1", 5)
    run_with(open_store, go)


def test_lock_state_round_trips_for_any_username(open_store: Opener) -> None:
    async def go(store: CustomerStorePort) -> None:
        assert await store.get_lock("nobody") == LockState()
        state = LockState(failures=0, locked_until=T0, lock_count=2, permanent=False)
        await store.save_lock("Nobody", state)
        assert await store.get_lock("nobody") == state
    run_with(open_store, go)


def test_devices_sign_counts_and_revocation(open_store: Opener) -> None:
    async def go(store: CustomerStorePort) -> None:
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
    run_with(open_store, go)


def test_challenges_and_jtis_are_one_time(open_store: Opener) -> None:
    async def go(store: CustomerStorePort) -> None:
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
    run_with(open_store, go)


def test_refresh_rotation_is_one_time_and_revocation_sticks(open_store: Opener) -> None:
    async def go(store: CustomerStorePort) -> None:
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
    run_with(open_store, go)


def test_events_audit_every_one_and_outbox_the_alerts(open_store: Opener) -> None:
    async def go(store: CustomerStorePort) -> None:
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
    run_with(open_store, go)


def test_two_stores_racing_for_one_time_values_let_one_win(open_store: Opener) -> None:
    """Rule 2 across connections (two processes' stores on one database): each one-time
    value raced by both stores at once, ten rounds, is won by exactly one caller."""
    async def go(a: CustomerStorePort, b: CustomerStorePort) -> None:
        await a.add_customer(customer())
        await a.add_device(DeviceRecord(credential_id="cred", customer_id="c1",
                                        public_key=b"\xa1", jkt="jkt", sign_count=0,
                                        name="phone", created_at=T0))
        for i in range(10):
            both = (a, b, a, b)
            await a.put_challenge(Challenge(challenge_id=f"ch{i}", purpose="sca",
                                            challenge=b"\x01" * 32, expires_at=T0))
            taken = await asyncio.gather(*(s.take_challenge(f"ch{i}") for s in both))
            assert sum(t is not None for t in taken) == 1
            steps = await asyncio.gather(*(s.accept_totp_step("c1", 100 + i) for s in both))
            assert sorted(steps) == [False, False, False, True]
            jtis = await asyncio.gather(*(s.remember_jti("k", f"j{i}", T0, T0 + timedelta(
                minutes=1)) for s in both))
            assert sorted(jtis) == [False, False, False, True]
            counts = await asyncio.gather(*(s.advance_sign_count("cred", i, i + 1)
                                            for s in both))
            assert sorted(counts) == [False, False, False, True]
        await a.add_session(session())
        exp = T0 + timedelta(minutes=10)
        rotated = await asyncio.gather(*(s.rotate("s1", "r1", f"a{n}", exp, f"r{n}")
                                         for n, s in enumerate((a, b, a, b), start=2)))
        assert sorted(rotated) == [False, False, False, True]
        revoked = await asyncio.gather(*(s.revoke_device("cred", T0) for s in (a, b)))
        assert sorted(revoked) == [False, True]
    run_with(open_store, go, stores=2)
