"""Fixtures for the REST front-end tests: a real core_sim and a real adapter on port 0, talked
to over real mutual TLS with httpx.

One core and one adapter serve the whole package (`bank`), so tests assert ledger balance
deltas, not absolute balances, and each uses its own idempotency keys. Tests that change the
core's faults reset them before they return.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from core_sim.faults import FaultSettings
from tests.harness.adapter import RunningAdapter, run_adapter
from tests.harness.clients import https_client
from tests.harness.core import RunningCore, running_core

T = TypeVar("T")

PARTNER_IBAN = "DE89370400440532013000"  # 10000001
PARTNER2_IBAN = "DE02120300000000202051"  # 10000002


@dataclass
class Bank:
    """A running core + adapter pair, and what a test needs to reach them."""

    core: RunningCore
    adapter: RunningAdapter

    @property
    def services(self) -> Any:
        return self.adapter.services

    def client(self, name: str | None = "partner", *, pki_dir: Path | None = None,
               **kwargs: Any) -> httpx.Client:
        """An httpx client presenting `name`'s certificate (None: no certificate)."""
        return https_client(self.adapter, name, pki_dir=pki_dir,
                            base_url=self.adapter.base_url, timeout=15, **kwargs)

    def booked(self, account_id: str) -> int:
        """The ledger's booked balance in minor units, read from the core's database."""
        return self.core.ledger.balance(account_id)[0]

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 15) -> T:
        """Run a coroutine on the adapter's loop (to read its store)."""
        return self.adapter.run(coro, timeout)


@contextlib.contextmanager
def start_bank(tmp: Path, pki_dir: Path, **overrides: Any) -> Iterator[Bank]:
    with running_core(pki_dir, tmp / "core.db") as core, \
            run_adapter(tmp, pki_dir, core_soap_url=core.soap_url, **overrides) as adapter:
        yield Bank(core, adapter)


@pytest.fixture(scope="package")
def bank(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bank]:
    """One core_sim and one adapter for every REST test; a small body limit to test 413."""
    with start_bank(tmp_path_factory.mktemp("rest"), pki_dir, max_body_bytes=8192) as b:
        yield b


@pytest.fixture(scope="package")
def partner(bank: Bank) -> Iterator[httpx.Client]:
    with bank.client("partner") as c:
        yield c


@pytest.fixture(scope="package")
def legacy(bank: Bank) -> Iterator[httpx.Client]:
    with bank.client("legacy") as c:
        yield c


@pytest.fixture(scope="package")
def internal(bank: Bank) -> Iterator[httpx.Client]:
    with bank.client("internal") as c:
        yield c


@pytest.fixture
def faults(bank: Bank) -> Iterator[FaultSettings]:
    """The core's fault switches, reset after the test whatever happens."""
    try:
        yield bank.core.faults
    finally:
        bank.core.faults.reset()


def new_key() -> str:
    return str(uuid.uuid4())


def transfer_body(amount: str = "12.50", *, debtor: str = PARTNER_IBAN,
                  creditor: str = PARTNER2_IBAN, currency: str = "EUR",
                  e2e: str = "INV-2026-0042", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "debtorAccount": {"iban": debtor},
        "creditorAccount": {"iban": creditor},
        "instructedAmount": {"currency": currency, "amount": amount},
        "endToEndIdentification": e2e,
        "remittanceInformationUnstructured": "invoice 42",
    }
    body.update(extra)
    return body
