"""The payment journal is the write-ahead log of the ISO 8583 path (the connector is built
with `write_ahead=False`): a process killed after its 0200 left, with nothing about it in the
reversal store, still has its payment reversed after a restart, and the ledger ends where it
started.

The first life runs in a child process that is SIGKILLed once the core has booked the
posting (the core runs in this process; the booking itself signals the test, so there is no
timing guess). The second life is this process: it builds the connector as `up` does. Both
lives run on SQLite, then on PostgreSQL (`database_url`: the journal and the reversal store
in a fresh schema).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from adapter.app import reversal_stores
from adapter.config import ConnectorKind, Settings
from adapter.connectors.factory import build_core
from adapter.connectors.iso8583 import IsoCoreConnector
from adapter.model import PaymentStatus
from adapter.ports.reversals import ReversalState
from adapter.ports.storage import PaymentStorage
from adapter.services.banking import BankingServices
from adapter.services.clients import Caller, ClientRegistry, Operation
from adapter.services.resolver import Resolver
from adapter.stores.postgres import PostgresStore
from adapter.stores.postgres.configured import open_database
from adapter.stores.sqlite import SqliteStore
from tests.harness.core import RunningCore
from tests.harness.postgres import fresh_database_url

PARTNER = Caller(id="partner", accounts=frozenset({"10000001", "10000002"}),
                 operations=frozenset({Operation.READ, Operation.TRANSFER}))
KEY = "crash-key-1"

FIRST_LIFE = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from adapter.config import ConnectorKind, Settings
    from adapter.app import reversal_stores
    from adapter.connectors.factory import build_core
    from adapter.model import TransferRequest
    from adapter.model.commands import TransferCommand
    from adapter.services.banking import BankingServices
    from adapter.services.clients import ClientRegistry
    from adapter.services.context import RequestContext
    from adapter.stores.postgres import PostgresStore
    from adapter.stores.postgres.configured import open_database
    from adapter.stores.sqlite import SqliteStore
    from tests.e2e.test_journal_write_ahead import KEY, PARTNER

    async def main():
        settings = Settings(state_dir=Path(sys.argv[1]), core_connector=ConnectorKind.ISO8583,
                            core_soap_port=int(sys.argv[2]), core_iso_port=int(sys.argv[3]),
                            database_url=sys.argv[4] or None)
        db = await open_database(settings)
        core = await build_core(settings, reversal_stores=reversal_stores(settings, db))
        store = SqliteStore(settings.adapter_db) if db is None else PostgresStore(db)
        services = BankingServices.build(core, store, ClientRegistry([PARTNER]),
                                         core_timeout=60)
        request = TransferRequest.model_validate({
            "debtor": {"id": "10000001"}, "creditor": {"id": "10000002"},
            "amount": {"amount": "25.00", "currency": "EUR"}, "end_to_end_id": "CRASH-1"})
        ctx = RequestContext(caller=PARTNER, correlation_id="crash", deadline=None)
        # The core never answers.
        await services.payments.transfer(ctx, TransferCommand(key=KEY, request=request))

    asyncio.run(main())
""")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    with ExitStack() as stack:
        yield stack.enter_context(fresh_database_url()) if request.param == "postgres" \
            else None


def test_a_posting_sent_before_a_crash_is_reversed_from_the_journal(
        core_sim: RunningCore, pki_dir: Path, tmp_path: Path, database_url: str | None) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "pki").symlink_to(pki_dir)
    settings = Settings(state_dir=state, core_connector=ConnectorKind.ISO8583,
                        core_soap_port=core_sim.soap_port, core_iso_port=core_sim.iso_port,
                        database_url=database_url)
    ledger = core_sim.ledger
    before = (ledger.balance("10000001"), ledger.balance("10000002"), ledger.totals())

    booked = threading.Event()
    post_transfer = ledger.post_transfer

    def post_and_signal(*args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return post_transfer(*args, **kwargs)
        finally:
            booked.set()

    ledger.post_transfer = post_and_signal  # type: ignore[method-assign]
    core_sim.faults.update(drop_next=1, drop_mode="hang")  # booked, never answered
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", FIRST_LIFE, str(state), str(core_sim.soap_port),
         str(core_sim.iso_port), database_url or ""],
        cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    try:
        assert booked.wait(30), "the first life never reached the core"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    assert ledger.balance("10000001") != before[0]  # the money moved: the crash hurts

    async def second_life() -> tuple[PaymentStatus, list[object]]:
        db = await open_database(settings)
        core = await build_core(settings, reversal_stores=reversal_stores(settings, db))
        assert isinstance(core, IsoCoreConnector) and core.options.write_ahead is False
        left_in_store = list(await core.store.outstanding())  # nothing: no write-ahead row
        store: PaymentStorage = SqliteStore(settings.adapter_db) if db is None \
            else PostgresStore(db, owns_database=True)
        services = BankingServices.build(core, store, ClientRegistry([PARTNER]))
        try:
            record = await store.keys.get("partner", KEY)
            assert record is not None
            journalled = await store.journal.get(record.payment_id)
            assert journalled is not None and journalled.status is PaymentStatus.ACCEPTED
            assert await Resolver(services.payments, store.journal, store.keys).run_once(
                include_recent=True) == 1
            settled = await store.journal.get(record.payment_id)
            assert settled is not None
            owed = await core.store.get(settled.core_reference)  # kept, final (Rule 2)
            assert owed is not None and owed.state is ReversalState.REVERSED
            return settled.status, left_in_store
        finally:
            await core.aclose()
            await store.aclose()

    status, left_in_store = asyncio.run(second_life())
    assert left_in_store == []
    assert status is PaymentStatus.REVERSED
    assert (ledger.balance("10000001"), ledger.balance("10000002"), ledger.totals()) == before
