"""Support for the gRPC front-end tests: one real core_sim and one adapter per test module,
real sockets, real mutual TLS, port 0, and a grpc.aio client per test.

The whole adapter (`run_adapter`: HTTPS + gRPC) is used when the REST and SOAP front-ends are
importable; until then the gRPC server is served alone on the same services (`serve_grpc`).
Tests are synchronous and drive their aio client with `run(...)`: each test gets a fresh
event loop, so no channel outlives its loop.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from adapter.config import Settings
from adapter.connectors.factory import build_core
from adapter.frontends.grpc import GrpcServer, start_grpc_server
from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2_grpc as pb_grpc
from adapter.provision import provision
from adapter.security.tls import TlsFiles, grpc_channel_credentials
from adapter.services.banking import BankingServices
from adapter.services.clients import ClientRegistry
from adapter.stores.sqlite import SqliteStore
from core_sim.faults import FaultSettings
from core_sim.server import CoreSimConfig
from tests.harness.core import RunningCore, _CoreThread

T = TypeVar("T")



def _http_frontends() -> bool:
    """True once the REST and SOAP front-ends import (they are written alongside this one)."""
    try:
        from adapter.frontends.rest import build_rest_app  # noqa: F401
        from adapter.frontends.soap import build_soap_app  # noqa: F401
    except Exception:
        return False
    return True


HTTP_FRONTENDS = _http_frontends()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Drive one test's client coroutine on a fresh event loop."""
    return asyncio.run(coro)


@contextmanager
def running_core(pki_dir: Path, db: Path) -> Iterator[tuple[RunningCore, _CoreThread]]:
    config = CoreSimConfig(db_path=db, pki_dir=pki_dir, soap_port=0, iso_port=0,
                           faults=FaultSettings())
    thread = _CoreThread(config)
    thread.start()
    sim, loop = thread.started_core.result(timeout=15)
    try:
        yield RunningCore(sim=sim, loop=loop, pki_dir=pki_dir), thread
    finally:
        if thread.is_alive():  # a test may have stopped it already
            thread.stop(loop)


@dataclass
class GrpcOnly:
    """The gRPC server and the services it serves, on a loop in a background thread."""

    server: GrpcServer
    services: BankingServices
    loop: asyncio.AbstractEventLoop
    pki_dir: Path
    legacy_password: str
    base_url: str | None = None

    @property
    def grpc_target(self) -> str:
        return f"localhost:{self.server.port}"

    @property
    def ca(self) -> Path:
        return self.pki_dir / "ca.crt"

    def client(self, name: str) -> TlsFiles:
        return TlsFiles.from_dir(self.pki_dir, name)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


@contextmanager
def serve_grpc(tmp: Path, pki_dir: Path, core_soap_url: str, **overrides: Any) -> Iterator[Any]:
    """The gRPC front-end alone, wired like AdapterApp.start wires it."""
    state_dir = tmp / "adapter-state"
    shutil.copytree(pki_dir, state_dir / "pki", dirs_exist_ok=True)
    provisioned = provision(state_dir)
    host_port = core_soap_url.split("//", 1)[1].split("/", 1)[0]
    core_host, core_port = host_port.rsplit(":", 1)
    settings = Settings(state_dir=state_dir, http_port=0, grpc_port=0, core_host=core_host,
                        core_soap_port=int(core_port), **overrides)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="grpc-adapter", daemon=True)
    thread.start()

    async def start() -> tuple[GrpcServer, BankingServices]:
        core = await build_core(settings)
        services = BankingServices.build(core, SqliteStore(settings.adapter_db),
                                         ClientRegistry.load(settings.clients_file),
                                         core_timeout=settings.core_timeout,
                                         resolve_timeout=settings.resolve_timeout)
        return await start_grpc_server(services, settings), services

    async def stop(server: GrpcServer, services: BankingServices) -> None:
        await server.stop()
        await services.core.aclose()
        await services.store.aclose()

    server, services = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    try:
        yield GrpcOnly(server, services, loop, state_dir / "pki", provisioned.legacy_password)
    finally:
        asyncio.run_coroutine_threadsafe(stop(server, services), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


@contextmanager
def adapter_for(tmp: Path, pki_dir: Path, core: RunningCore, **overrides: Any) -> Iterator[Any]:
    if HTTP_FRONTENDS:
        from tests.harness.adapter import run_adapter

        with run_adapter(tmp, pki_dir, core_soap_url=core.soap_url, **overrides) as running:
            yield running
    else:
        with serve_grpc(tmp, pki_dir, core.soap_url, **overrides) as running:
            yield running


def grpc_server(adapter: Any) -> GrpcServer:
    """The GrpcServer inside either harness."""
    server: GrpcServer = adapter.server if isinstance(adapter, GrpcOnly) else adapter.app.grpc
    return server


@dataclass
class Env:
    core: RunningCore
    adapter: Any

    def channel(self, name: str | None = "internal", *, pki: Path | None = None,
                ) -> grpc.aio.Channel:
        files = None if name is None else TlsFiles.from_dir(pki or self.adapter.pki_dir, name)
        creds = grpc_channel_credentials(files, self.adapter.ca)
        return grpc.aio.secure_channel(self.adapter.grpc_target, creds)

    def stub(self, channel: grpc.aio.Channel) -> pb_grpc.BankingServiceStub:
        return pb_grpc.BankingServiceStub(channel)

    def booked(self, account_id: str) -> int:
        """The ledger's booked balance in minor units, read from core_sim directly."""
        return self.core.ledger.balance(account_id)[0]


# -- assertions on rich errors -----------------------------------------------------------------


@dataclass
class RichError:
    code: grpc.StatusCode
    message: str
    info: error_details_pb2.ErrorInfo
    violations: list[tuple[str, str]]


def rich_error(err: grpc.aio.AioRpcError) -> RichError:
    """The google.rpc.Status details of a failed call: its ErrorInfo and field violations."""
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None, f"no rich status on {err.code()}: {err.details()}"
    assert isinstance(status, status_pb2.Status)
    info = error_details_pb2.ErrorInfo()
    violations: list[tuple[str, str]] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = [(v.field, v.description) for v in bad.field_violations]
    return RichError(err.code(), status.message, info, violations)


async def call_error(call: Any) -> RichError:
    """Await a call that must fail and return its rich error."""
    try:
        await call
    except grpc.aio.AioRpcError as err:
        return rich_error(err)
    raise AssertionError("the call succeeded")


def money(amount: str, currency: str = "EUR") -> pb.Money:
    return pb.Money(amount=amount, currency=currency)


def ref(account_id: str) -> pb.AccountRef:
    return pb.AccountRef(id=account_id)
