"""Benchmark: ISO 8583 connector round trips per second with many requests in flight, against
a raw echo of the same frames over the same kind of mutual-TLS connection, in the same run.

    python -m bench.iso8583_bench [--in-flight 64] [--seconds 3]

Three figures, one process, loopback:
- raw: a client that pipelines the encoded 0800 frames itself (no codec, no mux), keeping
  N in flight on one TLS connection, against a reflector that turns each 0800 into 0810 in place.
- connector: `IsoSession.request`, the path every connector request takes below the port
  (send gate, encode, frame, mux match on 11+41, decode), with N tasks in flight, against the
  same reflector. The bench builds the session itself: the connector has no hooks for it.
- balance: `IsoCoreConnector.get_balance` (0200/30) against the real core_sim ISO host and
  its SQLite ledger.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from adapter.connectors.iso8583 import IsoCoreConnector, IsoOptions
from adapter.connectors.iso8583.channel import IsoChannel
from adapter.connectors.iso8583.codec import Codec
from adapter.connectors.iso8583.framing import FrameDecoder, frame
from adapter.connectors.iso8583.mapping import network_request
from adapter.connectors.iso8583.session import IsoSession
from adapter.infra.tls import TlsFiles, client_context, server_context
from adapter.security import pki
from adapter.stores.sqlite.reversals import SqliteReversalStore
from core_sim.faults import FaultSettings
from core_sim.iso_host import IsoHost
from core_sim.ledger import Ledger


async def reflector(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers every frame with itself, MTI third digit +1 (0800 -> 0810), no decoding; only
    the first frame of a connection (the connector's sign-on) gets a real 0810 with 39 = 00."""
    channel = IsoChannel(reader, writer)
    codec = Codec()
    first = True
    with contextlib.suppress(Exception):
        async for payload in channel.frames():
            if first:
                first = False
                msg = codec.decode(payload)
                channel.write(codec.encode({**msg, "t": "0810", "39": "00"}))
                continue
            out = bytearray(payload)
            out[2] += 1
            channel.write(bytes(out))


async def bench_raw(port: int, pki_dir: Path, in_flight: int, seconds: float) -> float:
    link = TlsFiles.from_dir(pki_dir, "adapter-client")
    ctx = client_context(link, link.ca)
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                                   server_hostname="localhost")
    codec = Codec()
    now = datetime.now(UTC)
    frames = [frame(codec.encode(network_request("301", f"{i:06d}", "BENCHRAW", now)))
              for i in range(1, in_flight + 1)]
    decoder = FrameDecoder()
    done = 0
    writer.write(b"".join(frames))
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()
    while time.perf_counter() < deadline:
        data = await reader.read(65536)
        replies = decoder.feed(data)
        done += len(replies)
        writer.write(b"".join(frames[: len(replies)]))
    elapsed = time.perf_counter() - start
    writer.close()
    return done / elapsed


async def bench_session(session: IsoSession, in_flight: int, seconds: float) -> float:
    now = datetime.now(UTC)
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            msg = network_request("301", session.stans.next(), session.terminal_id, now)
            await session.request(msg, timeout=5)
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return done / (time.perf_counter() - start)


async def bench_balance(conn: IsoCoreConnector, in_flight: int, seconds: float) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await conn.get_balance("10000001", timeout=5)
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return done / (time.perf_counter() - start)


async def main(in_flight: int, seconds: float) -> None:
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="iso8583-bench-"))
    pki_dir = work / "pki"
    pki.init(pki_dir)
    host_ctx = server_context(TlsFiles.from_dir(pki_dir, "core"))

    server = await asyncio.start_server(reflector, "127.0.0.1", 0, ssl=host_ctx)
    port = server.sockets[0].getsockname()[1]
    raw = await bench_raw(port, pki_dir, in_flight, seconds)
    link = TlsFiles.from_dir(pki_dir, "adapter-client")
    client_ctx = client_context(link, link.ca)
    # The reflector answers echoes without field 39, which liveness would count as failed:
    # no idle echoes here (the load keeps the link busy anyway).
    session = IsoSession(IsoOptions("127.0.0.1", port, server_hostname="localhost",
                                    terminal_id="BENCHMUX", echo_interval=3600,
                                    liveness_timeout=3600), client_ctx)
    assert await session.wait_up(5)
    via_connector = await bench_session(session, in_flight, seconds)
    await session.aclose()
    server.close()

    ledger = Ledger(work / "ledger.sqlite")
    ledger.seed_demo()
    host = IsoHost(ledger, FaultSettings(), host_ctx, "127.0.0.1", 0)
    await host.start()
    conn = IsoCoreConnector.create(IsoOptions("127.0.0.1", host.port, server_hostname="localhost"),
                                   pki_dir, SqliteReversalStore.in_dir(work / "state-host"))
    assert await conn.wait_ready(5)
    balance = await bench_balance(conn, in_flight, seconds)
    await conn.aclose()
    await host.stop()
    ledger.close()

    print(f"in flight: {in_flight}, {seconds:.0f} s per figure, one TLS connection each")
    print(f"raw echo of the same frames : {raw:10.0f} round trips/s")
    print(f"session (gate+codec+mux)    : {via_connector:10.0f} round trips/s "
          f"({via_connector / raw:.0%} of raw)")
    print(f"connector get_balance, host : {balance:10.0f} round trips/s (ISO host + ledger)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    asyncio.run(main(args.in_flight, args.seconds))
