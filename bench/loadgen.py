"""One load-generating worker process: closed loop, N concurrent connections, bounded in time and
in count, reporting every latency and its own CPU.

    python -m bench.loadgen SPEC.json RESULT.json

The parent (`bench.runner`) starts several of these so the load spreads over processes, and gives
them a common wall-clock `start_at` (Rule 3): before it, connections are opened and warmed up (TLS
handshakes, server caches) and nothing is recorded; from it, every completed request is recorded
until `duration` seconds pass or `max_requests` complete, whichever comes first.

Why not httpx: its async client costs more CPU per request than the servers measured here, so it
would measure itself. The HTTP/1.1 client below is an asyncio Protocol driven by callbacks: each
connection writes a pre-encoded request, parses the status line and Content-Length of the answer,
records the latency and writes the next request from inside `data_received`, with no task, future
or stream object per request. gRPC uses grpc.aio with raw bytes in and out (the request bytes are
built by concatenation in `bench.payloads`, the reply is never decoded; grpc's status says whether
it succeeded), over a few channels per process, each its own HTTP/2 connection.

Invariants:
- Rule 1: a request whose answer is not the expected status (or is not answered) is an error;
  errors are counted, the first few kept as samples, and never recorded as latencies.
- Rule 2: only requests *sent* at or after `start_at` are measured; the measured window is from
  `start_at` to the completion of the last measured request.
- Rule 3: the start is a handshake, not a guess: once its connections are open and each has
  had one answer (priming: first-use costs stay out of the figures), the worker prints READY
  and waits on stdin for the common `start_at`, which the parent sends when every worker is
  ready (start_at = now + warm-up).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
import sys
import time
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapter.infra import tls
from bench import payloads

MAX_ERROR_SAMPLES = 5


async def _no_wait() -> None:
    return None


@dataclass
class Tally:
    """What one worker saw: latencies of measured successes (ms), errors, warm-up successes."""

    start_perf: float
    end_perf: float
    max_requests: int
    latencies: array = field(default_factory=lambda: array("d"))
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    warmup_ok: int = 0
    sent: int = 0
    last_done: float = 0.0
    # With a timeline, each measured completion's time since start_perf (s), ok or error:
    # what a per-second throughput and error series is drawn from (bench.pool_nodes).
    timeline: bool = False
    ok_at: array = field(default_factory=lambda: array("d"))
    error_at: array = field(default_factory=lambda: array("d"))

    go: Callable[[], Awaitable[None]] = field(default=lambda: _no_wait())

    priming: bool = False

    def want_more(self, now: float) -> bool:
        if self.priming:
            return False
        return now < self.end_perf and len(self.latencies) + self.errors < self.max_requests

    def ok(self, t0: float, t1: float) -> None:
        if t0 >= self.start_perf:
            self.latencies.append((t1 - t0) * 1000.0)
            self.last_done = t1
            if self.timeline:
                self.ok_at.append(t1 - self.start_perf)
        else:
            self.warmup_ok += 1

    def error(self, t0: float, t1: float, what: str) -> None:
        # Errors in the warm-up count too: a run with any error must say so.
        self.errors += 1
        self.last_done = max(self.last_done, t1)
        if self.timeline and t0 >= self.start_perf:
            self.error_at.append(t1 - self.start_perf)
        if len(self.error_samples) < MAX_ERROR_SAMPLES:
            self.error_samples.append(what[:300])


# -- HTTP/1.1 over TLS --------------------------------------------------------------------------


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection in a closed loop (see the module docstring)."""

    def __init__(self, make: Callable[[int], bytes], next_seq: Callable[[], int],
                 expect: frozenset[int], marker: bytes | None, tally: Tally,
                 finished: asyncio.Future[None]) -> None:
        # `finished` is replaced for each phase (priming, then the load).
        self.make = make
        self.next_seq = next_seq
        self.expect = expect
        self.marker = marker
        self.tally = tally
        self.finished = finished
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.need = -1  # total bytes of the response being read, once its head is parsed
        self.head_end = 0
        self.status = 0
        self.t0 = 0.0
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TLS transport is not an asyncio.Transport subclass, but has its methods.
        self.transport = transport  # type: ignore[assignment]

    def send(self) -> None:
        assert self.transport is not None
        self.busy = True
        self.tally.sent += 1
        payload = self.make(self.next_seq())
        self.t0 = time.perf_counter()
        self.transport.write(payload)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while True:
            if self.need < 0:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(buf[:end]).lower()
                self.status = int(head[9:12])
                at = head.find(b"\r\ncontent-length:")
                if at < 0:
                    self._fail("response without Content-Length")
                    return
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17: stop if stop > 0 else len(head)])
                self.head_end = end + 4
                self.need = end + 4 + length
            if len(buf) < self.need:
                return
            body = bytes(buf[self.head_end:self.need])
            del buf[:self.need]
            self.need = -1
            self._complete(body)

    def _complete(self, body: bytes) -> None:
        t1 = time.perf_counter()
        self.busy = False
        if self.status in self.expect and (self.marker is None or self.marker in body):
            self.tally.ok(self.t0, t1)
        else:
            # A SOAP Fault's reason is past the envelope's boilerplate: keep that part.
            at = max(0, body.find(b"<faultstring"))
            self.tally.error(self.t0, t1, f"HTTP {self.status}: {body[at:at + 240]!r}")
        if self.tally.want_more(t1):
            self.send()
        elif not self.finished.done():
            self.finished.set_result(None)

    def _fail(self, what: str) -> None:
        self.tally.error(self.t0, time.perf_counter(), what)
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.busy:
            self.tally.error(self.t0, time.perf_counter(), f"connection lost: {exc!r}")
            self.busy = False
        if not self.finished.done():
            self.finished.set_result(None)


async def run_http(spec: dict[str, Any], tally: Tally) -> None:
    pki_dir = Path(spec["pki_dir"])
    ctx: ssl.SSLContext = tls.client_context(tls.TlsFiles.from_dir(pki_dir, spec["client"]),
                                             pki_dir / "ca.crt")
    make, expect, marker = payloads.build_http(spec["request"], spec["worker_id"],
                                               spec["run_id"])
    counter = iter(range(1 << 62))
    loop = asyncio.get_running_loop()
    conns: list[tuple[asyncio.Transport, HttpConnection]] = []
    for _ in range(spec["connections"]):
        done: asyncio.Future[None] = loop.create_future()
        def factory(done: asyncio.Future[None] = done) -> HttpConnection:
            return HttpConnection(make, counter.__next__, expect, marker, tally, done)

        transport, proto = await loop.create_connection(
            factory, spec["host"], spec["port"], ssl=ctx, server_hostname="localhost")
        conns.append((transport, proto))
    # Priming: one request per connection before READY, so the measured window never pays
    # first-use costs (a first WS-Security password check runs scrypt for ~50 ms).
    tally.priming = True
    for _, proto in conns:
        proto.send()
    await asyncio.gather(*(proto.finished for _, proto in conns))
    tally.priming = False
    await tally.go()
    for _, proto in conns:
        proto.finished = loop.create_future()
        proto.send()
    await asyncio.gather(*(proto.finished for _, proto in conns))
    for transport, _ in conns:
        transport.close()


# -- gRPC ---------------------------------------------------------------------------------------


async def run_grpc(spec: dict[str, Any], tally: Tally) -> None:
    import grpc

    pki_dir = Path(spec["pki_dir"])
    creds = tls.grpc_channel_credentials(tls.TlsFiles.from_dir(pki_dir, spec["client"]),
                                         pki_dir / "ca.crt")
    method, make, marker = payloads.build_grpc(spec["request"], spec["worker_id"],
                                               spec["run_id"])
    # A local subchannel pool per channel: otherwise channels to one target share a single
    # HTTP/2 connection, and "several channels" would be one connection.
    options = [("grpc.use_local_subchannel_pool", 1)]
    channels = [grpc.aio.secure_channel(f"localhost:{spec['port']}", creds, options=options)
                for _ in range(max(1, min(spec["channels"], spec["connections"])))]
    for channel in channels:
        await channel.channel_ready()
    calls = [channel.unary_unary(method) for channel in channels]
    counter = iter(range(1 << 62))

    async def caller(call: Any) -> None:
        while True:
            payload = make(next(counter))
            tally.sent += 1
            t0 = time.perf_counter()
            try:
                reply = await call(payload, timeout=30)
            except grpc.aio.AioRpcError as exc:
                t1 = time.perf_counter()
                tally.error(t0, t1, f"gRPC {exc.code().name}: {exc.details()}")
            else:
                t1 = time.perf_counter()
                if marker is None or marker in reply:
                    tally.ok(t0, t1)
                else:
                    tally.error(t0, t1, f"gRPC OK without {marker!r}: {reply[:200]!r}")
            if not tally.want_more(t1):
                return

    # Priming, as for HTTP: one call per caller before READY.
    tally.priming = True
    await asyncio.gather(*(caller(calls[i % len(calls)]) for i in range(spec["connections"])))
    tally.priming = False
    await tally.go()
    await asyncio.gather(*(caller(calls[i % len(calls)]) for i in range(spec["connections"])))
    for channel in channels:
        await channel.close()


# -- the process ----------------------------------------------------------------------------------


def run(spec: dict[str, Any]) -> dict[str, Any]:
    import uvloop

    tally = Tally(start_perf=float("inf"), end_perf=float("inf"),
                  max_requests=spec["max_requests"], timeline=bool(spec.get("timeline")))
    cpu_at_start: list[float] = []

    async def go() -> None:
        """Tell the parent every connection is open; wait for its common start time."""
        print("READY", flush=True)
        line = sys.stdin.readline()  # blocking on purpose: nothing else runs before the start
        if not line:
            raise RuntimeError("the parent went away before the start")
        # start_at is wall-clock (shared between processes); the loop runs on perf_counter.
        start_perf = time.perf_counter() + (float(line) - time.time())
        tally.start_perf = start_perf
        tally.end_perf = start_perf + spec["duration"]
        # CPU is read when the measured window opens, so connection set-up, TLS handshakes
        # and warm-up are not charged to the client.
        loop = asyncio.get_running_loop()
        loop.call_at(loop.time() + (start_perf - time.perf_counter()),
                     lambda: cpu_at_start.append(time.process_time()))

    tally.go = go

    async def main() -> None:
        await (run_grpc if spec["kind"] == "grpc" else run_http)(spec, tally)

    uvloop.run(main())
    cpu_end = time.process_time()
    window = max(0.0, tally.last_done - tally.start_perf)
    return {
        "worker_id": spec["worker_id"],
        "pid": os.getpid(),
        "ok": len(tally.latencies),
        "errors": tally.errors,
        "error_samples": tally.error_samples,
        "warmup_ok": tally.warmup_ok,
        "window_s": window,
        "cpu_s": cpu_end - cpu_at_start[0] if cpu_at_start else None,
        "latencies_ms": tally.latencies.tolist(),
        **({"ok_at": tally.ok_at.tolist(), "error_at": tally.error_at.tolist()}
           if tally.timeline else {}),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(argv[0]).read_text())
    try:
        result = run(spec)
    except Exception as exc:  # the parent reports it; a worker must always leave a result
        result = {"worker_id": spec.get("worker_id"), "fatal": f"{type(exc).__name__}: {exc}"}
    with contextlib.suppress(OSError):
        Path(argv[1]).write_text(json.dumps(result))
    return 0 if "fatal" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
