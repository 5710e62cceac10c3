"""Accepted connections have Nagle's algorithm off on the adapter's HTTP listener, on either
event loop (adapter.infra.tcp; core_sim's SOAP listener calls the same function)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import uvloop

from adapter.frontends.https import HttpsServer, TlsScopeProtocol


class _Recording(TlsScopeProtocol):
    seen: list[int] = []

    def serving_started(self) -> None:
        sock = self.transport.get_extra_info("socket")
        self.seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def _one_request() -> bytes:
    server = HttpsServer(_app, None, "127.0.0.1", 0, options={"http": _Recording})
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        answer = await reader.read()
        writer.close()
        return answer
    finally:
        await server.stop()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_adapter_listener_sets_tcp_nodelay_on_each_connection(loop: str) -> None:
    """The listener turns TCP_NODELAY on before the first request is served, whichever
    event loop runs it (without it a sequential caller waited ~40 ms per answer)."""
    _Recording.seen.clear()
    answer = (uvloop.run if loop == "uvloop" else asyncio.run)(_one_request())
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"ok")
    assert _Recording.seen == [1]
