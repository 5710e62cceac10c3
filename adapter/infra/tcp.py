"""Socket options every TCP listener of the project sets on the connections it accepts.

On the stdlib asyncio loop (the test harness, and any run without uvloop) the sockets a
uvicorn listener accepts from a pre-bound socket keep Nagle's algorithm on (uvloop turns it
off itself; tests/infra/test_tcp_nodelay.py shows both). uvicorn writes a response's head and
body in two writes (two TLS records), and the second then waited for the client's delayed
ACK: about 40 ms for every request of a caller that sends one at a time (measured on the
adapter's listener in the harness: a sequential GET /healthz took 44 ms, 0.7 ms with
TCP_NODELAY; a balance inquiry 48 ms, 2.8 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket


def no_delay(transport: asyncio.BaseTransport) -> None:
    """TCP_NODELAY on the transport's socket, if it is a TCP one and still open."""
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    with contextlib.suppress(OSError):  # the peer is already gone: nothing to tune
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
