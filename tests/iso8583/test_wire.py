"""Bad bytes on the wire: each side drops what it cannot decode and stays in sync, or closes
cleanly when the framing itself is broken. Plus the ISO host inside core_sim."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from adapter.connectors.iso8583 import IsoCoreConnector, IsoOptions
from adapter.connectors.iso8583.channel import IsoChannel
from adapter.connectors.iso8583.codec import Codec
from adapter.connectors.iso8583.framing import frame
from adapter.infra.tls import TlsFiles, client_context
from adapter.stores.sqlite.reversals import SqliteReversalStore
from tests.harness.core import RunningCore, core_sim  # noqa: F401  (the core_sim fixture)
from tests.iso8583.support import host_context, iso_env, run, transfer

codec = Codec()
ECHO = codec.encode({"t": "0800", "7": "1128233634", "11": "000042", "41": "RAWTEST1",
                     "70": "301"})


async def raw_client(pki_dir: Path, port: int) -> tuple[asyncio.StreamReader,
                                                         asyncio.StreamWriter]:
    link = TlsFiles.from_dir(pki_dir, "adapter-client")
    ctx = client_context(link, link.ca)
    return await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                         server_hostname="localhost")


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    header = await reader.readexactly(2)
    return await reader.readexactly(int.from_bytes(header, "big"))


@pytest.mark.parametrize(
    "bad",
    [
        frame(b"\x00\xffgarbage\x13"),  # garbage content
        frame(ECHO[:-2]),  # truncated message, whole frame
        frame(ECHO + b"EXTRA"),  # the header says more than the message holds
        frame(b"0800" b"0000000000000001"),  # a field (64) outside the spec
    ],
)
def test_host_drops_undecodable_frames_and_stays_in_sync(
    pki_dir: Path, tmp_path: Path, bad: bytes
) -> None:
    """A bad frame is dropped; the echo after it on the same connection is answered."""

    async def scenario() -> None:
        async with iso_env(pki_dir, tmp_path) as env:
            reader, writer = await raw_client(pki_dir, env.host.port)
            writer.write(bad + frame(ECHO))
            reply = codec.decode(await read_frame(reader))
            assert (reply["t"], reply["11"], reply["39"]) == ("0810", "000042", "00")
            assert env.host.decode_errors == 1
            writer.close()

    run(scenario())


@pytest.mark.parametrize("header", [b"\x00\x00", b"\xff\xff"])
def test_host_closes_cleanly_on_broken_framing(
    pki_dir: Path, tmp_path: Path, header: bytes
) -> None:
    """A zero or oversized length header closes the connection; nothing is answered."""

    async def scenario() -> None:
        async with iso_env(pki_dir, tmp_path) as env:
            reader, writer = await raw_client(pki_dir, env.host.port)
            writer.write(header + frame(ECHO))
            try:
                rest = await reader.read()
            except (ConnectionResetError, ssl.SSLError):
                rest = b""
            assert rest == b""
            assert not env.host.received
            writer.close()

    run(scenario())


def test_connector_drops_garbage_from_the_core_and_keeps_matching(
    pki_dir: Path, tmp_path: Path
) -> None:
    """A core that sends a garbage frame before the real reply: the caller gets its reply."""

    async def scenario() -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            channel = IsoChannel(reader, writer)
            async for raw in channel.frames():
                msg = codec.decode(raw)
                reply = {k: msg[k] for k in ("7", "11", "41", "70", "3", "4", "37") if k in msg}
                reply["t"] = {"0800": "0810", "0200": "0210"}[msg["t"]]
                reply["39"] = "00"
                if msg["t"] == "0200":
                    await channel.send(b"\x01\x02 not iso 8583")
                    reply["54"] = "0001978C0000000010000002978C000000001000"
                await channel.send(codec.encode(reply))

        server = await asyncio.start_server(serve, "127.0.0.1", 0,
                                            ssl=host_context(pki_dir))
        port = server.sockets[0].getsockname()[1]
        conn = IsoCoreConnector.create(IsoOptions("127.0.0.1", port, server_hostname="localhost"),
                                       pki_dir, SqliteReversalStore.in_dir(tmp_path / "state"))
        try:
            assert await conn.wait_ready(5)
            bal = await conn.get_balance("10000001", timeout=2)
            assert str(bal.booked) == "10.00 EUR"
            assert conn.session.decode_errors == 1
            assert conn.session.connections == 1
        finally:
            await conn.aclose()
            server.close()

    run(scenario())


def test_iso_host_runs_inside_core_sim(core_sim: RunningCore, tmp_path: Path) -> None:  # noqa: F811
    """CoreSim starts the ISO host on its own port (0 asked) on the SOAP service's ledger."""
    assert core_sim.iso_port

    async def scenario() -> None:
        options = IsoOptions("127.0.0.1", core_sim.iso_port or 0, server_hostname="localhost")
        conn = IsoCoreConnector.create(options, core_sim.pki_dir,
                                       SqliteReversalStore.in_dir(tmp_path / "state"))
        try:
            assert await conn.wait_ready(5)
            await conn.post(transfer("REFSIM000001", "3.00"), timeout=2)
        finally:
            await conn.aclose()

    run(scenario())
    assert core_sim.ledger.balance("10000001")[0] == 1_000_000 - 300
