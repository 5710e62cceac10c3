"""Contract of the ISO 8583 terminal-id port (`adapter.ports.terminals`), in one process
(memory) and across connections and processes on one database (PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import psycopg
import pytest

from adapter.ports.terminals import TerminalClaims
from adapter.stores.memory import MemoryTerminalRegistry
from adapter.stores.postgres import PostgresDatabase, PostgresTerminalClaims
from adapter.stores.postgres.terminals import TERMINAL_LOCK_CLASS
from tests.harness.postgres import fresh_database_url

Factory = Callable[[], Awaitable[TerminalClaims]]


@pytest.fixture(params=["memory", "postgres"])
def backend(request: pytest.FixtureRequest) -> Iterator[tuple[str, str | None]]:
    if request.param == "memory":
        yield "memory", None
        return
    with fresh_database_url() as url:
        yield "postgres", url


def _run(backend: tuple[str, str | None],
         scenario: Callable[[Factory], Awaitable[Any]]) -> Any:
    url = backend[1]

    async def main() -> Any:
        registry = MemoryTerminalRegistry()
        databases: list[PostgresDatabase] = []

        async def make() -> TerminalClaims:
            if url is None:
                return registry.claims()
            db = await PostgresDatabase.open(url, pool_size=1)
            databases.append(db)
            return PostgresTerminalClaims(db)

        try:
            return await scenario(make)
        finally:
            for db in databases:
                await db.aclose()

    return asyncio.run(main())


def test_a_terminal_id_has_one_holder_until_it_lets_go(backend: tuple[str, str | None]) -> None:
    """Rules 1-2: A claims T; B is refused T but may claim U; A claims T again (it holds it);
    once A closes, B claims T."""
    async def scenario(make: Factory) -> None:
        a, b = await make(), await make()
        assert await a.claim("TERMINAL") is True
        assert await b.claim("TERMINAL") is False
        assert await b.claim("OTHERONE") is True
        assert await a.claim("TERMINAL") is True
        assert await a.claim("OTHERONE") is False
        await a.aclose()
        assert await b.claim("TERMINAL") is True
        await b.aclose()

    _run(backend, scenario)


def test_a_dead_holders_terminal_id_is_free_at_once() -> None:
    """Rule 2 (PostgreSQL, the backend processes share): a process holding T is SIGKILLed;
    T can be claimed as soon as it is gone, with no lease to wait for."""
    with fresh_database_url() as url:
        _dead_holder(("postgres", url), url)


def _dead_holder(backend: tuple[str, str | None], url: str) -> None:
    holder = subprocess.Popen([sys.executable, "-c", f"""
import asyncio, sys
from adapter.stores.postgres import PostgresDatabase, PostgresTerminalClaims
async def main():
    db = await PostgresDatabase.open({url!r}, pool_size=1)
    claims = PostgresTerminalClaims(db)
    print(await claims.claim("TERMINAL"), flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "True"

        async def before(make: Factory) -> bool:
            c = await make()
            try:
                return await c.claim("TERMINAL")
            finally:
                await c.aclose()

        assert _run(backend, before) is False
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)

        async def after(make: Factory) -> bool:
            # The server ends the dead holder's session as its socket closes: a blocking
            # pg_advisory_lock on the same key returns at that moment (bounded by
            # lock_timeout); released at once, the claim then succeeds on its first try.
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as watch:
                await watch.execute("SET lock_timeout = '10s'")
                key = "hashtext(current_schema() || ':' || 'TERMINAL')"
                await watch.execute(f"SELECT pg_advisory_lock({TERMINAL_LOCK_CLASS}, {key})")
                await watch.execute(f"SELECT pg_advisory_unlock({TERMINAL_LOCK_CLASS}, {key})")
            c = await make()
            try:
                return await c.claim("TERMINAL")
            finally:
                await c.aclose()

        assert _run(backend, after) is True
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
