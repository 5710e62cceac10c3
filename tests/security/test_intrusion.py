"""Intrusion signals and metrics against a live adapter over real mutual TLS: failed
handshakes, refused certificates, failed WS-Security tokens, rate-limited calls and lockouts
are counted per source and identity; a threshold crossed appends one security event per
window; GET /metrics shows the counts to a caller granted `metrics`, and to no one else."""

from __future__ import annotations

import asyncio
import socket
import ssl
import uuid
from pathlib import Path

import grpc
import httpx
import pytest
import zeep
from prometheus_client.parser import text_string_to_metric_families

from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2_grpc as pb_grpc
from adapter.infra import tls
from adapter.model.security_events import Signal
from tests.harness.clients import https_client, zeep_client
from tests.security.conftest import Bank
from tests.security.test_rate_limits import rest_transfer


def new_window(bank: Bank) -> None:
    """Move the adapter's clock to the start of the next intrusion window."""
    bank.clock.now = (bank.clock.now // 60 + 1) * 60


def handshake(bank: Bank, context: ssl.SSLContext) -> None:
    """One TLS connection attempt; whatever the server does with it, read until it closes."""
    raw = socket.create_connection(("127.0.0.1", bank.adapter.app.http_port), timeout=10)
    try:
        with context.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
            while s.recv(4096):
                pass
    except (ssl.SSLError, ConnectionError):
        pass
    finally:
        raw.close()


def events_of(bank: Bank, signal: str) -> list[tuple[str, str, str, int]]:
    return [e for e in bank.security_events() if e[0] == signal]


def metrics(bank: Bank, who: str = "internal") -> httpx.Response:
    with https_client(bank.adapter, who, base_url=bank.adapter.base_url) as c:
        return c.get("/metrics")


def samples(bank: Bank) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = metrics(bank)
    assert response.status_code == 200
    out = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_failed_handshakes_and_foreign_certificates_raise_events(
        bank: Bank, foreign_pki_dir: Path) -> None:
    """Two handshakes without a certificate and two with one from another CA: four
    tls_handshake_failed (one event for 127.0.0.1 at the 2nd) and two certificate_refused
    (one event at the 2nd); the listener serves a good caller as before."""
    new_window(bank)
    no_cert = tls.client_context(None, bank.adapter.ca)
    foreign = tls.client_context(tls.TlsFiles.from_dir(foreign_pki_dir, "partner"),
                                 bank.adapter.ca)
    monitor = bank.adapter.app.intrusion
    assert monitor is not None
    earlier = monitor.recorded[Signal.TLS_HANDSHAKE_FAILED]
    for context in (no_cert, no_cert, foreign, foreign):
        handshake(bank, context)
    # The server records a failed handshake after the client has seen it fail: wait for
    # the monitor's own count (intrusion Rule 5), then for its appends to be stored.
    assert bank.adapter.run(monitor.wait_recorded(Signal.TLS_HANDSHAKE_FAILED, earlier + 4,
                                                  10))
    bank.adapter.run(monitor.flush())
    assert events_of(bank, "tls_handshake_failed") == [
        ("tls_handshake_failed", "source", "127.0.0.1", 2)]
    assert events_of(bank, "certificate_refused") == [
        ("certificate_refused", "source", "127.0.0.1", 2)]
    assert samples(bank)[("bank_adapter_intrusion_signals_total",
                          (("signal", "tls_handshake_failed"),))] == 4
    assert samples(bank)[("bank_adapter_intrusion_signals_total",
                          (("signal", "certificate_refused"),))] == 2
    with https_client(bank.adapter, "partner", base_url=bank.adapter.base_url) as c:
        assert c.get("/v1/accounts").status_code == 200


def test_an_unregistered_certificate_is_a_refused_certificate_by_its_cn(bank: Bank) -> None:
    """A certificate of our CA whose CN is in no clients file: 403, counted for the CN
    `stranger`; at the 2nd in the window one event names it."""
    new_window(bank)
    earlier = len(bank.security_events())
    with https_client(bank.adapter, "stranger", base_url=bank.adapter.base_url) as c:
        for _ in range(3):
            assert c.get("/v1/accounts").status_code == 403
    assert sorted(bank.security_events()[earlier:]) == [
        ("certificate_refused", "identity", "stranger", 2),
        ("certificate_refused", "source", "127.0.0.1", 2)]


def test_grpc_refusals_are_counted_by_address_and_cn(bank: Bank) -> None:
    """Two gRPC calls with the unregistered `stranger` certificate: PERMISSION_DENIED, and
    certificate_refused events for the CN and for the peer address grpc reports."""
    new_window(bank)
    earlier = len(bank.security_events())
    files = tls.TlsFiles.from_dir(bank.adapter.pki_dir, "stranger")

    async def go() -> list[grpc.StatusCode]:
        creds = tls.grpc_channel_credentials(files, bank.adapter.ca)
        codes = []
        async with grpc.aio.secure_channel(bank.adapter.grpc_target, creds) as ch:
            for _ in range(2):
                try:
                    await pb_grpc.BankingServiceStub(ch).ListAccounts(
                        pb.ListAccountsRequest(), timeout=10)
                except grpc.aio.AioRpcError as err:
                    codes.append(err.code())
        return codes

    assert asyncio.run(go()) == [grpc.StatusCode.PERMISSION_DENIED] * 2
    assert sorted(bank.security_events()[earlier:]) == [
        ("certificate_refused", "identity", "stranger", 2),
        ("certificate_refused", "source", "127.0.0.1", 2)]


def test_wrong_ws_security_passwords_are_authentication_failures(bank: Bank) -> None:
    """Three wrong PasswordDigests from the legacy caller: three UNAUTHENTICATED faults,
    one authentication_failed event for the identity `legacy` and one for its address."""
    new_window(bank)
    client: zeep.Client = zeep_client(bank.adapter, password="not-the-password")
    try:
        for _ in range(3):
            with pytest.raises(zeep.exceptions.Fault) as fault:
                client.service.ListAccounts()
            assert str(fault.value.code).split(":", 1)[-1] == "Client.UNAUTHENTICATED"
    finally:
        client.transport.session.close()
    assert sorted(events_of(bank, "authentication_failed")) == [
        ("authentication_failed", "identity", "legacy", 3),
        ("authentication_failed", "source", "127.0.0.1", 3)]


def test_rate_limited_calls_raise_an_event_and_show_in_metrics(bank: Bank) -> None:
    """Four transfers in a minute: two refused; at the 2nd refusal one rate_limited event for
    `partner`; the metrics count both refusals and every outcome."""
    new_window(bank)
    before = samples(bank)
    with https_client(bank.adapter, "partner", base_url=bank.adapter.base_url) as c:
        earlier = len(bank.security_events())
        statuses = [rest_transfer(c, str(uuid.uuid4())).status_code for _ in range(4)]
    assert statuses == [201, 201, 429, 429]
    assert sorted(bank.security_events()[earlier:]) == [
        ("rate_limited", "identity", "partner", 2), ("rate_limited", "source", "127.0.0.1", 2)]
    after = samples(bank)
    route = (("operation", "POST /v1/transfers"), ("protocol", "rest"))
    assert after[("bank_adapter_rate_limited_total", route)] - before.get(
        ("bank_adapter_rate_limited_total", route), 0) == 2
    ok = ("bank_adapter_requests_total", (("operation", "POST /v1/transfers"),
                                          ("outcome", "ok"), ("protocol", "rest")))
    limited = ("bank_adapter_requests_total", (("operation", "POST /v1/transfers"),
                                               ("outcome", "RATE_LIMITED"), ("protocol", "rest")))
    assert after[ok] - before.get(ok, 0) == 2
    assert after[limited] - before.get(limited, 0) == 2
    assert after[("bank_adapter_security_events_total", (("signal", "rate_limited"),))] >= 1


def test_metrics_are_refused_to_a_caller_without_the_operation(bank: Bank) -> None:
    """The partner may not read metrics: 403 FORBIDDEN in problem+json, no exposition."""
    response = metrics(bank, "partner")
    assert (response.status_code, response.json()["code"], response.json()["detail"]) == (
        403, "FORBIDDEN", "this client may not perform 'metrics'")
    ok = metrics(bank)
    assert ok.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"


def test_a_password_lockout_raises_a_lockout_event(bank: Bank) -> None:
    """Five wrong PasswordTexts lock the legacy caller's checks (the password gate); the 6th
    attempt is refused without hashing and is a lockout: one event at once (threshold 1).
    Last in this module: the gate's lock lasts its own 60 s."""
    new_window(bank)
    client: zeep.Client = zeep_client(bank.adapter, digest=False, password="wrong-password")
    codes = []
    try:
        for _ in range(6):
            with pytest.raises(zeep.exceptions.Fault) as fault:
                client.service.GetBalance(Account={"AccountId": "10000003"})
            codes.append(str(fault.value.code).split(":", 1)[-1])
    finally:
        client.transport.session.close()
    assert codes == ["Client.UNAUTHENTICATED"] * 5 + ["Client.RATE_LIMITED"]
    assert sorted(events_of(bank, "lockout")) == [
        ("lockout", "identity", "legacy", 1), ("lockout", "source", "127.0.0.1", 1)]
