"""The ISO 8583 host's read bounds (iso_host Rule 6) over a raw mutual-TLS socket.

Each test waits on the socket itself (its end of stream) with a deadline, never on a clock:
a connection the host should close and does not fails the deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from adapter.infra.tls import TlsFiles, server_context
from core_sim.__main__ import build_parser
from core_sim.faults import FaultSettings
from core_sim.iso8583.stream import MAX_FRAME
from core_sim.iso_host import IDLE_TIMEOUT, READ_TIMEOUT, IsoHost
from core_sim.ledger import Ledger
from tests.core_sim.test_iso_messages import BOOKED_AT, ECHO, ECHO_OK, TRANSFER
from tests.core_sim.test_iso_stream import connect, framed, read_to_end, run

SLACK = 3.0  # scheduling on a shared 2-core machine; far below "forever"


@asynccontextmanager
async def host_with(pki_dir: Path, tmp_path: Path, *, read_timeout: float,
                    idle_timeout: float) -> AsyncIterator[IsoHost]:
    ledger = Ledger(tmp_path / "ledger.sqlite", clock=lambda: BOOKED_AT)
    ledger.seed_demo()
    host = IsoHost(ledger, FaultSettings(), server_context(TlsFiles.from_dir(pki_dir, "core")),
                   read_timeout=read_timeout, idle_timeout=idle_timeout)
    await host.start()
    try:
        yield host
    finally:
        await host.stop()
        ledger.close()


async def closed_within(reader: asyncio.StreamReader, bound: float) -> float:
    """Seconds until the host closed the connection; fails if it is not closed in `bound`."""
    start = time.monotonic()
    assert await asyncio.wait_for(read_to_end(reader), bound) == b""
    return time.monotonic() - start


def test_a_frame_declared_longer_than_sent_is_closed_after_the_read_timeout(
        pki_dir: Path, tmp_path: Path) -> None:
    """4,000 bytes declared, 100 sent: closed after the read timeout (0.3 s), well before the
    idle timeout (60 s), and the partial transfer books nothing."""

    async def scenario() -> None:
        async with host_with(pki_dir, tmp_path, read_timeout=0.3, idle_timeout=60) as host:
            reader, writer = await connect(pki_dir, host)
            writer.write((4000).to_bytes(2, "big") + TRANSFER[:100])
            took = await closed_within(reader, 0.3 + SLACK)
            assert took >= 0.25  # not closed early: the bound is the read timeout
            assert not host.received
            assert host.ledger.balance("10000001")[0] == 1_000_000
            writer.close()

    run(scenario())


def test_a_frame_declared_as_8000_bytes_is_closed_at_once(pki_dir: Path,
                                                          tmp_path: Path) -> None:
    """8,000 bytes is above the longest frame (4,096): a framing error, closed without waiting
    for either timeout."""

    async def scenario() -> None:
        async with host_with(pki_dir, tmp_path, read_timeout=60, idle_timeout=60) as host:
            reader, writer = await connect(pki_dir, host)
            assert MAX_FRAME < 8000
            writer.write((8000).to_bytes(2, "big") + b"x" * 100)
            await closed_within(reader, SLACK)
            writer.close()

    run(scenario())


def test_half_a_length_header_is_a_frame_in_progress(pki_dir: Path, tmp_path: Path) -> None:
    """One byte of the 2-byte header starts the read timeout, not the idle one."""

    async def scenario() -> None:
        async with host_with(pki_dir, tmp_path, read_timeout=0.3, idle_timeout=60) as host:
            reader, writer = await connect(pki_dir, host)
            writer.write(b"\x00")
            await closed_within(reader, 0.3 + SLACK)
            writer.close()

    run(scenario())


def test_a_silent_connection_is_closed_after_the_idle_timeout(pki_dir: Path,
                                                              tmp_path: Path) -> None:
    """Frames are answered; silence after the last one closes the connection after the idle
    timeout (0.5 s), and another connection is still served."""

    async def scenario() -> None:
        async with host_with(pki_dir, tmp_path, read_timeout=60, idle_timeout=0.5) as host:
            reader, writer = await connect(pki_dir, host)
            writer.write(framed(ECHO))
            assert await reader.readexactly(2 + len(ECHO_OK)) == framed(ECHO_OK)
            took = await closed_within(reader, 0.5 + SLACK)
            assert took >= 0.4
            writer.close()
            reader2, writer2 = await connect(pki_dir, host)
            writer2.write(framed(ECHO))
            assert await reader2.readexactly(2 + len(ECHO_OK)) == framed(ECHO_OK)
            writer2.close()

    run(scenario())


def test_a_connection_that_keeps_talking_outlives_the_idle_timeout(pki_dir: Path,
                                                                  tmp_path: Path) -> None:
    """The idle deadline runs from the last frame, not the first: echoes 0.3 s apart for
    1.5 s (2.5 idle timeouts of 0.6 s) are all answered on one connection, which the host
    then closes once it has been silent for the idle timeout. The host's one timer per
    connection fires at the first frame's deadline and has to set itself again."""

    async def scenario() -> None:
        async with host_with(pki_dir, tmp_path, read_timeout=60, idle_timeout=0.6) as host:
            reader, writer = await connect(pki_dir, host)
            start = time.monotonic()
            for _ in range(6):
                writer.write(framed(ECHO))
                assert await reader.readexactly(2 + len(ECHO_OK)) == framed(ECHO_OK)
                await asyncio.sleep(0.3)  # pacing: the gap under test, not a synchronisation
            assert time.monotonic() - start >= 1.5
            writer.write(framed(ECHO))
            assert await reader.readexactly(2 + len(ECHO_OK)) == framed(ECHO_OK)
            took = await closed_within(reader, 0.6 + SLACK)
            assert took >= 0.5
            writer.close()

    run(scenario())


def test_core_sim_flags_set_the_timeouts() -> None:
    """--iso-read-timeout / --iso-idle-timeout default to 5 s / 300 s; 0 is refused (exit 2)."""
    args = build_parser().parse_args([])
    assert (args.iso_read_timeout, args.iso_idle_timeout) == (READ_TIMEOUT, IDLE_TIMEOUT)
    assert (READ_TIMEOUT, IDLE_TIMEOUT) == (5.0, 300.0)
    args = build_parser().parse_args(["--iso-read-timeout", "0.5", "--iso-idle-timeout", "20"])
    assert (args.iso_read_timeout, args.iso_idle_timeout) == (0.5, 20.0)
    for flag in ("--iso-read-timeout", "--iso-idle-timeout"):
        with pytest.raises(SystemExit) as info:
            build_parser().parse_args([flag, "0"])
        assert info.value.code == 2
