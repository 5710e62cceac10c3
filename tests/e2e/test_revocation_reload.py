"""Revocation and reload without restart on all four mutual-TLS listeners: the adapter's HTTPS
and gRPC listeners (callers' CRL) and the core's SOAP and ISO 8583 listeners (core-link CRL).

Each test has its own PKI folder. `pki revoke` runs as the operator would run it; the test then
waits, with a deadline, until the listener has loaded the files as they are now
(`Reloader.wait_loaded`), never for a fixed time.
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from cryptography import x509

from adapter.cli import main
from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2_grpc as pb_grpc
from adapter.infra import tls
from adapter.provision import register_client
from adapter.security import pki
from adapter.services.clients import Caller, Operation
from tests.core_sim.test_iso_messages import ECHO, ECHO_OK, TRANSFER
from tests.harness.adapter import RunningAdapter, run_adapter
from tests.harness.core import RunningCore, running_core

RELOADED_WITHIN = 5.0  # seconds: the default watch looks every second
AMOUNT_MINOR = 1234
# ECHO_OK with field 39 = 63 ("security violation"): the echo refused, not answered 00.
ECHO_REFUSED = ECHO_OK.replace(b"000002" b"00" b"ADAPTER1", b"000002" b"63" b"ADAPTER1")


@pytest.fixture
def own_pki(tmp_path: Path) -> Path:
    path = tmp_path / "pki"
    pki.init(path)
    return path


@pytest.fixture
def core(own_pki: Path, tmp_path: Path) -> Iterator[RunningCore]:
    with running_core(own_pki, tmp_path / "core.db") as running:
        yield running


@pytest.fixture
def adapter(core: RunningCore, own_pki: Path, tmp_path: Path) -> Iterator[RunningAdapter]:
    with run_adapter(tmp_path, own_pki, core_soap_url=core.soap_url) as running:
        yield running


def _client(adapter: RunningAdapter, files: tls.TlsFiles) -> httpx.Client:
    return httpx.Client(verify=tls.client_context(files, adapter.ca), trust_env=False,
                        base_url=adapter.base_url, timeout=10)


def _channel(adapter: RunningAdapter, files: tls.TlsFiles) -> grpc.aio.Channel:
    return grpc.aio.secure_channel(adapter.grpc_target,
                                   tls.grpc_channel_credentials(files, adapter.ca))


def _revoke(pki_dir: Path, name: str) -> tls.TlsFiles:
    """`bank-adapter pki revoke NAME`; the revoked files where it moved them."""
    serial = x509.load_pem_x509_certificate((pki_dir / f"{name}.crt").read_bytes()).serial_number
    assert main(["pki", "revoke", name, "--dir", str(pki_dir)]) == 0
    moved = pki_dir / "revoked" / f"{name}-{serial:x}"
    live = tls.TlsFiles.from_dir(pki_dir, name)
    return tls.TlsFiles(moved.with_suffix(".crt"), moved.with_suffix(".key"), live.ca)


def _new_connection_refused(adapter: RunningAdapter, files: tls.TlsFiles) -> None:
    with _client(adapter, files) as c, pytest.raises(
            (httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
        c.get("/v1/accounts")


def _transfer_body() -> dict[str, Any]:
    return {"debtorAccount": {"id": "10000001"}, "creditorAccount": {"id": "10000002"},
            "instructedAmount": {"currency": "EUR", "amount": "12.34"},
            "endToEndIdentification": "E2E-REVOKE"}


def test_revoked_callers_are_refused_and_work_in_flight_finishes(
        adapter: RunningAdapter, core: RunningCore, monkeypatch: pytest.MonkeyPatch) -> None:
    """partner and internal revoked while a partner transfer waits inside the core and an
    internal event stream is open: after the reload, new HTTPS connections fail the handshake,
    a new request on partner's open connection is 401, a new gRPC call is UNAUTHENTICATED;
    the transfer in flight books exactly once and the open stream still delivers its event."""
    partner = adapter.client("partner")
    internal = adapter.client("internal")
    reloader = adapter.app.reloader
    assert reloader is not None
    arrived, release = threading.Event(), threading.Event()

    # The core holds the posting here until the test lets it go.
    async def gate(operation: str = "") -> None:
        arrived.set()
        await asyncio.to_thread(release.wait, 30)

    before = core.ledger.balance("10000001")[0], core.ledger.balance("10000002")[0]
    totals = core.ledger.totals()

    async def scenario() -> dict[str, Any]:
        try:
            return await steps()
        finally:
            release.set()  # never leave the core holding a posting, even when a step fails

    async def steps() -> dict[str, Any]:
        async with _channel(adapter, internal) as channel:
            stub = pb_grpc.BankingServiceStub(channel)
            watch = stub.WatchTransactions(pb.WatchTransactionsRequest())
            await asyncio.wait_for(watch.initial_metadata(), 10)
            with _client(adapter, partner) as open_partner:
                assert open_partner.get("/v1/accounts").status_code == 200
                monkeypatch.setattr(core.sim.faults, "delay", gate)
                booking = asyncio.ensure_future(asyncio.to_thread(
                    open_partner.post, "/v1/transfers", json=_transfer_body(),
                    headers={"Idempotency-Key": str(uuid.uuid4())}))
                assert await asyncio.to_thread(arrived.wait, 10)

                revoked_partner = _revoke(adapter.pki_dir, "partner")
                revoked_internal = _revoke(adapter.pki_dir, "internal")
                assert await asyncio.to_thread(reloader.wait_loaded, RELOADED_WITHIN)
                assert reloader.failures == 0

                await asyncio.to_thread(_new_connection_refused, adapter, revoked_partner)
                with pytest.raises(grpc.aio.AioRpcError) as refused_call:
                    await stub.ListAccounts(pb.ListAccountsRequest(), timeout=10)
                async with _channel(adapter, revoked_internal) as fresh:
                    with pytest.raises(grpc.aio.AioRpcError) as refused_channel:
                        await pb_grpc.BankingServiceStub(fresh).ListAccounts(
                            pb.ListAccountsRequest(), timeout=10)

                release.set()
                booked = await asyncio.wait_for(booking, 20)
                event = await asyncio.wait_for(watch.read(), 10)
                watch.cancel()
                after_on_open = await asyncio.to_thread(open_partner.get, "/v1/accounts")
        return {"booked": booked, "event": event, "open": after_on_open,
                "call": refused_call.value, "channel": refused_channel.value}

    out = asyncio.run(scenario())
    booked, event, on_open = out["booked"], out["event"], out["open"]
    assert booked.status_code == 201, booked.text
    assert booked.json()["transactionStatus"] == "ACSC"
    assert (event.payment_id, event.type) == (booked.json()["paymentId"], pb.EVENT_TYPE_BOOKED)
    assert (core.ledger.balance("10000001")[0], core.ledger.balance("10000002")[0]) == (
        before[0] - AMOUNT_MINOR, before[1] + AMOUNT_MINOR)
    assert core.ledger.totals() == totals
    assert on_open.status_code == 401
    assert on_open.json()["detail"] == ("a valid client certificate is required: none was "
                                        "presented or it has been revoked")
    for err in (out["call"], out["channel"]):
        assert (err.code(), err.details()) == (grpc.StatusCode.UNAUTHENTICATED,
                                               "this client certificate has been revoked")


def test_the_clients_file_and_server_certificate_reload(adapter: RunningAdapter) -> None:
    """A caller registered while the adapter runs is served without a restart; a re-issued
    server certificate is what new HTTPS and gRPC connections see."""
    reloader = adapter.app.reloader
    assert reloader is not None
    pki.issue(adapter.pki_dir, "acme")
    with _client(adapter, adapter.client("acme")) as acme:
        assert acme.get("/v1/accounts").status_code == 403
        register_client(adapter.state_dir, Caller(
            id="acme", accounts=frozenset({"10000001"}), operations=frozenset({Operation.READ})))
        assert reloader.wait_loaded(RELOADED_WITHIN)
        listed = acme.get("/v1/accounts")
    assert listed.status_code == 200
    assert [a["resourceId"] for a in listed.json()["accounts"]] == ["10000001"]

    old = x509.load_pem_x509_certificate((adapter.pki_dir / "server.crt").read_bytes())
    retired = adapter.pki_dir / "retired"
    retired.mkdir()
    for suffix in (".crt", ".key"):
        shutil.move(adapter.pki_dir / f"server{suffix}", retired / f"server{suffix}")
    pki.issue(adapter.pki_dir, "server", server=True)
    assert reloader.wait_loaded(RELOADED_WITHIN)
    new = x509.load_pem_x509_certificate((adapter.pki_dir / "server.crt").read_bytes())
    assert new.serial_number != old.serial_number
    for port, alpn in ((adapter.app.http_port, None), (adapter.app.grpc_port, ["h2"])):
        assert port is not None
        assert _served_serial(adapter, port, alpn) == new.serial_number


def _served_serial(adapter: RunningAdapter, port: int, alpn: list[str] | None) -> int:
    ctx = tls.client_context(adapter.client("partner"), adapter.ca)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost") as conn:
        der = conn.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_a_broken_crl_keeps_the_previous_one(adapter: RunningAdapter) -> None:
    """A CRL that does not parse fails the reload (counted, logged); the listeners keep the
    files they had: partner is still served on a new connection."""
    reloader = adapter.app.reloader
    assert reloader is not None
    generation, failures = reloader.generation, reloader.failures
    (adapter.pki_dir / "ca.crl").write_text("-----BEGIN X509 CRL-----\nbroken\n")
    assert reloader.wait_for(generation + 1, RELOADED_WITHIN)
    assert reloader.failures == failures + 1
    with _client(adapter, adapter.client("partner")) as c:
        assert c.get("/v1/accounts").status_code == 200


def _tls_exchange(port: int, ctx: ssl.SSLContext, data: bytes, want: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost") as conn:
        conn.sendall(data)
        received = b""
        while len(received) < want and (chunk := conn.recv(4096)):
            received += chunk
        return received


def _framed(message: bytes) -> bytes:
    return len(message).to_bytes(2, "big") + message


def _refused(port: int, files: tls.TlsFiles, data: bytes) -> None:
    try:
        answer = _tls_exchange(port, tls.client_context(files, files.ca), data, 1)
    except (ssl.SSLError, ConnectionResetError):
        return
    assert answer == b"", f"port {port} answered a revoked certificate"


def test_a_revoked_link_certificate_is_refused_by_both_core_listeners(core: RunningCore,
                                                                      own_pki: Path) -> None:
    """adapter-client revoked: new SOAP and ISO 8583 connections with it are refused and book
    nothing; on the connections open before, the next ISO 8583 echo is answered 39 = 63 and
    the next SOAP request 403, each then closed (core_sim.server Rule 6, iso_host Rule 7);
    `pki init` issues a successor that the core accepts after the next reload."""
    assert core.iso_port is not None
    link = tls.TlsFiles.from_dir(own_pki, "adapter-client")
    ctx = tls.client_context(link, link.ca)
    before = core.ledger.totals(), core.ledger.balance("10000001")
    with socket.create_connection(("127.0.0.1", core.iso_port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost") as iso, \
            httpx.Client(verify=ctx, trust_env=False, timeout=10) as soap:
        assert soap.get(core.soap_url + "?wsdl").status_code == 200
        revoked = _revoke(own_pki, "adapter-client")
        assert core.sim.reloader.wait_loaded(RELOADED_WITHIN)
        _refused(core.soap_port, revoked, b"GET /core/v1?wsdl HTTP/1.1\r\nHost: x\r\n\r\n")
        _refused(core.iso_port, revoked, _framed(TRANSFER))
        assert (core.ledger.totals(), core.ledger.balance("10000001")) == before
        iso.sendall(_framed(ECHO))  # the connection accepted before the revocation
        answer = b""
        while chunk := iso.recv(4096):
            answer += chunk
        assert answer == _framed(ECHO_REFUSED)
        on_open = soap.get(core.soap_url + "?wsdl")
        assert (on_open.status_code, on_open.headers["connection"], on_open.json()) == (
            403, "close", {"error": "the certificate 'adapter-client' has been revoked"})

    assert main(["pki", "init", "--dir", str(own_pki)]) == 0
    assert core.sim.reloader.wait_loaded(RELOADED_WITHIN)
    successor = tls.TlsFiles.from_dir(own_pki, "adapter-client")
    echo = _tls_exchange(core.iso_port, tls.client_context(successor, successor.ca),
                         _framed(ECHO), len(_framed(ECHO_OK)))
    assert echo == _framed(ECHO_OK)


class _HoldFirstPosting:
    """The core's `faults.delay`: holds the first posting until `release`, lets later ones by."""

    def __init__(self) -> None:
        self.arrived, self.release = threading.Event(), threading.Event()
        self._held = False

    async def __call__(self, operation: str = "") -> None:
        if self._held:
            return
        self._held = True
        self.arrived.set()
        await asyncio.to_thread(self.release.wait, 30)


def _serial(path: Path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


def _reissue_link(core_pki: Path, adapter_pki: Path) -> tuple[int, int]:
    """The operator re-issues the link certificate with a new key: `pki revoke adapter-client`
    then `pki issue adapter-client` on the core's PKI, and the new pair copied (each file
    renamed into place) to the adapter's. (old serial, new serial)."""
    old = _serial(core_pki / "adapter-client.crt")
    assert main(["pki", "revoke", "adapter-client", "--dir", str(core_pki)]) == 0
    assert main(["pki", "issue", "adapter-client", "--dir", str(core_pki)]) == 0
    for suffix in (".key", ".crt"):
        staged = adapter_pki / f".adapter-client{suffix}.new"
        shutil.copyfile(core_pki / f"adapter-client{suffix}", staged)
        os.replace(staged, adapter_pki / f"adapter-client{suffix}")
    new = _serial(adapter_pki / "adapter-client.crt")
    assert new != old
    assert _serial(core_pki / "adapter-client.crt") == new
    return old, new


def _both_reloaded(adapter: RunningAdapter, core: RunningCore) -> None:
    reloader = adapter.app.reloader
    assert reloader is not None
    assert core.sim.reloader.wait_loaded(RELOADED_WITHIN)
    assert reloader.wait_loaded(RELOADED_WITHIN)
    assert (reloader.failures, core.sim.reloader.failures) == (0, 0)
    assert adapter.app.link_tls is not None and adapter.app.link_tls.generation == 1


def _transfer(client: httpx.Client, e2e: str) -> httpx.Response:
    return client.post("/v1/transfers", json={**_transfer_body(), "endToEndIdentification": e2e},
                       headers={"Idempotency-Key": str(uuid.uuid4())})


def _booked_once(responses: list[httpx.Response], core: RunningCore,
                 before: tuple[int, int], totals: dict[str, int]) -> None:
    for response in responses:
        assert response.status_code == 201, response.text
        assert response.json()["transactionStatus"] == "ACSC"
    moved = AMOUNT_MINOR * len(responses)
    assert (core.ledger.balance("10000001")[0], core.ledger.balance("10000002")[0]) == (
        before[0] - moved, before[1] + moved)
    assert core.ledger.totals() == totals


def test_a_reissued_link_certificate_reaches_the_soap_connector_without_a_restart(
        core: RunningCore, own_pki: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """SOAP connector: adapter-client re-issued with a new key (the old one revoked at the core)
    while a transfer waits inside the core on a connection of the old certificate. After both
    reloads a second transfer books (a new connection: the core refuses the old certificate,
    so it presented the new one); the held one is answered on its old connection; a third,
    after it, books too (the old connection, idle now, is not reused). Each books exactly
    once."""
    with run_adapter(tmp_path, own_pki, core_soap_url=core.soap_url,
                     core_connector="soap") as adapter, \
            _client(adapter, adapter.client("partner")) as first, \
            _client(adapter, adapter.client("partner")) as second:
        before = core.ledger.balance("10000001")[0], core.ledger.balance("10000002")[0]
        totals = core.ledger.totals()
        hold = _HoldFirstPosting()
        monkeypatch.setattr(core.sim.faults, "delay", hold)
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(_transfer, first, "E2E-LINK-HELD")
            try:
                assert hold.arrived.wait(10)
                _reissue_link(own_pki, adapter.pki_dir)
                _both_reloaded(adapter, core)
                during = _transfer(second, "E2E-LINK-NEW")
            finally:
                hold.release.set()
            answered = held.result(30)
        after = _transfer(second, "E2E-LINK-AFTER")
    _booked_once([answered, during, after], core, before, totals)


def test_a_reissued_link_certificate_reaches_the_iso_session_at_its_reconnect(
        core: RunningCore, own_pki: Path, tmp_path: Path) -> None:
    """ISO 8583 connector: a transfer on the first session; adapter-client re-issued with a
    new key and the old one revoked; the core refuses the old session's next frame (39 = 63)
    and closes it; the session reconnects with the new certificate (the only one the core
    accepts now) and signs on; the next transfer books exactly once."""
    assert core.iso_port is not None
    with run_adapter(tmp_path, own_pki, core_soap_url=core.soap_url, core_connector="iso8583",
                     core_iso_port=core.iso_port) as adapter, \
            _client(adapter, adapter.client("partner")) as partner:
        session = adapter.app.services.core.session
        assert adapter.run(session.wait_signed_on(1, 10))
        before = core.ledger.balance("10000001")[0], core.ledger.balance("10000002")[0]
        totals = core.ledger.totals()
        first = _transfer(partner, "E2E-ISO-OLD")
        _reissue_link(own_pki, adapter.pki_dir)
        _both_reloaded(adapter, core)
        assert adapter.run(session.wait_signed_on(2, 20)), session.state
        second = _transfer(partner, "E2E-ISO-NEW")
        sessions = session.connections
    _booked_once([first, second], core, before, totals)
    assert sessions == 2


def test_a_link_key_that_does_not_match_keeps_the_link_it_had(
        core: RunningCore, own_pki: Path, tmp_path: Path) -> None:
    """The key of another certificate written over adapter-client.key: the adapter's reload
    fails (counted, the link part named in the log), the link keeps its context, and a
    transfer on a new core connection still books exactly once."""
    with run_adapter(tmp_path, own_pki, core_soap_url=core.soap_url,
                     core_connector="soap") as adapter, \
            _client(adapter, adapter.client("partner")) as partner:
        reloader, link = adapter.app.reloader, adapter.app.link_tls
        assert reloader is not None and link is not None
        kept = link.current
        before = core.ledger.balance("10000001")[0], core.ledger.balance("10000002")[0]
        totals = core.ledger.totals()
        generation, failures = reloader.generation, reloader.failures
        shutil.copyfile(adapter.pki_dir / "core-operator.key", adapter.pki_dir / "staged.key")
        os.replace(adapter.pki_dir / "staged.key", adapter.pki_dir / "adapter-client.key")
        assert reloader.wait_for(generation + 1, RELOADED_WITHIN)
        assert (reloader.failures, link.current is kept, link.generation) == (
            failures + 1, True, 0)
        booked = _transfer(partner, "E2E-LINK-KEPT")
    _booked_once([booked], core, before, totals)


def test_grpc_offers_aead_suites_only(adapter: RunningAdapter) -> None:
    """TLS 1.2 with ECDHE-ECDSA-AES128-SHA256 (CBC) fails against the gRPC listener; the same
    probe with ECDHE-ECDSA-AES128-GCM-SHA256 completes (grpc's default list, tls.py Rule 2)."""
    port = adapter.app.grpc_port
    assert port is not None

    def probe(cipher: str) -> str | None:
        ctx = tls.client_context(adapter.client("internal"), adapter.ca)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(cipher)
        ctx.set_alpn_protocols(["h2"])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname="localhost") as conn:
            suite = conn.cipher()
            return suite[0] if suite else None

    with pytest.raises(ssl.SSLError):
        probe("ECDHE-ECDSA-AES128-SHA256")
    assert probe("ECDHE-ECDSA-AES128-GCM-SHA256") == "ECDHE-ECDSA-AES128-GCM-SHA256"


def _lines_of(proc: subprocess.Popen[str]) -> queue.Queue[str | None]:
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _until(lines: queue.Queue[str | None], wanted: set[str], limit: float = 90) -> str:
    """Read lines until each of `wanted` has appeared in one; the text read."""
    seen: list[str] = []
    missing = set(wanted)
    while missing:
        line = lines.get(timeout=limit)
        assert line is not None, "the process ended early:\n" + "".join(seen)
        seen.append(line)
        missing = {w for w in missing if w not in line}
    return "".join(seen)


def _booked_balance(client: httpx.Client, account_id: str) -> Decimal:
    answer = client.get(f"/v1/accounts/{account_id}/balances")
    assert answer.status_code == 200, answer.text
    (booked,) = [b for b in answer.json()["balances"] if b["balanceType"] == "interimBooked"]
    return Decimal(booked["balanceAmount"]["amount"])


def test_sighup_reloads_up_and_its_core(tmp_path: Path) -> None:
    """`up` with the file watch effectively off: after `pki revoke partner`, `pki revoke
    adapter-client` and `pki issue adapter-client`, one SIGHUP to `up` reloads the adapter and
    its core child; then partner is refused on a new HTTPS connection, the old link
    certificate by the core, and a transfer books exactly once over the new one."""
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANK_ADAPTER_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "adapter.cli", "up", "--state-dir", str(state),
         "--http-port", "0", "--grpc-port", "0", "--core-soap-port", "0",
         "--core-iso-port", "0", "--reload-interval", "3600"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = _lines_of(proc)
    try:
        banner = _until(lines, {"Press Ctrl-C to stop."})
        http_port = int(re.search(r"REST\s+https://localhost:(\d+)/v1", banner).group(1))  # type: ignore[union-attr]
        iso_port = int(re.search(r", \S+:(\d+) \(ISO 8583\)", banner).group(1))  # type: ignore[union-attr]
        pki_dir = state / "pki"
        internal = tls.TlsFiles.from_dir(pki_dir, "internal")
        with httpx.Client(verify=tls.client_context(internal, internal.ca), trust_env=False,
                          base_url=f"https://localhost:{http_port}", timeout=10) as hub:
            before = [_booked_balance(hub, a) for a in ("10000001", "10000002")]
            warm = _transfer(hub, "E2E-UP-OLD-LINK")  # the link connection of the old cert
            partner, link = _revoke(pki_dir, "partner"), _revoke(pki_dir, "adapter-client")
            assert main(["pki", "issue", "adapter-client", "--dir", str(pki_dir)]) == 0
            proc.send_signal(signal.SIGHUP)
            _until(lines, {"adapter: reloaded after SIGHUP", "core_sim: reloaded after SIGHUP"})
            with httpx.Client(verify=tls.client_context(partner, partner.ca),
                              trust_env=False, base_url=f"https://localhost:{http_port}") as c, \
                    pytest.raises((httpx.ConnectError, httpx.ReadError,
                                   httpx.RemoteProtocolError)):
                c.get("/v1/accounts")
            _refused(iso_port, link, _framed(ECHO))
            paid = _transfer(hub, "E2E-UP-NEW-LINK")
            after = [_booked_balance(hub, a) for a in ("10000001", "10000002")]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert proc.returncode == 0
    for answer in (warm, paid):
        assert (answer.status_code, answer.json()["transactionStatus"]) == (201, "ACSC")
    moved = Decimal(AMOUNT_MINOR * 2) / 100
    assert after == [before[0] - moved, before[1] + moved]
