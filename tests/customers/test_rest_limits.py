"""The pipeline's later steps reach the customer routes: a customer's payments spend the
customer's own rate-limit budget (not the relay's, nor another customer's), refused with 429
and Retry-After before any money moves; a customer's lock is an intrusion signal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.mobile_device import transfer_body
from tests.customers.conftest import CHEAP_ARGON2, CustomerBank
from tests.rest.conftest import Bank
from tests.security.conftest import LIMITS, WallClock

A1, A2, A3 = "10000001", "10000002", "10000003"


@pytest.fixture(scope="module")
def limited(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory,
            ) -> Iterator[tuple[CustomerBank, WallClock]]:
    from tests.harness.adapter import run_adapter
    from tests.harness.core import running_core

    tmp = tmp_path_factory.mktemp("customer-limits")
    clock = WallClock()
    with running_core(pki_dir, tmp / "core.db") as core, \
            run_adapter(tmp, pki_dir, core_soap_url=core.soap_url, wall_clock=clock,
                        **LIMITS, **CHEAP_ARGON2) as adapter:
        yield CustomerBank(Bank(core, adapter)), clock


def test_each_customer_has_a_budget_of_its_own(limited: tuple[CustomerBank, WallClock],
                                               ) -> None:
    """transfer=2/minute: Jo's third transfer in the minute is 429 RATE_LIMITED with
    Retry-After and books nothing; Kim, behind the same relay, still pays; a minute later Jo
    pays again."""
    cbank, clock = limited
    jo = cbank.enrolled(cbank.add("limit-jo", {A1}))
    kim = cbank.enrolled(cbank.add("limit-kim", {A2}))
    for name in ("limit-jo", "limit-kim"):
        cid = cbank.store(cbank.customers.store.find_customer(name)).customer_id
        cbank.store(cbank.customers.store.add_payee(cid, f"id:{A3}"))
    for _ in range(2):
        ok = jo.transfer(transfer_body("1.00", {"id": A3}, {"id": A1}), sca=False)
        assert ok.status_code == 201, ok.text
    ledger = (cbank.booked(A1), cbank.booked(A3))
    refused = jo.transfer(transfer_body("1.00", {"id": A3}, {"id": A1}), sca=False)
    assert refused.status_code == 429, refused.text
    assert refused.json()["code"] == "RATE_LIMITED"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["cache-control"] == "no-store"
    assert (cbank.booked(A1), cbank.booked(A3)) == ledger
    other = kim.transfer(transfer_body("1.00", {"id": A3}, {"id": A2}), sca=False)
    assert other.status_code == 201, other.text
    clock.now += 60
    again = jo.transfer(transfer_body("1.00", {"id": A3}, {"id": A1}), sca=False)
    assert again.status_code == 201, again.text
    assert cbank.booked(A1) == ledger[0] - 100


def test_a_customer_lock_is_an_intrusion_signal(limited: tuple[CustomerBank, WallClock],
                                                ) -> None:
    """lockout=1: the CUSTOMER_LOCKED answer appends a security event for its source
    address and one for its identity, which on the open login route is the relay."""
    cbank, _ = limited
    app = cbank.enrolled(cbank.add("limit-lee", {A1}), login=False)
    app_events = cbank.bank.adapter.app

    async def events() -> list[tuple[str, str, str]]:
        await app_events.intrusion.flush()
        return [(e.signal.value, e.subject_kind, e.subject)
                for e in await app_events.security_events.since(0, 1000)
                if e.signal.value == "lockout"]

    assert cbank.bank.run(events()) == []
    for _ in range(5):
        r = app.login("limit-lee", "wrong password!!")
    assert r.json()["code"] == "CUSTOMER_LOCKED"
    assert sorted(cbank.bank.run(events())) == [("lockout", "identity", "mobile"),
                                                ("lockout", "source", "127.0.0.1")]
