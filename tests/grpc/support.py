"""Support for the gRPC front-end tests: one real core_sim and one whole adapter per test
module, real sockets, real mutual TLS, port 0, and a grpc.aio client per test.

Tests are synchronous and drive their aio client with `run(...)`: each test gets a fresh
event loop, so no channel outlives its loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2_grpc as pb_grpc
from adapter.infra.tls import TlsFiles, grpc_channel_credentials
from tests.harness.adapter import RunningAdapter, run_adapter
from tests.harness.core import RunningCore, running_core

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Drive one test's client coroutine on a fresh event loop."""
    return asyncio.run(coro)


@dataclass
class Env:
    core: RunningCore
    adapter: RunningAdapter

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


@contextmanager
def grpc_env(tmp: Path, pki_dir: Path) -> Iterator[Env]:
    """A core_sim with the demo ledger and the whole adapter in front of it."""
    with running_core(pki_dir, tmp / "core.db") as core, \
            run_adapter(tmp, pki_dir, core_soap_url=core.soap_url) as adapter:
        yield Env(core, adapter)


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
