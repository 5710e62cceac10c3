"""Revocation reaches connections the core accepted before it (server Rule 6, iso_host Rule 7):
the exchange in flight finishes, the next request on the connection is refused and books
nothing, the connection is closed, and a new one with the certificate fails.

Each test has its own PKI folder and core; `pki revoke` runs as the operator would, and the
test waits for the core's reload (`Reloader.wait_loaded`) with a deadline, never a sleep. A
posting the test holds inside the core waits on a threading event the test sets.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from adapter.infra.tls import TlsFiles, client_context
from adapter.security import pki
from core_sim.iso8583.codec import Codec, Message
from core_sim.iso8583.elements import pack_tlv
from core_sim.soap_service import TNS
from tests.core_sim.test_soap_service import POST, SOAP_ENV, envelope
from tests.harness.core import RunningCore, running_core

RELOADED_WITHIN = 5.0
codec = Codec()


@pytest.fixture
def own_pki(tmp_path: Path) -> Path:
    path = tmp_path / "pki"
    pki.init(path)
    return path


@pytest.fixture
def core(own_pki: Path, tmp_path: Path) -> Iterator[RunningCore]:
    with running_core(own_pki, tmp_path / "core.db") as running:
        yield running


class Gate:
    """Holds every posting inside the core (in `faults.delay`) until `release`."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.released = threading.Event()

    async def __call__(self, operation: str = "") -> None:
        self.arrived.set()
        await asyncio.to_thread(self.released.wait, 30)


def _connect(core: RunningCore, port: int, name: str = "adapter-client") -> ssl.SSLSocket:
    files = TlsFiles.from_dir(core.pki_dir, name)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return client_context(files, files.ca).wrap_socket(raw, server_hostname="localhost")


def _revoke_and_reload(core: RunningCore, name: str) -> TlsFiles:
    """`pki revoke NAME`, the core's reload awaited; the revoked files where they went."""
    live = TlsFiles.from_dir(core.pki_dir, name)
    moved = pki.revoke(core.pki_dir, name).moved_to
    assert core.sim.reloader.wait_loaded(RELOADED_WITHIN)
    assert core.sim.reloader.failures == 0
    return TlsFiles(moved, moved.with_suffix(".key"), live.ca)


def _refused_at_handshake(port: int, files: TlsFiles, data: bytes) -> None:
    """A new connection with a revoked certificate gets nothing: TLS 1.2 fails the handshake,
    TLS 1.3 (where the client's certificate is checked after the client's Finished) closes."""
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        with client_context(files, files.ca).wrap_socket(raw, server_hostname="localhost") as c:
            c.sendall(data)
            assert c.recv(4096) == b"", f"port {port} answered a revoked certificate"
    except (ssl.SSLError, ConnectionResetError):
        pass


# -- SOAP -------------------------------------------------------------------------------------

def _http_post(conn: ssl.SSLSocket, path: str, body: bytes) -> None:
    conn.sendall(f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml; "
                 f"charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)


def _http_response(conn: ssl.SSLSocket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body, read exactly."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        assert chunk, f"the connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    while len(body) < int(headers["content-length"]):
        chunk = conn.recv(4096)
        assert chunk, "the connection closed inside a response body"
        body += chunk
    return int(status_line.split()[1]), headers, body


def _end_of_stream(conn: ssl.SSLSocket) -> bytes:
    received = b""
    while chunk := conn.recv(4096):
        received += chunk
    return received


def _state(body: bytes) -> str | None:
    found = etree.fromstring(body).find(".//c:State", {"c": TNS, "s": SOAP_ENV})
    return None if found is None else found.text


def _posting(reference: str, amount: str) -> bytes:
    return envelope("PostTransfer", **{**POST, "Reference": reference, "Amount": amount,
                                       "EndToEndId": f"E2E-{reference}"})


def test_soap_answers_the_request_in_flight_then_refuses_the_next_and_closes(
        core: RunningCore, monkeypatch: pytest.MonkeyPatch) -> None:
    """One posting booked, a second held inside the core while adapter-client is revoked and
    reloaded: the second is answered 200 BOOKED; the third on that connection is 403 with
    `Connection: close`, books nothing, and the core closes the connection; a new connection
    fails; the operator's connection, not revoked, is still served."""
    path = core.soap_url.removeprefix(f"https://localhost:{core.soap_port}")
    admin = path.replace("/core/v1", "/admin/faults")
    alice, bob = core.ledger.balance("10000001")[0], core.ledger.balance("10000002")[0]
    totals = core.ledger.totals()
    gate = Gate()
    with _connect(core, core.soap_port) as link, \
            _connect(core, core.soap_port, "core-operator") as operator:
        _http_post(link, path, _posting("REVOKESOAP01", "1.00"))
        first = _http_response(link)
        monkeypatch.setattr(core.sim.faults, "delay", gate)
        _http_post(link, path, _posting("REVOKESOAP02", "2.00"))
        try:
            assert gate.arrived.wait(10)
            revoked = _revoke_and_reload(core, "adapter-client")
        finally:
            gate.released.set()
        in_flight = _http_response(link)
        _http_post(link, path, _posting("REVOKESOAP03", "4.00"))
        refused = _http_response(link)
        after = _end_of_stream(link)
        operator.sendall(f"GET {admin} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        switches = _http_response(operator)
    _refused_at_handshake(core.soap_port, revoked,
                          f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())

    assert (first[0], _state(first[2])) == (in_flight[0], _state(in_flight[2])) == (
        200, "BOOKED")
    status, headers, body = refused
    assert (status, headers["connection"], body) == (
        403, "close", b'{"error":"the certificate \'adapter-client\' has been revoked"}')
    assert after == b""
    assert switches[0] == 200
    assert core.ledger.transfer_status("REVOKESOAP03") is None
    assert (core.ledger.balance("10000001")[0], core.ledger.balance("10000002")[0]) == (
        alice - 300, bob + 300)
    assert core.ledger.totals() == totals


# -- ISO 8583 ---------------------------------------------------------------------------------

def _transfer(reference: str, stan: str, amount_minor: int) -> bytes:
    msg: Message = {"t": "0200", "3": "400000", "4": f"{amount_minor:012d}",
                    "7": "1128233634", "11": stan, "12": "233634", "13": "1128",
                    "37": reference, "41": "ADAPTER1",
                    "48": pack_tlv({"E2": f"E2E-{reference}"}), "49": "978",
                    "102": "10000001", "103": "10000002"}
    frame = codec.encode(msg)
    return len(frame).to_bytes(2, "big") + frame


def _reply(conn: ssl.SSLSocket) -> Message:
    data = b""
    while len(data) < 2 or len(data) < 2 + int.from_bytes(data[:2], "big"):
        chunk = conn.recv(4096)
        assert chunk, f"the ISO host closed the connection before a reply: {data!r}"
        data += chunk
    size = int.from_bytes(data[:2], "big")
    assert len(data) == 2 + size, "more than one reply arrived at once"
    return codec.decode(data[2:])


def test_iso_finishes_the_exchange_in_flight_then_refuses_with_63_and_closes(
        core: RunningCore, monkeypatch: pytest.MonkeyPatch) -> None:
    """One 0200 booked, a second held inside the core (latency) while adapter-client is
    revoked and reloaded: the next 0200 on the connection is answered 39 = 63 and books
    nothing, the held one is still answered 00, then the host closes; a new connection with
    the revoked certificate gets nothing."""
    assert core.iso_port is not None
    alice, bob = core.ledger.balance("10000001")[0], core.ledger.balance("10000002")[0]
    totals = core.ledger.totals()
    gate = Gate()
    with _connect(core, core.iso_port) as link:
        link.sendall(_transfer("REVOKEISO001", "000001", 100))
        first = _reply(link)
        core.faults.update(latency_ms=1)  # postings go through faults.delay: the gate
        monkeypatch.setattr(core.sim.faults, "delay", gate)
        link.sendall(_transfer("REVOKEISO002", "000002", 200))
        try:
            assert gate.arrived.wait(10)
            revoked = _revoke_and_reload(core, "adapter-client")
            link.sendall(_transfer("REVOKEISO003", "000003", 400))
            refused = _reply(link)
        finally:
            gate.released.set()
        in_flight = _reply(link)
        after = _end_of_stream(link)
    _refused_at_handshake(core.iso_port, revoked, _transfer("REVOKEISO004", "000004", 800))

    assert (first["t"], first["37"], first["39"]) == ("0210", "REVOKEISO001", "00")
    assert (refused["t"], refused["11"], refused["37"], refused["39"]) == (
        "0210", "000003", "REVOKEISO003", "63")
    assert "48" not in refused  # no transaction id: nothing was booked
    assert (in_flight["t"], in_flight["37"], in_flight["39"]) == ("0210", "REVOKEISO002", "00")
    assert after == b""
    for reference in ("REVOKEISO003", "REVOKEISO004"):
        assert core.ledger.transfer_status(reference) is None
    assert (core.ledger.balance("10000001")[0], core.ledger.balance("10000002")[0]) == (
        alice - 300, bob + 300)
    assert core.ledger.totals() == totals


def test_a_reload_that_revokes_someone_else_leaves_open_connections_alone(
        core: RunningCore) -> None:
    """core-operator revoked: the adapter's open ISO 8583 connection keeps being served (the
    verdict is asked again at the new generation, and stays "not revoked")."""
    assert core.iso_port is not None
    alice = core.ledger.balance("10000001")[0]
    with _connect(core, core.iso_port) as link:
        link.sendall(_transfer("REVOKEISO011", "000011", 100))
        assert _reply(link)["39"] == "00"
        generation = core.sim.revocations.generation
        _revoke_and_reload(core, "core-operator")
        assert core.sim.revocations.generation == generation + 1
        link.sendall(_transfer("REVOKEISO012", "000012", 200))
        assert _reply(link)["39"] == "00"
    assert core.ledger.balance("10000001")[0] == alice - 300
