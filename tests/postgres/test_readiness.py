"""Readiness needs the adapter's database (services/health.py Rule 1): the whole adapter on
PostgreSQL through a TCP proxy that the test takes down (the listener closed, the pool's
connections aborted) and brings back at the same address. Real core_sim, real mutual TLS,
a real server in a fresh schema; the test waits on gRPC health Watch, which the adapter
pushes as its readiness changes, never on a timer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from adapter.infra import tls
from adapter.services.health import HealthService
from adapter.stores.postgres import PostgresStore
from adapter.stores.sqlite import SqliteStore
from tests.harness.adapter import RunningAdapter, run_adapter
from tests.harness.clients import https_client
from tests.harness.core import RunningCore
from tests.harness.postgres import fresh_database_url
from tests.harness.tcp_proxy import TcpProxy, tcp_proxy

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# The pool reconnects with a backoff (psycopg_pool: 1 s, doubling); the watch allows a few.
WAIT = 30.0


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_database_url() as value:
        yield value


@pytest.fixture
def proxy(url: str) -> Iterator[TcpProxy]:
    target = urlsplit(url)
    assert target.hostname is not None
    with tcp_proxy(target.hostname, target.port or 5432) as running:
        yield running


def through(url: str, proxy: TcpProxy) -> str:
    """`url` with its host and port replaced by the proxy's (user, database and options kept)."""
    parts = urlsplit(url)
    user = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))


def readyz(adapter: RunningAdapter) -> tuple[int, dict[str, Any]]:
    with https_client(adapter, "partner", base_url=adapter.base_url) as c:
        r = c.get("/readyz", headers={"X-Request-ID": "ready-pg"})
        return r.status_code, r.json()


def plain_readyz(adapter: RunningAdapter) -> tuple[int, dict[str, Any]]:
    listener = adapter.app.health_http
    assert listener is not None
    r = httpx.get(f"http://127.0.0.1:{listener.port}/readyz", timeout=10)
    return r.status_code, r.json()


def test_readyz_and_grpc_health_follow_the_database(core_sim: RunningCore, pki_dir: Path,
                                                    tmp_path: Path, url: str,
                                                    proxy: TcpProxy) -> None:
    """Ready; the database's address goes dead: gRPC health Watch says NOT_SERVING, /readyz
    (mTLS and plain) 503 STORE_UNAVAILABLE; it comes back: SERVING, both /readyz 200."""
    with run_adapter(tmp_path, pki_dir, core_soap_url=core_sim.soap_url,
                     database_url=through(url, proxy), health_port=0) as adapter:
        assert readyz(adapter) == (200, {"status": "ready"})
        files = tls.TlsFiles.from_dir(adapter.pki_dir, "internal")
        seen: list[tuple[str, Any, Any]] = []

        async def go() -> list[int]:
            creds = tls.grpc_channel_credentials(files, adapter.ca)
            async with grpc.aio.secure_channel(adapter.grpc_target, creds) as ch:
                watch = health_pb2_grpc.HealthStub(ch).Watch(
                    health_pb2.HealthCheckRequest(service=""))
                statuses = [(await asyncio.wait_for(watch.read(), WAIT)).status]
                await asyncio.to_thread(proxy.down)
                statuses.append((await asyncio.wait_for(watch.read(), WAIT)).status)
                seen.append(("down", *await asyncio.to_thread(
                    lambda: (readyz(adapter), plain_readyz(adapter)))))
                await asyncio.to_thread(proxy.up)
                statuses.append((await asyncio.wait_for(watch.read(), WAIT)).status)
                seen.append(("up", *await asyncio.to_thread(
                    lambda: (readyz(adapter), plain_readyz(adapter)))))
                watch.cancel()
                return statuses

        assert asyncio.run(go()) == [SERVING, NOT_SERVING, SERVING]
        down, up = seen
        status, problem = down[1]
        assert (status, problem["status"], problem["code"], problem["detail"],
                problem["correlation_id"]) == (
            503, 503, "STORE_UNAVAILABLE",
            "the adapter's database is not answering; retry later", "ready-pg")
        assert down[2] == (503, {"status": "not ready", "code": "STORE_UNAVAILABLE"})
        assert up[1:] == ((200, {"status": "ready"}), (200, {"status": "ready"}))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_store_answers_its_ping_until_it_is_closed(backend: str, tmp_path: Path) -> None:
    """PaymentStorage.ping on each SQL backend: it answers while open; once closed it raises,
    so readiness reports the store down."""
    class Core:
        async def healthy(self) -> bool:
            return True

    async def answers(open_store: Any) -> tuple[bool, bool]:
        store = await open_store()
        health = HealthService(Core(), store, store_ttl=0)  # type: ignore[arg-type]
        before = await health.ready()
        await store.aclose()
        return before, await health.ready()

    async def sqlite() -> SqliteStore:
        return SqliteStore(tmp_path / "adapter.db")

    if backend == "sqlite":
        assert asyncio.run(answers(sqlite)) == (True, False)
        return
    with fresh_database_url() as pg:
        assert asyncio.run(answers(lambda: PostgresStore.open(pg, pool_size=1))) == (
            True, False)


