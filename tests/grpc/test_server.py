"""The gRPC listener itself: mutual TLS refusals, health (following the core), reflection."""

from __future__ import annotations

import asyncio
from contextlib import ExitStack
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from adapter.frontends.grpc.servicer import STREAM_CURSOR
from tests.grpc.support import Env, call_error, grpc_env, ref, run
from tests.harness.adapter import run_adapter
from tests.harness.core import running_core

SERVICE = "bank.adapter.v1.BankingService"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def test_client_without_certificate_is_refused(env: Env) -> None:
    """A TLS client that presents no certificate never gets an RPC through: UNAVAILABLE."""
    async def go():  # type: ignore[no-untyped-def]
        async with env.channel(None) as ch:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await env.stub(ch).ListAccounts(pb.ListAccountsRequest(), timeout=5)
            return info.value.code()

    assert run(go()) is grpc.StatusCode.UNAVAILABLE


def test_certificate_from_a_foreign_ca_is_refused(env: Env, foreign_pki_dir: Path) -> None:
    """A client certificate signed by another CA fails the handshake: UNAVAILABLE."""
    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("internal", pki=foreign_pki_dir) as ch:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await env.stub(ch).ListAccounts(pb.ListAccountsRequest(), timeout=5)
            return info.value.code()

    assert run(go()) is grpc.StatusCode.UNAVAILABLE


def test_unregistered_certificate_is_permission_denied(env: Env) -> None:
    """A certificate from our CA whose CN is not in the clients file is PERMISSION_DENIED."""
    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("stranger") as ch:
            return await call_error(env.stub(ch).GetAccount(
                pb.GetAccountRequest(account=ref("10000001"))))

    err = run(go())
    assert (err.code, err.info.reason) == (grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN")
    assert err.message == "this client certificate is not registered with the adapter"


def test_health_is_serving_with_the_core_up(env: Env) -> None:
    """grpc.health.v1 Check reports SERVING for the server and for BankingService."""
    async def go() -> list[int]:
        async with env.channel("internal") as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            return [(await stub.Check(health_pb2.HealthCheckRequest(service=name))).status
                    for name in ("", SERVICE)]

    assert run(go()) == [SERVING, SERVING]


def test_reflection_lists_the_services(env: Env) -> None:
    """Server reflection lists BankingService and serves the file that defines it."""
    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("internal") as ch:
            stub = reflection_pb2_grpc.ServerReflectionStub(ch)
            requests = [reflection_pb2.ServerReflectionRequest(list_services=""),
                        reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE)]
            return [r async for r in stub.ServerReflectionInfo(iter(requests))]

    listing, files = run(go())
    names = {s.name for s in listing.list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health"} <= names
    from google.protobuf import descriptor_pb2
    proto = descriptor_pb2.FileDescriptorProto.FromString(
        files.file_descriptor_response.file_descriptor_proto[0])
    assert proto.package == "bank.adapter.v1"
    assert [s.name for s in proto.service] == ["BankingService"]


def test_an_unknown_method_is_unimplemented(env: Env) -> None:
    """Every service is served through generic handlers (wire.GenericOnly): a method no
    service has, even one of a served service's name, is UNIMPLEMENTED, and the listener
    still answers the next call."""
    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("internal") as ch:
            codes = []
            for method in (f"/{SERVICE}/NoSuchMethod", "/bank.adapter.v1.NoSuchService/Get"):
                call = ch.unary_unary(method, request_serializer=bytes,
                                      response_deserializer=bytes)
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await call(b"", timeout=5)
                codes.append(info.value.code())
            health = await health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(service=SERVICE), timeout=5)
            return codes, health.status

    assert run(go()) == ([grpc.StatusCode.UNIMPLEMENTED] * 2, SERVING)


def test_health_goes_not_serving_when_the_core_stops(pki_dir: Path, tmp_path: Path) -> None:
    """Health Watch reports SERVING, then NOT_SERVING once the core is stopped."""
    with ExitStack() as stop_core:  # closing it leaves running_core: the core stops
        core = stop_core.enter_context(running_core(pki_dir, tmp_path / "core.db"))
        with run_adapter(tmp_path, pki_dir, core_soap_url=core.soap_url) as adapter:
            env = Env(core, adapter)

            async def go() -> list[int]:
                async with env.channel("internal") as ch:
                    watch = health_pb2_grpc.HealthStub(ch).Watch(
                        health_pb2.HealthCheckRequest(service=SERVICE))
                    seen = [(await asyncio.wait_for(watch.read(), 10)).status]
                    await asyncio.to_thread(stop_core.close)  # the adapter stays up
                    # The health task polls the core every second; allow a few polls.
                    seen.append((await asyncio.wait_for(watch.read(), 15)).status)
                    check = await health_pb2_grpc.HealthStub(ch).Check(
                        health_pb2.HealthCheckRequest(service=""))
                    seen.append(check.status)
                    watch.cancel()
                    return seen

            assert run(go()) == [SERVING, NOT_SERVING, NOT_SERVING]


def test_stop_ends_event_streams_with_a_resume_cursor(pki_dir: Path, tmp_path: Path) -> None:
    """Stopping the server ends an open event stream with UNAVAILABLE / SHUTTING_DOWN and the
    cursor to resume from, instead of leaving it to the grace period."""
    with grpc_env(tmp_path, pki_dir) as env:
        server = env.adapter.app.grpc

        async def go():  # type: ignore[no-untyped-def]
            async with env.channel("internal") as ch:
                call = env.stub(ch).WatchTransactions(pb.WatchTransactionsRequest())
                start = dict(await asyncio.wait_for(call.initial_metadata(), 10))
                await asyncio.to_thread(env.adapter.run, server.stop())
                return start[STREAM_CURSOR], await call_error(call.read())

        start, err = run(go())
        assert (err.code, err.info.reason) == (grpc.StatusCode.UNAVAILABLE, "SHUTTING_DOWN")
        assert err.info.metadata["resume_cursor"] == start


def test_oversized_metadata_is_refused(env: Env) -> None:
    """A header list past 16 KiB (grpc.max_metadata_size) never reaches the servicer."""
    async def go():  # type: ignore[no-untyped-def]
        async with env.channel("internal") as ch:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await env.stub(ch).ListAccounts(pb.ListAccountsRequest(), timeout=5,
                                                metadata=(("x-big", "a" * 20_000),))
            ok = await env.stub(ch).ListAccounts(pb.ListAccountsRequest(), timeout=5)
            return info.value.code(), len(ok.accounts) > 0

    code, still_serves = run(go())
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert still_serves
