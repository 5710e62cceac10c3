"""Fixtures for the rate-limit, intrusion-signal and metrics tests: a real core_sim and a
real adapter on port 0 with small limits and thresholds, reached over real mutual TLS on
every protocol; the adapter's wall clock is a value the tests move (no sleeps)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness.adapter import RunningAdapter, run_adapter
from tests.harness.core import RunningCore, running_core

T0 = 1_764_000_000.0  # a whole minute: the start of an intrusion window

# Small enough to reach in a test, and per protocol a caller of its own so tests do not
# spend each other's budgets: partner (REST), legacy (SOAP), internal (gRPC).
LIMITS: dict[str, Any] = {
    "rate_limit_default": "1000/second",
    "rate_limit_operations": ("transfer=2/minute", "bill_payment=none"),
    "intrusion_window": 60.0,
    "intrusion_thresholds": ("tls_handshake_failed=2", "certificate_refused=2",
                             "authentication_failed=3", "rate_limited=2", "lockout=1"),
}


class WallClock:
    """What the adapter's rate limits and intrusion windows read; moved by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Bank:
    core: RunningCore
    adapter: RunningAdapter
    clock: WallClock

    def booked(self, account_id: str) -> int:
        return self.core.ledger.balance(account_id)[0]

    def journal_rows(self) -> tuple[int, int]:
        """(payments, idempotency keys) in the adapter's database, read from the file."""
        with sqlite3.connect(f"file:{self.adapter.app.settings.adapter_db}?mode=ro",
                             uri=True) as db:
            payments = db.execute("SELECT COUNT(*) FROM payments").fetchone()[0]
            keys = db.execute("SELECT COUNT(*) FROM idempotency_keys").fetchone()[0]
        return int(payments), int(keys)

    def security_events(self) -> list[tuple[str, str, str, int]]:
        """(signal, subject kind, subject, count) of every security event appended so far."""
        app = self.adapter.app

        async def read() -> list[Any]:
            await app.intrusion.flush()
            return await app.security_events.since(0, 1000)

        return [(e.signal.value, e.subject_kind, e.subject, e.count)
                for e in self.adapter.run(read())]


@pytest.fixture(scope="module")
def bank(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bank]:
    tmp = tmp_path_factory.mktemp("limits")
    clock = WallClock()
    with running_core(pki_dir, tmp / "core.db") as core, \
            run_adapter(tmp, pki_dir, core_soap_url=core.soap_url, wall_clock=clock,
                        **LIMITS) as adapter:
        yield Bank(core, adapter, clock)
