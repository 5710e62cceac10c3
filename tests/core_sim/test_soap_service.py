"""The core's SOAP service over HTTPS with mutual TLS: contract, hardening, refusals, faults."""

from __future__ import annotations

import socket
import ssl
import time
from pathlib import Path
from xml.sax.saxutils import escape

import httpx
import pytest
from lxml import etree

from adapter.infra.tls import TlsFiles, client_context
from core_sim.soap_service import DEFAULT_ADDRESS, TNS, service_wsdl
from tests.harness.core import RunningCore

WSDL_FILE = Path(__file__).resolve().parents[2] / "wsdl" / "core_sim.wsdl"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def envelope(operation: str, **fields: str) -> bytes:
    body = "".join(f"<c:{k}>{escape(v)}</c:{k}>" for k, v in fields.items())
    return (f'<s:Envelope xmlns:s="{SOAP_ENV}" xmlns:c="{TNS}"><s:Body>'
            f"<c:{operation}>{body}</c:{operation}></s:Body></s:Envelope>").encode()


def client(core: RunningCore, name: str = "adapter-client", **kwargs: object) -> httpx.Client:
    files = TlsFiles.from_dir(core.pki_dir, name)
    ctx = client_context(files, TlsFiles.from_dir(core.pki_dir, "core").ca)
    return httpx.Client(verify=ctx, trust_env=False, **kwargs)  # type: ignore[arg-type]


def call(http: httpx.Client, core: RunningCore, operation: str, **fields: str) -> httpx.Response:
    return http.post(core.soap_url, content=envelope(operation, **fields),
                     headers={"content-type": "text/xml; charset=utf-8"})


def text(response: httpx.Response, path: str) -> str | None:
    root = etree.fromstring(response.content)
    found = root.find(path, {"c": TNS, "s": SOAP_ENV})
    return None if found is None else found.text


def fault_code(response: httpx.Response) -> tuple[str | None, str | None]:
    return (text(response, ".//s:Fault/faultcode"), text(response, ".//c:CoreError/c:Code"))


POST = {"Reference": "SOAP00000001", "DebtorAccountId": "10000001",
        "CreditorAccountId": "10000002", "Amount": "12.50", "Currency": "EUR",
        "EndToEndId": "E2E-SOAP-1"}


def test_served_wsdl_matches_the_committed_contract(core_sim: RunningCore) -> None:
    """The served WSDL, its address normalised, is the committed wsdl/core_sim.wsdl."""
    with client(core_sim) as http:
        served = http.get(core_sim.soap_url + "?wsdl")
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("text/xml")
    normalised = served.content.replace(core_sim.soap_url.encode(), DEFAULT_ADDRESS.encode())
    assert normalised == WSDL_FILE.read_bytes() == service_wsdl(), (
        "the SOAP contract changed: regenerate with "
        "`.venv/bin/python -m core_sim.soap_service > wsdl/core_sim.wsdl` and review the diff")


def test_balance_and_posting_round_trip(core_sim: RunningCore) -> None:
    """GetBalance answers decimals in the account currency; PostTransfer books exactly once."""
    with client(core_sim) as http:
        balance = call(http, core_sim, "GetBalance", AccountId="10000002")
        first = call(http, core_sim, "PostTransfer", **POST)
        again = call(http, core_sim, "PostTransfer", **POST)
        status = call(http, core_sim, "GetTransferStatus", Reference="SOAP00000001")
        unknown = call(http, core_sim, "GetTransferStatus", Reference="SOAP00000099")
    assert (text(balance, ".//c:Booked"), text(balance, ".//c:Available")) == ("2500.00",
                                                                               "3000.00")
    assert (text(first, ".//c:State"), text(first, ".//c:Replayed")) == ("BOOKED", "false")
    assert (text(again, ".//c:State"), text(again, ".//c:Replayed")) == ("BOOKED", "true")
    assert text(status, ".//c:TransactionId") == text(first, ".//c:TransactionId")
    assert text(unknown, ".//c:State") == "NOT_FOUND"
    assert core_sim.ledger.balance("10000001")[0] == 998_750
    assert core_sim.ledger.entry_count("SOAP00000001") == 2


@pytest.mark.parametrize(
    ("operation", "fields", "code"),
    [
        ("GetBalance", {"AccountId": "99999999"}, "ACCOUNT_NOT_FOUND"),
        ("GetAccount", {"Iban": "DE02120300000000202051", "AccountId": "10000002"},
         "VALIDATION"),
        ("PostTransfer", {**POST, "Amount": "99999.00"}, "INSUFFICIENT_FUNDS"),
        ("PostTransfer", {**POST, "Amount": "1.005"}, "VALIDATION"),
        ("PostTransfer", {**POST, "Currency": "USD"}, "CURRENCY_MISMATCH"),
        ("PostTransfer", {**POST, "CreditorAccountId": "10000006"}, "ACCOUNT_BLOCKED"),
        ("PostTransfer", {k: v for k, v in POST.items() if k != "CreditorAccountId"}
         | {"BillerId": "NOPE01", "CustomerReference": "X1"}, "BILLER_NOT_FOUND"),
    ],
)
def test_refusals_are_client_faults_with_the_code_in_the_detail(
    core_sim: RunningCore, operation: str, fields: dict[str, str], code: str,
) -> None:
    """A refusal is HTTP 500 with faultcode Client.<CODE> and <CoreError><Code> in the detail."""
    with client(core_sim) as http:
        response = call(http, core_sim, operation, **fields)
    assert response.status_code == 500
    assert fault_code(response) == (f"soap11env:Client.{code}", code)
    assert core_sim.ledger.totals() == {"EUR": 1_750_000, "JPY": 1_000_000, "USD": 800_000}
    assert core_sim.ledger.transfer_status(POST["Reference"]) is None


def test_body_limits_and_methods(core_sim: RunningCore) -> None:
    """Oversized bodies get 413, empty bodies a SOAP Fault (500, WS-I BP R1126), other methods
    405, unknown paths 404."""
    with client(core_sim) as http:
        big = http.post(core_sim.soap_url, content=b"<a>" + b"x" * (1 << 20) + b"</a>",
                        headers={"content-type": "text/xml"})
        empty = http.post(core_sim.soap_url, content=b"", headers={"content-type": "text/xml"})
        put = http.put(core_sim.soap_url, content=b"<a/>")
        missing = http.get(core_sim.soap_url.replace("/core/v1", "/nope"))
    assert (big.status_code, empty.status_code, put.status_code, missing.status_code) == (
        413, 500, 405, 404)


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
        b"<x>&b;</x>",
        b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>',
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'
        .encode("utf-16"),
        b"<not-closed>",
    ],
)
def test_hostile_xml_is_refused_as_a_client_fault(core_sim: RunningCore, body: bytes) -> None:
    """Any DOCTYPE (in any encoding) and malformed XML are refused as Client.XmlRefused."""
    with client(core_sim) as http:
        response = http.post(core_sim.soap_url, content=body,
                             headers={"content-type": "text/xml"})
    assert response.status_code == 500
    assert fault_code(response)[0] == "soap11env:Client.XmlRefused"


def _handshake_then_read(core: RunningCore, ctx: ssl.SSLContext) -> bytes:
    with socket.create_connection(("127.0.0.1", core.soap_port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(b"GET /core/v1?wsdl HTTP/1.1\r\nHost: localhost\r\n\r\n")
        return tls.recv(1024)


def _refused(core: RunningCore, files: TlsFiles | None) -> None:
    """TLS 1.2 verifies the client before the handshake ends, so it fails there; TLS 1.3 lets
    the client finish first, so the refusal shows as the connection closing unanswered."""
    link_ca = TlsFiles.from_dir(core.pki_dir, "core").ca  # verifies the core's certificate
    tls12 = client_context(files, link_ca)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        _handshake_then_read(core, tls12)
    try:
        answer = _handshake_then_read(core, client_context(files, link_ca))
    except (ssl.SSLError, ConnectionResetError):
        return
    assert answer == b"", "the core answered a client it should have refused"


def test_mtls_refuses_a_client_without_a_certificate(core_sim: RunningCore) -> None:
    """A client that presents no certificate never gets an HTTP answer, in TLS 1.2 or 1.3."""
    _refused(core_sim, None)


def test_mtls_refuses_a_certificate_from_a_foreign_ca(core_sim: RunningCore,
                                                       foreign_pki_dir: Path) -> None:
    """A client certificate signed by another CA never gets an HTTP answer, in TLS 1.2 or 1.3."""
    _refused(core_sim, TlsFiles.from_dir(foreign_pki_dir, "adapter-client"))


def test_mtls_accepts_the_adapters_certificate_on_tls12(core_sim: RunningCore) -> None:
    """The same raw probe with the adapter's certificate gets an HTTP answer (a sound probe)."""
    link = TlsFiles.from_dir(core_sim.pki_dir, "adapter-client")
    ctx = client_context(link, link.ca)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    assert _handshake_then_read(core_sim, ctx).startswith(b"HTTP/1.1 200")


def test_client_refuses_a_core_it_does_not_trust(core_sim: RunningCore,
                                                  foreign_pki_dir: Path) -> None:
    """A client trusting only the foreign CA refuses the core's certificate at the handshake."""
    foreign = TlsFiles.from_dir(foreign_pki_dir, "adapter-client")
    ctx = client_context(foreign, foreign.ca)
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake_then_read(core_sim, ctx)


def test_admin_endpoint_reads_and_changes_faults(core_sim: RunningCore) -> None:
    """PUT /admin/faults changes the running core's faults; invalid values are 400, no change."""
    admin = core_sim.soap_url.replace("/core/v1", "/admin/faults")
    with client(core_sim, "core-operator") as http:
        changed = http.put(admin, json={"latency_ms": 7, "drop_mode": "hang"})
        refused = http.put(admin, json={"error_rate": 2})
        unknown = http.put(admin, json={"bogus": 1})
        current = http.get(admin)
    assert changed.status_code == 200
    assert (refused.status_code, unknown.status_code) == (400, 400)
    assert current.json() == {"latency_ms": 7, "error_rate": 0.0, "drop_reply_rate": 0.0,
                              "drop_mode": "hang", "fail_next": 0, "drop_next": 0,
                              "stop_answering": False}
    assert core_sim.faults.latency_ms == 7


def test_injected_latency_delays_the_answer(core_sim: RunningCore) -> None:
    """With latency_ms=300 a call takes at least 0.3 s and still succeeds."""
    core_sim.faults.update(latency_ms=300)
    with client(core_sim) as http:
        started = time.perf_counter()
        response = call(http, core_sim, "GetBalance", AccountId="10000001")
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert elapsed >= 0.3


def test_injected_error_refuses_before_booking(core_sim: RunningCore) -> None:
    """fail_next=1 answers Server.CORE_UNAVAILABLE and books nothing; the next call succeeds."""
    core_sim.faults.update(fail_next=1)
    with client(core_sim) as http:
        failed = call(http, core_sim, "PostTransfer", **POST)
        assert core_sim.ledger.transfer_status(POST["Reference"]) is None
        booked = call(http, core_sim, "PostTransfer", **POST)
    assert fault_code(failed) == ("soap11env:Server.CORE_UNAVAILABLE", "CORE_UNAVAILABLE")
    assert text(booked, ".//c:State") == "BOOKED"
    assert core_sim.ledger.balance("10000001")[0] == 998_750


def test_drop_reset_commits_the_posting_and_aborts_the_connection(core_sim: RunningCore) -> None:
    """drop_next=1 in reset mode: the posting is booked and the client sees the connection die."""
    core_sim.faults.update(drop_next=1, drop_mode="reset")
    with client(core_sim) as http, pytest.raises(
            (httpx.RemoteProtocolError, httpx.ReadError)):
        call(http, core_sim, "PostTransfer", **POST)
    posting = core_sim.ledger.transfer_status(POST["Reference"])
    assert posting is not None and posting.state == "booked"
    assert core_sim.ledger.balance("10000001")[0] == 998_750
    assert core_sim.faults.drop_next == 0


def test_drop_hang_commits_the_posting_and_never_answers(core_sim: RunningCore) -> None:
    """drop_next=1 in hang mode: the posting is booked and the client times out waiting."""
    core_sim.faults.update(drop_next=1, drop_mode="hang")
    with client(core_sim, timeout=httpx.Timeout(5, read=0.5)) as http, pytest.raises(
            httpx.ReadTimeout):
        call(http, core_sim, "PostTransfer", **POST)
    posting = core_sim.ledger.transfer_status(POST["Reference"])
    assert posting is not None and posting.state == "booked"
    assert core_sim.ledger.entry_count(POST["Reference"]) == 2


def test_stop_answering_leaves_soap_silent_and_books_nothing(core_sim: RunningCore) -> None:
    """stop_answering: a PostTransfer gets no answer and books nothing; the admin endpoint
    still answers, and switching it off brings the service back."""
    admin = core_sim.soap_url.replace("/core/v1", "/admin/faults")
    before = core_sim.ledger.totals(), core_sim.ledger.balance("10000001")
    with client(core_sim) as http, client(core_sim, "core-operator") as operator:
        assert operator.put(admin, json={"stop_answering": True}).json()["stop_answering"]
        with pytest.raises(httpx.TimeoutException):
            http.post(core_sim.soap_url, content=b"<x/>", timeout=0.5)
        assert operator.put(admin, json={"stop_answering": False}).status_code == 200
        assert http.get(core_sim.soap_url + "?wsdl").status_code == 200
    assert (core_sim.ledger.totals(), core_sim.ledger.balance("10000001")) == before
