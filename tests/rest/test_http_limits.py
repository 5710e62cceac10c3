"""The HTTPS listener bounds what a client costs before it is authorised (http_guard.py):
head size and count, head time, idle time, connections in all and per peer.

Raw TLS sockets with the partner's certificate, so the test controls every byte.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapter.infra import tls
from tests.rest.conftest import Bank, start_bank

LIMITS = dict(http_max_head_bytes=8192, http_max_headers=20, http_head_timeout=0.5,
              http_idle_timeout=0.5, http_max_connections=64,
              http_max_connections_per_client=6)


@pytest.fixture(scope="module")
def guarded(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bank]:
    with start_bank(tmp_path_factory.mktemp("limits"), pki_dir, **LIMITS) as b:
        yield b


def connect(bank: Bank) -> ssl.SSLSocket:
    ctx = tls.client_context(bank.adapter.client("partner"), bank.adapter.ca)
    raw = socket.create_connection(("127.0.0.1", bank.adapter.app.http_port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def read_all(sock: ssl.SSLSocket) -> bytes:
    """Everything the server sends until it closes (the socket's timeout bounds the wait)."""
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except (ConnectionResetError, ssl.SSLError):
        pass
    return out


def head(extra: str = "") -> bytes:
    return (f"GET /v1/accounts HTTP/1.1\r\nhost: localhost\r\n{extra}"
            "connection: close\r\n\r\n").encode()


def test_a_normal_request_passes(guarded: Bank) -> None:
    """The guard lets an ordinary request through to the API (and its answer back)."""
    with connect(guarded) as s:
        s.sendall(head())
        answer = read_all(s)
    assert answer.startswith(b"HTTP/1.1 200 ")


def test_oversized_header_is_431(guarded: Bank) -> None:
    """One header field past the head limit: 431, and the connection closes."""
    with connect(guarded) as s:
        s.sendall(head(f"x-big: {'a' * 9000}\r\n"))
        answer = read_all(s)
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")


def test_too_many_header_fields_is_431(guarded: Bank) -> None:
    with connect(guarded) as s:
        s.sendall(head("".join(f"x-h{i}: v\r\n" for i in range(25))))
        answer = read_all(s)
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_a_head_that_never_ends_is_cut_off(guarded: Bank) -> None:
    """A 50 MB header is refused after about one TLS record past the limit: the server closes
    the connection long before the client has sent it all."""
    chunk = b"x-flood: " + b"a" * 16000
    sent = 0
    with connect(guarded) as s:
        s.sendall(b"GET /v1/accounts HTTP/1.1\r\nhost: localhost\r\n")
        with pytest.raises(OSError):
            while sent < 50 * 1024 * 1024:
                s.sendall(chunk)
                sent += len(chunk)
    # What was "sent" includes what the kernel's socket buffers on both ends absorbed after the
    # server stopped reading (a few MB on loopback); without the guard all 50 MB go through.
    assert sent < 16 * 1024 * 1024


def test_a_dribbled_head_times_out_with_408(guarded: Bank) -> None:
    """Half a head, then silence: 408 after the head timeout, and the connection closes."""
    with connect(guarded) as s:
        s.sendall(b"GET /v1/accounts HTTP/1.1\r\nhost: loc")
        answer = read_all(s)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")


def read_response(sock: ssl.SSLSocket) -> bytes:
    """One whole response with a Content-Length, leaving the connection open."""
    out = b""
    while b"\r\n\r\n" not in out:
        out += sock.recv(65536)
    head_part, _, body = out.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head_part.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return head_part + b"\r\n\r\n" + body


def test_a_later_head_on_a_kept_alive_connection_is_timed_too(guarded: Bank) -> None:
    """The head timer is one per connection: the one set for the first head, still pending
    when the second head begins, times the second head from its own first byte."""
    with connect(guarded) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
        assert read_response(s).startswith(b"HTTP/1.1 200 ")
        s.sendall(b"GET /v1/accounts HTTP/1.1\r\nhost: loc")
        answer = read_all(s)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")


def test_a_silent_connection_times_out(guarded: Bank) -> None:
    """A client that connects and never sends a byte is cut off too."""
    with connect(guarded) as s:
        assert read_all(s).startswith(b"HTTP/1.1 408 ")


def test_an_idle_keep_alive_connection_closes(guarded: Bank) -> None:
    """After an answer, a keep-alive connection with no next request is closed."""
    with connect(guarded) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
        answer = read_all(s)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b'{"status":"ok"}')


def test_connections_per_client_are_capped(guarded: Bank) -> None:
    """Six open connections from one address are served; the seventh is closed at once,
    before its TLS handshake (it costs the server no handshake), and a new one is accepted
    again when one of the six goes away."""
    held = [connect(guarded) for _ in range(6)]
    try:
        with pytest.raises((ConnectionResetError, ssl.SSLError, BrokenPipeError)):
            connect(guarded)
        held.pop().close()
        with connect(guarded) as again:
            again.sendall(head())
            assert read_all(again).startswith(b"HTTP/1.1 200 ")
    finally:
        for s in held:
            s.close()


def test_the_listener_still_serves_after_all_this(guarded: Bank) -> None:
    with guarded.client("partner") as c:
        assert c.get("/v1/accounts").status_code == 200


def test_a_cbc_cipher_suite_is_refused(guarded: Bank) -> None:
    """TLS 1.2 with ECDHE-ECDSA-AES128-SHA256 (CBC, accepted before) fails the handshake:
    only AEAD suites are offered."""
    cipher = "ECDHE-ECDSA-AES128-SHA256"
    ctx = tls.client_context(guarded.adapter.client("partner"), guarded.adapter.ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(cipher)
    raw = socket.create_connection(("127.0.0.1", guarded.adapter.app.http_port), timeout=10)
    with pytest.raises(ssl.SSLError), ctx.wrap_socket(raw, server_hostname="localhost"):
        pass


def test_an_aead_suite_over_tls12_is_accepted(guarded: Bank) -> None:
    ctx = tls.client_context(guarded.adapter.client("partner"), guarded.adapter.ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    raw = socket.create_connection(("127.0.0.1", guarded.adapter.app.http_port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        assert s.cipher()[0] == "ECDHE-ECDSA-AES128-GCM-SHA256"
