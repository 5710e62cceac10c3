"""Link health against a real core: a stopped core (SIGSTOP on a core_sim process) or a dead
one (its ISO host gone) is reported unhealthy within the liveness bound, and postings are then
refused at once with CoreUnavailable, nothing sent or booked; once the core is back, a
posting books exactly once."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from adapter.connectors.iso8583 import IsoCoreConnector, IsoOptions
from adapter.connectors.iso8583.session import LinkState
from adapter.model.errors import CoreUnavailable
from adapter.ports.core import CoreBookingState
from adapter.stores.sqlite.reversals import SqliteReversalStore
from core_sim.iso_host import IsoHost
from tests.harness.adapter import RunningAdapter, run_adapter
from tests.harness.clients import https_client
from tests.iso8583.core_process import CoreProcess, core_process
from tests.iso8583.support import host_context, iso_env, run, transfer

DEBTOR, CREDITOR = "10000001", "10000002"
# The product defaults: echo after 1 s idle, unhealthy after 2 s owed and silent. The bound
# (IsoOptions, Rule 3) plus slack for a loaded two-core machine.
DEFAULTS = IsoOptions("127.0.0.1", 0)
BOUND = DEFAULTS.echo_interval + DEFAULTS.liveness_timeout
SLACK = 2.0
FAST = 0.5  # a refusal at the gate takes no network round trip at all


async def health_is(conn: IsoCoreConnector, healthy: bool, deadline_s: float,
                    what: str) -> float:
    """Wait for the connector's health to be `healthy`, woken by the link's own changes
    (session Rule 6); the seconds it took."""
    start = time.monotonic()
    assert await conn.wait_health(healthy, deadline_s), f"{what}: not within {deadline_s} s"
    return time.monotonic() - start


def adapter_health_is(adapter: RunningAdapter, healthy: bool, deadline_s: float,
                      what: str) -> float:
    """`health_is` for the connector inside a running adapter, on the adapter's loop."""
    core = adapter.services.core
    assert isinstance(core, IsoCoreConnector)
    return adapter.run(health_is(core, healthy, deadline_s, what), deadline_s + 10)


@pytest.fixture
def core(pki_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    with core_process(pki_dir, tmp_path / "core.db") as running:
        yield running


def test_stopped_core_is_unhealthy_within_the_bound_and_postings_are_refused_at_once(
    core: CoreProcess, pki_dir: Path, tmp_path: Path
) -> None:
    """SIGSTOP: healthy() False within echo interval + liveness timeout; a posting is then
    CoreUnavailable in well under a round trip, writes no reversal row, books nothing;
    SIGCONT: healthy again, and the same posting books exactly once."""

    async def scenario() -> None:
        conn = IsoCoreConnector.create(
            IsoOptions("127.0.0.1", core.iso_port, server_hostname="localhost"),
            pki_dir, SqliteReversalStore.in_dir(tmp_path / "state"))
        try:
            assert await conn.wait_ready(10)
            await conn.post(transfer("REFSTP000001", "1.00"), timeout=5)
            before = core.balances(DEBTOR, CREDITOR)
            postings = core.postings()
            assert await conn.healthy()

            core.stop()
            took = await health_is(conn, False, BOUND + SLACK, "unhealthy after SIGSTOP")
            assert took <= BOUND + SLACK
            assert conn.session.state is LinkState.UP  # connected, but not answering

            posting = transfer("REFSTP000002", "7.00")
            start = time.monotonic()
            with pytest.raises(CoreUnavailable) as info:
                await conn.post(posting, timeout=5)
            assert time.monotonic() - start < FAST
            assert info.value.code == "CORE_UNAVAILABLE"
            assert await conn.store.get("REFSTP000002") is None
            assert await conn.store.outstanding() == []
            assert core.balances(DEBTOR, CREDITOR) == before and core.postings() == postings

            core.resume()
            await health_is(conn, True, 30, "healthy after SIGCONT")
            booking = await conn.post(posting, timeout=5)
            assert booking.state is CoreBookingState.BOOKED
            assert core.balances(DEBTOR, CREDITOR) == {DEBTOR: before[DEBTOR] - 700,
                                                       CREDITOR: before[CREDITOR] + 700}
            assert core.postings() == postings + 1
        finally:
            await conn.aclose()

    run(scenario(), timeout=90)


def test_readyz_and_a_transfer_while_the_core_is_stopped(
    core: CoreProcess, pki_dir: Path, tmp_path: Path
) -> None:
    """The whole adapter over REST: /readyz turns 503 within the bound; a transfer answers
    503 CORE_UNAVAILABLE at once, its payment REJECTED and its key released, the ledger
    untouched; after SIGCONT /readyz is 200 and the same key books the transfer once."""
    with run_adapter(tmp_path, pki_dir, core_soap_url=core.soap_url, core_connector="iso8583",
                     core_iso_port=core.iso_port) as adapter, \
            https_client(adapter, "partner", base_url=adapter.base_url) as http:

        def ready() -> int:
            return http.get("/readyz").status_code

        adapter_health_is(adapter, True, 30, "ready before the test")
        assert ready() == 200
        key = str(uuid.uuid4())
        body = {"debtorAccount": {"id": DEBTOR}, "creditorAccount": {"id": CREDITOR},
                "instructedAmount": {"currency": "EUR", "amount": "4.25"},
                "endToEndIdentification": "STOPPED-CORE-1"}
        # One transfer first: the account lookups of a transfer go to the SOAP read
        # connector, not over ISO 8583; the adapter's directory then holds both accounts.
        first = http.post("/v1/transfers", json=body,
                          headers={"Idempotency-Key": str(uuid.uuid4())})
        assert first.status_code == 201, first.text
        before = core.balances(DEBTOR, CREDITOR)

        core.stop()
        took = adapter_health_is(adapter, False, BOUND + SLACK, "unhealthy after SIGSTOP")
        assert took <= BOUND + SLACK
        answer = http.get("/readyz")
        assert (answer.status_code, answer.json()["code"]) == (503, "CORE_UNAVAILABLE")

        start = time.monotonic()
        refused = http.post("/v1/transfers", json=body, headers={"Idempotency-Key": key})
        assert time.monotonic() - start < 1.0
        assert refused.status_code == 503
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "CORE_UNAVAILABLE"
        payment = http.get(f"/v1/payments/{refused.json()['paymentId']}").json()
        assert payment["transactionStatus"] == "RJCT"
        assert core.balances(DEBTOR, CREDITOR) == before

        core.resume()
        adapter_health_is(adapter, True, 30, "healthy after SIGCONT")
        assert ready() == 200
        booked = http.post("/v1/transfers", json=body, headers={"Idempotency-Key": key})
        assert booked.status_code == 201, booked.text
        assert booked.json()["transactionStatus"] == "ACSC"
        assert booked.json()["paymentId"] != refused.json()["paymentId"]
        again = http.post("/v1/transfers", json=body, headers={"Idempotency-Key": key})
        assert again.json()["paymentId"] == booked.json()["paymentId"]  # a replay, no booking
        assert core.balances(DEBTOR, CREDITOR) == {DEBTOR: before[DEBTOR] - 425,
                                                   CREDITOR: before[CREDITOR] + 425}


def test_dead_core_refuses_postings_at_once_and_a_restarted_one_books_once(
    pki_dir: Path, tmp_path: Path
) -> None:
    """The ISO host goes away: after the one reconnect attempt fails the link is DOWN and a
    posting is CoreUnavailable at once (no 5 s wait), nothing written; a host back on the
    same port is signed on again and the posting books once."""

    async def scenario() -> None:
        async with iso_env(pki_dir, tmp_path) as env:
            conn = await env.connector(connect_timeout=5.0)
            port = env.host.port
            before = (env.balance(DEBTOR), env.balance(CREDITOR))
            await env.host.stop()
            assert await conn.session.wait_until(lambda: conn.session.state is LinkState.DOWN,
                                                 10), "DOWN after the host stopped"
            assert not await conn.healthy()

            posting = transfer("REFDED000001", "3.00")
            start = time.monotonic()
            with pytest.raises(CoreUnavailable):
                await conn.post(posting, timeout=5)
            with pytest.raises(CoreUnavailable):
                await conn.get_balance(DEBTOR, timeout=5)
            assert time.monotonic() - start < FAST
            assert await conn.store.get("REFDED000001") is None
            assert (env.balance(DEBTOR), env.balance(CREDITOR)) == before

            env.host = IsoHost(env.ledger, env.faults, host_context(pki_dir), "127.0.0.1", port)
            await env.host.start()
            assert await conn.wait_ready(10)
            assert (await conn.post(posting, timeout=5)).state is CoreBookingState.BOOKED
            assert env.balance(DEBTOR)[0] == before[0][0] - 300
            assert env.balance(CREDITOR)[0] == before[1][0] + 300
            assert [m["37"] for m in env.host.received if m["t"] == "0200"] == ["REFDED000001"]

    run(scenario(), timeout=60)
