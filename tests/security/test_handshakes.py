"""The HTTPS listener's own TLS handshake (frontends/https.py), on both event loops the
adapter runs on (asyncio in the tests, uvloop under `bank-adapter up`): every good client is
served, every failed handshake is reported with its peer address and its kind, and a client
whose first request arrives with its last handshake message is answered."""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path

import pytest

from adapter.frontends.http_guard import HttpLimits, uvicorn_options
from adapter.frontends.https import HttpsServer
from adapter.infra import tls
from adapter.services.intrusion import _certificate_refused


async def hello(scope, receive, send):  # type: ignore[no-untyped-def]
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})


def loops() -> list[str]:
    return ["asyncio"] + (["uvloop"] if sys.platform != "win32" else [])


@contextmanager
def listener(pki: Path, loop_kind: str,
             failures: Failures) -> Iterator[int]:
    """An HttpsServer (the adapter's, with its guard) on its own loop; yields its port."""
    if loop_kind == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    ready: Future[HttpsServer] = Future()

    def failed(peer: str, exc: BaseException) -> None:
        failures.report((peer, _certificate_refused(exc)))

    def serve() -> None:
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            server = HttpsServer(hello, tls.server_context(tls.TlsFiles.from_dir(pki, "server")),
                                 "127.0.0.1", 0, options=uvicorn_options(HttpLimits()),
                                 on_handshake_failure=failed)
            await server.start()
            ready.set_result(server)

        loop.run_until_complete(boot())
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    server = ready.result(10)
    try:
        yield server.port
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def get(port: int, context: ssl.SSLContext) -> bytes:
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        with context.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
            out = b""
            while chunk := s.recv(4096):
                out += chunk
            return out
    except (ssl.SSLError, ConnectionError):
        return b""
    finally:
        raw.close()


class Failures(list[tuple[str, bool]]):
    """The listener's reported handshake failures; `wait_len` is woken by each report."""

    def __init__(self) -> None:
        super().__init__()
        self.grew = threading.Condition()

    def report(self, failure: tuple[str, bool]) -> None:
        with self.grew:
            self.append(failure)
            self.grew.notify_all()

    def wait_len(self, count: int, timeout: float = 10) -> bool:
        with self.grew:
            return self.grew.wait_for(lambda: len(self) >= count, timeout)


@pytest.mark.parametrize("loop_kind", loops())
def test_good_clients_are_served_and_failures_reported(pki_dir: Path, foreign_pki_dir: Path,
                                                       loop_kind: str) -> None:
    """20 good clients each get their answer (none stalls in its handshake); 3 without a
    certificate and 2 with a foreign CA's are reported, the latter as refused certificates."""
    failures = Failures()
    good = tls.client_context(tls.TlsFiles.from_dir(pki_dir, "partner"), pki_dir / "ca.crt")
    none = tls.client_context(None, pki_dir / "ca.crt")
    foreign = tls.client_context(tls.TlsFiles.from_dir(foreign_pki_dir, "partner"),
                                 pki_dir / "ca.crt")
    with listener(pki_dir, loop_kind, failures) as port:
        answers = [get(port, good) for _ in range(20)]
        for context in (none, none, none, foreign, foreign):
            assert get(port, context) == b""
        assert failures.wait_len(5), failures
    assert all(a.startswith(b"HTTP/1.1 200 OK\r\n") and a.endswith(b"hello")
               for a in answers), [a[:30] for a in answers if not a.startswith(b"HTTP/1.1 200")]
    assert sorted(failures) == [("127.0.0.1", False)] * 3 + [("127.0.0.1", True)] * 2
