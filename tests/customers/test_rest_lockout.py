"""Lockout over the REST API (PSD2 RTS art. 4(3)(b)): the attempts left and the warning before
a permanent lock are in the answer the app shows; a permanent lock holds until an internal
caller unlocks it over gRPC; an unknown username gets the same answers, and the same Argon2
work, as a known one (no enumeration)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from argon2 import PasswordHasher

from adapter.frontends.grpc.gen.bank.adapter.v1 import customer_admin_pb2 as pb
from adapter.frontends.grpc.gen.bank.adapter.v1 import customer_admin_pb2_grpc as pb_grpc
from adapter.ports.customers import LockState
from adapter.services.customers.errors import InvalidCredentials
from adapter.services.customers.passwords import PasswordVerifier
from adapter.stores.customers_memory import MemoryCustomerStore
from examples.device import SoftwareDevice
from tests.customers.conftest import CustomerBank
from tests.customers.support import ORIGIN, PASSWORD, RP_ID, Clock, enrol, login, make_service

A1 = "10000001"
WARNING = "; the next lock will be permanent until the bank unlocks it"


def _unlock(cbank: CustomerBank, username: str) -> bool:
    async def go(stub: pb_grpc.CustomerAdminServiceStub) -> bool:
        answer = await stub.UnlockCustomer(pb.UnlockCustomerRequest(username=username),
                                           timeout=10)
        return bool(answer.was_locked)

    return cbank.admin(go)


def test_the_app_is_warned_before_the_permanent_lock(cbank: CustomerBank) -> None:
    """After two locks (expired), every failure says how many attempts are left and that the
    next lock is permanent; the fifth locks for good (the right password no longer helps)
    until the bank unlocks it."""
    app = cbank.enrolled(cbank.add("lock-frank", {A1}), login=False)
    expired = cbank.customers.now() - timedelta(seconds=1)
    cbank.store(cbank.customers.store.save_lock(
        "lock-frank", LockState(locked_until=expired, lock_count=2)))
    details = []
    for _ in range(5):
        r = app.login("lock-frank", "wrong password!!")
        details.append((r.status_code, r.json()["code"], r.json()["detail"]))
    wrong = "the username, password, code or device signature is wrong"
    assert details[:4] == [
        (401, "INVALID_CREDENTIALS", f"{wrong}; {n} attempt{'s' if n > 1 else ''} left before "
         f"login is locked{WARNING}") for n in (4, 3, 2, 1)]
    assert details[4] == (403, "CUSTOMER_LOCKED", "login is locked after repeated failures: "
                          "contact the bank to unlock it")
    right = app.login("lock-frank", PASSWORD)
    assert (right.status_code, right.json()["code"]) == (403, "CUSTOMER_LOCKED")
    alerts = [a for a in cbank.store(cbank.customers.store.alerts_since(0, 10_000))
              if a.kind == "customer_locked" and a.detail.get("permanent")]
    assert len(alerts) == 1

    assert _unlock(cbank, "lock-frank") is True
    assert app.login("lock-frank", PASSWORD).status_code == 200


def test_an_unknown_username_gets_the_same_answers(cbank: CustomerBank) -> None:
    """Six wrong logins for a customer and for a username nobody has: the same statuses,
    codes and details, the lock included."""
    app = cbank.enrolled(cbank.add("lock-gina", {A1}), login=False)
    answers: dict[str, list[tuple[int, str, str]]] = {}
    for username in ("lock-gina", "lock-nobody"):
        answers[username] = []
        for _ in range(6):
            r = app.login(username, "wrong password!!")
            body = r.json()
            # The lock's remaining seconds may differ by the second the two runs straddle.
            answers[username].append((r.status_code, body["code"],
                                      body["detail"].split(" for ")[0]))
    assert answers["lock-gina"] == answers["lock-nobody"]
    assert answers["lock-gina"][-1][:2] == (403, "CUSTOMER_LOCKED")


class CountingHasher(PasswordHasher):
    """Records the parameters of every hash it verifies against."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        text = hash.decode() if isinstance(hash, bytes) else hash
        self.verified.append(text.rsplit("$", 2)[0])  # $argon2id$v=19$m=...,t=...,p=...
        return super().verify(hash, password)


def test_an_unknown_username_costs_the_same_argon2_work() -> None:
    """Passwords Rule 3, the time side of enumeration: a wrong password for a customer and
    any password for an unknown username each cost exactly one Argon2id verification with
    the same parameters (the decoy hash), and nothing else is hashed. (Wall-clock figures:
    `python -m bench.login_enumeration`.)"""
    async def go() -> None:
        clock = Clock()
        hasher = CountingHasher()
        service = make_service(MemoryCustomerStore(), clock)
        service.passwords = PasswordVerifier(hasher)
        who = await enrol(service, clock)
        ghost = type(who)("nobody", "-", who.secret, SoftwareDevice(ORIGIN, RP_ID))
        costs = {}
        for person, password in ((who, "wrong password!"), (ghost, "wrong password!"),
                                 (ghost, PASSWORD)):
            hasher.verified.clear()
            with pytest.raises(InvalidCredentials):
                await login(service, clock, person, password=password)
            costs[(person.username, password)] = list(hasher.verified)
        assert list(costs.values()) == [["$argon2id$v=19$m=1024,t=1,p=1"]] * 3
    asyncio.run(go())
