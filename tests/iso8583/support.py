"""A real ISO 8583 host on a real ledger and a real connector, over mutual TLS on port 0."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from adapter.connectors.iso8583 import IsoCoreConnector, IsoOptions
from adapter.infra.tls import TlsFiles, server_context
from adapter.model import Money
from adapter.ports.core import CorePosting
from adapter.stores.sqlite.reversals import SqliteReversalStore
from core_sim.faults import FaultSettings
from core_sim.iso_host import IsoHost
from core_sim.ledger import Ledger

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def host_context(pki_dir: Path):  # type: ignore[no-untyped-def]
    return server_context(TlsFiles.from_dir(pki_dir, "core"))


@dataclass
class Env:
    pki_dir: Path
    state_dir: Path
    ledger: Ledger
    faults: FaultSettings
    host: IsoHost
    connectors: list[IsoCoreConnector] = field(default_factory=list)

    async def connector(self, *, ready: bool = True, on_reversed: Any = None,
                        **options: Any) -> IsoCoreConnector:
        """`options` are `IsoOptions` fields; fast reconnects and reversal retries, and no
        idle echoes (tests that count messages on the wire must not see an extra 0800 on a
        slow machine; the liveness tests ask for them)."""
        options.setdefault("backoff_initial", 0.01)
        options.setdefault("backoff_max", 0.05)
        options.setdefault("reversal_retry", 0.05)
        options.setdefault("echo_interval", 3600.0)
        conn = IsoCoreConnector.create(
            IsoOptions("127.0.0.1", self.host.port, server_hostname="localhost", **options),
            self.pki_dir, SqliteReversalStore.in_dir(self.state_dir), on_reversed=on_reversed)
        self.connectors.append(conn)
        if ready:
            assert await conn.wait_ready(5.0), "the connector did not sign on"
        return conn

    def balance(self, account_id: str) -> tuple[int, int, str]:
        return self.ledger.balance(account_id)


@asynccontextmanager
async def iso_env(pki_dir: Path, tmp_path: Path) -> AsyncIterator[Env]:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.seed_demo()
    faults = FaultSettings()
    host = IsoHost(ledger, faults, host_context(pki_dir), "127.0.0.1", 0)
    await host.start()
    env = Env(pki_dir, tmp_path / "state", ledger, faults, host)
    try:
        yield env
    finally:
        for conn in env.connectors:
            await conn.aclose()
        await host.stop()
        ledger.close()


def transfer(reference: str, amount: str = "10.00", *, debtor: str = "10000001",
             creditor: str = "10000002", currency: str = "EUR") -> CorePosting:
    return CorePosting(reference=reference, debtor_account_id=debtor,
                       creditor_account_id=creditor,
                       amount=Money(amount=Decimal(amount), currency=currency),
                       end_to_end_id=f"E2E-{reference}", remittance="invoice 42")


def bill(reference: str, amount: str = "25.00", biller: str = "ELEC01") -> CorePosting:
    return CorePosting(reference=reference, debtor_account_id="10000001", biller_id=biller,
                       customer_reference="CUST-77", amount=Money(amount=Decimal(amount),
                                                                  currency="EUR"),
                       end_to_end_id=f"E2E-{reference}")
