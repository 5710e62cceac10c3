"""The core's ISO 8583 host on a real socket: mutual TLS, its own 2-byte length framing.

A raw TLS client (no adapter ISO code) writes framed golden messages and reads the exact
framed replies; broken framing closes only the connection that sent it.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from adapter.infra.tls import TlsFiles, client_context, server_context
from core_sim.faults import FaultSettings
from core_sim.iso8583.stream import MAX_FRAME
from core_sim.iso_host import IsoHost
from core_sim.ledger import Ledger
from tests.core_sim.test_iso_messages import (
    BOOKED_AT,
    ECHO,
    ECHO_OK,
    SIGN_ON,
    SIGN_ON_OK,
    TRANSFER,
    TRANSFER_OK,
)

T = TypeVar("T")
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def run(coro: Coroutine[Any, Any, T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, 20.0)

    return asyncio.run(bounded())


def framed(message: bytes) -> bytes:
    return len(message).to_bytes(2, "big") + message


@asynccontextmanager
async def running_host(pki_dir: Path, tmp_path: Path) -> AsyncIterator[IsoHost]:
    ledger = Ledger(tmp_path / "ledger.sqlite", clock=lambda: BOOKED_AT)
    ledger.seed_demo()
    host = IsoHost(ledger, FaultSettings(), server_context(TlsFiles.from_dir(pki_dir, "core")))
    await host.start()
    try:
        yield host
    finally:
        await host.stop()
        ledger.close()


async def connect(pki_dir: Path, host: IsoHost) -> Streams:
    link = TlsFiles.from_dir(pki_dir, "adapter-client")
    ctx = client_context(link, link.ca)
    return await asyncio.open_connection("127.0.0.1", host.port, ssl=ctx,
                                         server_hostname="localhost")


async def read_to_end(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.read()
    except (ConnectionResetError, ssl.SSLError):
        return b""


def test_frames_in_one_write_are_answered_in_order(pki_dir: Path, tmp_path: Path) -> None:
    """Three framed requests in one TLS write: three framed replies, exact bytes, in order."""

    async def scenario() -> None:
        async with running_host(pki_dir, tmp_path) as host:
            reader, writer = await connect(pki_dir, host)
            writer.write(framed(SIGN_ON) + framed(TRANSFER) + framed(ECHO))
            expected = framed(SIGN_ON_OK) + framed(TRANSFER_OK) + framed(ECHO_OK)
            assert await reader.readexactly(len(expected)) == expected
            assert host.ledger.balance("10000001")[0] == 998_950
            assert host.ledger.balance("10000002")[0] == 251_050
            writer.close()

    run(scenario())


@pytest.mark.parametrize(
    "broken",
    [
        b"\x00\x00",  # a zero length
        (MAX_FRAME + 1).to_bytes(2, "big"),  # longer than any interface message may be
    ],
    ids=["zero", "too-long"],
)
def test_broken_length_closes_only_that_connection(pki_dir: Path, tmp_path: Path,
                                                   broken: bytes) -> None:
    """A bad length header closes its connection unanswered; another connection is served."""

    async def scenario() -> None:
        async with running_host(pki_dir, tmp_path) as host:
            reader, writer = await connect(pki_dir, host)
            writer.write(broken + framed(SIGN_ON))
            assert await read_to_end(reader) == b""
            assert not host.received
            writer.close()
            reader2, writer2 = await connect(pki_dir, host)
            writer2.write(framed(ECHO))
            assert await reader2.readexactly(2 + len(ECHO_OK)) == framed(ECHO_OK)
            writer2.close()

    run(scenario())


def test_close_inside_a_frame_books_nothing(pki_dir: Path, tmp_path: Path) -> None:
    """A transfer cut off by the peer's close is never decoded, so nothing is booked."""

    async def scenario() -> None:
        async with running_host(pki_dir, tmp_path) as host:
            _, writer = await connect(pki_dir, host)
            writer.write(framed(TRANSFER)[:-5])
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            # Whenever the host reads the cut frame, it can only wait for the rest or see the
            # close: no ordering is assumed between the two connections.
            reader2, writer2 = await connect(pki_dir, host)
            writer2.write(framed(ECHO))
            assert await reader2.readexactly(2 + len(ECHO_OK)) == framed(ECHO_OK)
            writer2.close()
            assert host.ledger.transfer_status("REF000000001") is None
            assert host.ledger.balance("10000001")[0] == 1_000_000
            assert [m["t"] for m in host.received] == ["0800"]

    run(scenario())
