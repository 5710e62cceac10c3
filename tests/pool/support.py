"""A pool over real core_sim node processes, and the ledger checks every pool test makes."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from adapter.app import reversal_stores
from adapter.config import ConnectorKind, Settings
from adapter.connectors.pool.build import build_pool
from adapter.connectors.pool.pool import CorePool
from adapter.model import Money, Payment, PaymentStatus
from adapter.ports.core import CorePosting
from core_sim.ledger import Ledger
from tests.harness.nodes import CoreNodes

T = TypeVar("T")
EUR_ACCOUNTS = ("10000001", "10000002", "10000003")


def run(coro: Coroutine[Any, Any, T], timeout: float = 180.0) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def pool_settings(tmp_path: Path, pki_dir: Path, nodes: CoreNodes, connector: str,
                  *, balance: str = "round-robin", weights: list[int] | None = None,
                  **extra: Any) -> Settings:
    state = tmp_path / "adapter-state"
    state.mkdir(exist_ok=True)
    if not (state / "pki").exists():
        (state / "pki").symlink_to(pki_dir)
    addresses = [n.address + (f":{weights[i]}" if weights else "")
                 for i, n in enumerate(nodes.nodes)]
    values: dict[str, Any] = {
        "state_dir": state, "core_nodes": tuple(addresses),
        "core_connector": ConnectorKind(connector), "core_balance": balance,
        "core_health_interval": 0.25, "core_health_timeout": 1.0, "core_eject_after": 5,
        "core_eject_seconds": 1.0, "core_eject_max_seconds": 5.0,
        "sqlite_linger_ms": 0.0, **extra}
    return Settings(**values)


async def ready_pool(settings: Settings, **iso_options: Any) -> CorePool:
    pool = await build_pool(settings, reversal_stores=reversal_stores(settings), **iso_options)
    every = await pool.wait_until(lambda: all(n.usable() for n in pool.nodes), 30)
    assert every, f"not every node came up: {pool.snapshot()}"
    return pool


def posting(reference: str, amount: str = "0.01", debtor: str = "10000001",
            creditor: str = "10000002") -> CorePosting:
    return CorePosting(reference=reference, debtor_account_id=debtor,
                       creditor_account_id=creditor,
                       amount=Money(amount=Decimal(amount), currency="EUR"),
                       end_to_end_id=f"E2E-{reference}")


def balances(ledger: Ledger) -> dict[str, int]:
    return {a: ledger.balance(a)[0] for a in EUR_ACCOUNTS}


def journal(adapter_db: Path) -> list[Payment]:
    """Every payment in the adapter's journal, read straight from its SQLite file."""
    db = sqlite3.connect(adapter_db)
    try:
        rows = db.execute("SELECT body FROM payments").fetchall()
    finally:
        db.close()
    return [Payment.model_validate_json(body) for (body,) in rows]


def check_ledger_against_journal(ledger: Ledger, payments: list[Payment],
                                 before: dict[str, int]) -> Counter[str]:
    """Every payment final, each BOOKED one booked exactly once at the core, every other one
    with no net effect, and the balances moved by exactly the booked payments."""
    expected = dict(before)
    outcomes: Counter[str] = Counter()
    for p in payments:
        assert p.status.is_final, f"payment {p.payment_id} is still {p.status.value}"
        outcomes[p.status.value] += 1
        core = ledger.transfer_status(p.core_reference)
        entries = ledger.entry_count(p.core_reference)
        if p.status is PaymentStatus.BOOKED:
            assert core is not None and core.state == "booked", p
            assert entries == 2, (p.core_reference, entries)  # booked once, two entries
            minor = int(p.amount.amount * 100)
            expected[p.debtor_account_id] -= minor
            assert p.creditor_account_id is not None
            expected[p.creditor_account_id] += minor
        else:
            # Never booked (no posting, or fenced), or booked and reversed: no net effect.
            assert core is None or core.state in ("cancelled", "reversed"), (p, core)
            assert entries in (0, 4), (p.core_reference, entries)
    assert balances(ledger) == expected
    return outcomes
