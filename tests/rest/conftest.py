"""Fixtures for the REST front-end tests: a real core_sim and a real adapter on port 0, talked
to over real mutual TLS with httpx.

One core and one adapter serve the whole package (`bank`), so tests assert ledger balance
deltas, not absolute balances, and each uses its own idempotency keys. Tests that change the
core's faults reset them before they return.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from adapter.config import Settings
from adapter.security import tls
from adapter.security.tls import TlsFiles
from core_sim.faults import FaultSettings
from core_sim.server import CoreSimConfig
from tests.harness.core import RunningCore, _CoreThread

T = TypeVar("T")

PARTNER_IBAN = "DE89370400440532013000"  # 10000001
PARTNER2_IBAN = "DE02120300000000202051"  # 10000002


@dataclass
class Bank:
    """A running core + adapter pair, and what a test needs to reach them."""

    base_url: str
    pki_dir: Path
    core: RunningCore
    services: Any
    loop: asyncio.AbstractEventLoop

    def client(self, name: str | None = "partner", *, pki_dir: Path | None = None,
               **kwargs: Any) -> httpx.Client:
        """An httpx client presenting `name`'s certificate (None: no certificate)."""
        pki = pki_dir or self.pki_dir
        files = None if name is None else TlsFiles.from_dir(pki, name)
        ctx = tls.client_context(files, self.pki_dir / "ca.crt")
        return httpx.Client(base_url=self.base_url, verify=ctx, timeout=15, **kwargs)

    def booked(self, account_id: str) -> int:
        """The ledger's booked balance in minor units, read from the core's database."""
        return self.core.ledger.balance(account_id)[0]

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 15) -> T:
        """Run a coroutine on the adapter's loop (to read its store)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@contextlib.contextmanager
def running_core(pki_dir: Path, db: Path) -> Iterator[RunningCore]:
    """core_sim on its own loop and thread (the harness's, at a wider scope than its fixture)."""
    thread = _CoreThread(CoreSimConfig(db_path=db, pki_dir=pki_dir, soap_port=0, iso_port=0,
                                       faults=FaultSettings()))
    thread.start()
    sim, loop = thread.started_core.result(timeout=15)
    try:
        yield RunningCore(sim=sim, loop=loop, pki_dir=pki_dir)
    finally:
        thread.stop(loop)


def _whole_adapter_available() -> bool:
    try:
        from adapter.frontends.grpc import start_grpc_server  # noqa: F401
        from adapter.frontends.soap import build_soap_app  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def _rest_only(tmp: Path, pki_dir: Path, core: RunningCore,
               **overrides: Any) -> Iterator[tuple[str, Any, asyncio.AbstractEventLoop]]:
    """The REST app alone on HttpsServer, wired as AdapterApp wires it (used while the SOAP
    and gRPC front-ends are not importable)."""
    import uvloop

    from adapter.connectors.factory import build_core
    from adapter.frontends.https import HttpsServer
    from adapter.frontends.rest import build_rest_app
    from adapter.provision import provision
    from adapter.services.banking import BankingServices
    from adapter.services.clients import ClientRegistry
    from adapter.services.resolver import Resolver
    from adapter.stores.sqlite import SqliteStore

    state_dir = tmp / "adapter-state"
    shutil.copytree(pki_dir, state_dir / "pki", dirs_exist_ok=True)
    provision(state_dir)
    settings = Settings(state_dir=state_dir, http_port=0, grpc_port=0, core_host=core.host,
                        core_soap_port=core.soap_port, **overrides)
    loop = uvloop.new_event_loop()
    started: Future[tuple[BankingServices, HttpsServer, Resolver]] = Future()

    async def boot() -> None:
        store = SqliteStore(settings.adapter_db)
        services = BankingServices.build(
            await build_core(settings), store, ClientRegistry.load(settings.clients_file),
            core_timeout=settings.core_timeout, resolve_timeout=settings.resolve_timeout)
        resolver = Resolver(services.payments, store)
        resolver.start()
        server = HttpsServer(build_rest_app(services, settings),
                             tls.server_context(TlsFiles.from_dir(settings.pki_dir, "server")),
                             settings.host, 0)
        await server.start()
        started.set_result((services, server, resolver))

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(boot())
        except BaseException as exc:
            started.set_exception(exc)
            return
        loop.run_forever()

    thread = threading.Thread(target=serve, name="rest-adapter", daemon=True)
    thread.start()
    services, server, resolver = started.result(30)

    async def stop() -> None:
        await server.stop()
        await resolver.stop()
        await services.core.aclose()
        await services.store.aclose()

    try:
        yield f"https://localhost:{server.port}", services, loop
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


@contextlib.contextmanager
def start_bank(tmp: Path, pki_dir: Path, **overrides: Any) -> Iterator[Bank]:
    with running_core(pki_dir, tmp / "core.db") as core:
        if _whole_adapter_available():
            from tests.harness.adapter import run_adapter

            with run_adapter(tmp, pki_dir, core_soap_url=core.soap_url, **overrides) as running:
                yield Bank(running.base_url, running.pki_dir, core, running.services,
                           running.loop)
        else:
            with _rest_only(tmp, pki_dir, core, **overrides) as (url, services, loop):
                yield Bank(url, tmp / "adapter-state" / "pki", core, services, loop)


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


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    """Wait for an observable condition (not a fixed sleep): poll it until true or time out."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)
