"""The core trusts only the adapter: caller certificates never reach either core listener,
and inside the core-link domain each listener pins the identity it serves."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapter.infra.tls import TlsFiles, client_context
from adapter.infra.trust_domains import CORE_LINK_CA
from adapter.security import pki
from tests.core_sim.test_iso_messages import ECHO, ECHO_OK, TRANSFER
from tests.harness.core import RunningCore, running_core

# Every certificate a caller of the adapter can hold: the demo callers, the mobile relay, the
# adapter's own server certificate, and one of the callers' CA for a name nobody registered.
CALLER_CERTIFICATES = ("partner", "legacy", "internal", "mobile", "stranger", "server")


@pytest.fixture(scope="module")
def trust_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("trust-pki")
    pki.init(path)
    pki.issue(path, "mobile")
    pki.issue(path, "stranger")
    # Signed by the core-link CA under a name the core serves nowhere.
    pki.issue(path, "rogue-link", domain=CORE_LINK_CA)
    return path


@pytest.fixture(scope="module")
def core(trust_pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCore]:
    with running_core(trust_pki, tmp_path_factory.mktemp("trust-core") / "core.db") as running:
        yield running


def _link_ca(core: RunningCore) -> Path:
    return TlsFiles.from_dir(core.pki_dir, "core").ca


def _context(core: RunningCore, name: str, tls12: bool = False) -> ssl.SSLContext:
    ctx = client_context(TlsFiles.from_dir(core.pki_dir, name), _link_ca(core))
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def _exchange(core: RunningCore, port: int, ctx: ssl.SSLContext, data: bytes) -> bytes:
    """Handshake, send `data`, read until the core closes: b"" when it answered nothing."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost") as conn:
        conn.sendall(data)
        received = b""
        while chunk := conn.recv(4096):
            received += chunk
        return received


def _refused(core: RunningCore, port: int, name: str, data: bytes) -> None:
    """TLS 1.2 fails in the handshake; TLS 1.3 shows the refusal as a close unanswered."""
    for tls12 in (True, False):
        try:
            answer = _exchange(core, port, _context(core, name, tls12), data)
        except (ssl.SSLError, ConnectionResetError):
            continue
        assert answer == b"", f"the core answered {name!r} on port {port}"


def _http(method: str, path: str, body: bytes = b"") -> bytes:
    return (f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


def _framed(message: bytes) -> bytes:
    return len(message).to_bytes(2, "big") + message


@pytest.mark.parametrize("name", CALLER_CERTIFICATES)
def test_no_caller_certificate_reaches_a_core_listener(core: RunningCore, name: str) -> None:
    """A caller's certificate gets no answer from the SOAP service, the fault switches or the
    ISO 8583 host: no booking, no switch changed, ledger totals unchanged."""
    before = core.ledger.totals(), core.ledger.balance("10000001"), core.faults.to_dict()
    booking = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body/>'
               b"</s:Envelope>")
    _refused(core, core.soap_port, name, _http("POST", "/core/v1", booking))
    _refused(core, core.soap_port, name,
             _http("PUT", "/admin/faults", json.dumps({"stop_answering": True}).encode()))
    assert core.iso_port is not None
    _refused(core, core.iso_port, name, _framed(TRANSFER))
    assert (core.ledger.totals(), core.ledger.balance("10000001"),
            core.faults.to_dict()) == before


def test_a_link_certificate_of_another_name_is_refused_everywhere(core: RunningCore) -> None:
    """A certificate of the core-link CA for a name the core does not serve: the connection
    is closed on both listeners before anything is read."""
    before = core.ledger.totals(), core.faults.to_dict()
    _refused(core, core.soap_port, "rogue-link", _http("GET", "/admin/faults"))
    assert core.iso_port is not None
    _refused(core, core.iso_port, "rogue-link", _framed(TRANSFER))
    assert (core.ledger.totals(), core.faults.to_dict()) == before


def test_the_operator_changes_switches_and_nothing_else(core: RunningCore) -> None:
    """core-operator: /admin/faults answers; the SOAP service is 403; the ISO host closes."""
    admin = core.soap_url.replace("/core/v1", "/admin/faults")
    before = core.ledger.totals()
    with httpx.Client(verify=_context(core, "core-operator"), trust_env=False) as operator:
        assert operator.get(admin).status_code == 200
        refused = operator.post(core.soap_url, content=b"<x/>")
        wsdl = operator.get(core.soap_url + "?wsdl")
    assert (refused.status_code, refused.json()) == (
        403, {"error": "the certificate 'core-operator' may not use /core/v1"})
    assert wsdl.status_code == 403
    assert core.iso_port is not None
    _refused(core, core.iso_port, "core-operator", _framed(ECHO))
    assert core.ledger.totals() == before


def test_the_adapter_link_certificate_cannot_touch_the_switches(core: RunningCore) -> None:
    """adapter-client: the ISO host and SOAP service answer; /admin/faults is 403, unchanged."""
    admin = core.soap_url.replace("/core/v1", "/admin/faults")
    before = core.faults.to_dict()
    with httpx.Client(verify=_context(core, "adapter-client"), trust_env=False) as link:
        refused = link.put(admin, json={"stop_answering": True})
        assert link.get(core.soap_url + "?wsdl").status_code == 200
    assert (refused.status_code, refused.json()) == (
        403, {"error": "the certificate 'adapter-client' may not use /admin/faults"})
    assert core.faults.to_dict() == before
    assert core.iso_port is not None
    with socket.create_connection(("127.0.0.1", core.iso_port), timeout=5) as raw, \
            _context(core, "adapter-client").wrap_socket(raw, server_hostname="localhost") as c:
        c.sendall(_framed(ECHO))
        expected = _framed(ECHO_OK)
        received = b""
        while len(received) < len(expected):
            chunk = c.recv(4096)
            assert chunk, "the ISO host closed the adapter's connection"
            received += chunk
    assert received == expected
