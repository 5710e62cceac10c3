"""deploy/haproxy.cfg run by the distribution's HAProxy in front of two adapter replicas:
TCP passthrough keeps mutual TLS end to end, /readyz and gRPC health mark a dead replica DOWN,
and traffic goes on through the live one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from adapter.infra import tls
from adapter.infra.tls import TlsFiles
from tests.harness.core import RunningCore
from tests.harness.replicas import (
    HAPROXY_CFG,
    AdapterProcess,
    Haproxy,
    StateTemplate,
    haproxy_binary,
)

BACKENDS = ("adapter_https", "adapter_grpc")


def grpc_health_call() -> bytes:
    """grpc.health.v1.Health/Check with an empty request, as an HTTP/2 client's first bytes
    (RFC 9113 §3.4 preface, §6.5 SETTINGS, §6.2 HEADERS, §6.1 DATA; RFC 7541 §6.2.2 literal
    header fields without indexing, §5.2 strings without Huffman coding)."""

    def string(value: bytes) -> bytes:
        assert len(value) < 127
        return bytes([len(value)]) + value

    def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
        return (len(payload).to_bytes(3, "big") + bytes([kind, flags])
                + stream.to_bytes(4, "big") + payload)

    block = (b"\x83"  # :method POST (static table 3)
             + b"\x87"  # :scheme https (static table 7)
             + b"\x04" + string(b"/grpc.health.v1.Health/Check")  # :path, name index 4
             + b"\x01" + string(b"localhost")  # :authority, name index 1
             + b"\x0f\x10" + string(b"application/grpc")  # content-type, name index 31
             + b"\x00" + string(b"te") + string(b"trailers"))
    empty_request = b"\x00" + (0).to_bytes(4, "big")  # not compressed, 0 bytes
    return (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b"")
            + frame(1, 0x4, 1, block) + frame(0, 0x1, 1, empty_request))


def test_the_configs_grpc_check_is_the_health_call_and_expects_serving() -> None:
    """The hex in deploy/haproxy.cfg is exactly the health call; it expects SERVING (08 01)."""
    text = HAPROXY_CFG.read_text()
    assert f"tcp-check send-binary {grpc_health_call().hex()}\n" in text
    serving = health_pb2.HealthCheckResponse(
        status=health_pb2.HealthCheckResponse.SERVING).SerializeToString()
    message = b"\x00" + len(serving).to_bytes(4, "big") + serving
    assert f"tcp-check expect binary {message.hex()}\n" in text


@pytest.fixture
def deployment(tmp_path: Path, pki_dir: Path,
               core_sim: RunningCore) -> Iterator[tuple[Haproxy, list[AdapterProcess],
                                                        StateTemplate]]:
    haproxy_binary()
    template = StateTemplate(tmp_path, pki_dir)
    replicas = [AdapterProcess(f"adapter{i}", template, core_host=core_sim.host,
                               core_soap_port=core_sim.soap_port, core_iso_port=None,
                               extra=[]) for i in (1, 2)]
    lb = Haproxy(tmp_path, replicas, template.check_pem, template.pki / "ca.crt")
    try:
        for replica in replicas:
            replica.start()
        lb.start()
        yield lb, replicas, template
    finally:
        lb.stop()
        for replica in replicas:
            replica.stop()


def _both(server: str, state: str) -> dict[tuple[str, str], str]:
    return {(backend, server): state for backend in BACKENDS}


def test_config_is_accepted_by_haproxy(tmp_path: Path, pki_dir: Path) -> None:
    """`haproxy -c` accepts deploy/haproxy.cfg with the site values set."""
    haproxy_binary()
    template = StateTemplate(tmp_path, pki_dir)
    replicas = [AdapterProcess(f"adapter{i}", template, core_host="127.0.0.1",
                               core_soap_port=1, core_iso_port=None, extra=[]) for i in (1, 2)]
    result = Haproxy(tmp_path, replicas, template.check_pem, template.pki / "ca.crt"
                     ).check_config()
    assert result.returncode == 0, result.stdout + result.stderr


def test_passthrough_keeps_mtls_end_to_end_and_a_dead_replica_is_taken_out(
        deployment: tuple[Haproxy, list[AdapterProcess], StateTemplate]) -> None:
    """Through HAProxy: the adapter sees the caller's own certificate (the partner sees its
    accounts, a stranger's certificate is refused by the adapter); a killed replica goes DOWN
    on /readyz and gRPC health, calls go on through the other, and it comes back UP."""
    lb, replicas, template = deployment
    lb.wait_states({**_both("adapter1", "UP"), **_both("adapter2", "UP")})
    ca = template.pki / "ca.crt"

    def get(name: str, path: str = "/v1/accounts") -> httpx.Response:
        ctx = tls.client_context(TlsFiles.from_dir(template.pki, name), ca)
        with httpx.Client(verify=ctx, timeout=10) as client:
            return client.get(f"https://localhost:{lb.https_port}{path}")

    def grpc_status() -> int:
        files = TlsFiles.from_dir(template.pki, "internal")
        creds = grpc.ssl_channel_credentials(
            ca.read_bytes(), files.key.read_bytes(), files.cert.read_bytes())
        with grpc.secure_channel(f"localhost:{lb.grpc_port}", creds) as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="bank.adapter.v1.BankingService"),
                timeout=10)
        return int(reply.status)

    for _ in range(4):  # leastconn over fresh connections: both replicas answer
        response = get("partner")
        assert response.status_code == 200
        assert sorted(a["resourceId"] for a in response.json()["accounts"]) == [
            "10000001", "10000002"]
    assert get("haproxy").status_code == 403  # a CA-signed certificate, not a caller
    assert grpc_status() == health_pb2.HealthCheckResponse.SERVING

    replicas[0].kill()
    lb.wait_states({**_both("adapter1", "DOWN"), **_both("adapter2", "UP")})
    for _ in range(4):
        assert get("partner").status_code == 200
    assert grpc_status() == health_pb2.HealthCheckResponse.SERVING

    replicas[0].start()
    lb.wait_states({**_both("adapter1", "UP"), **_both("adapter2", "UP")})
    assert get("partner").status_code == 200
    assert json.loads(get("partner", "/readyz").text)["status"] == "ready"


def test_replicas_whose_core_stops_answering_are_down_on_both_checks(
        deployment: tuple[Haproxy, list[AdapterProcess], StateTemplate],
        core_sim: RunningCore) -> None:
    """The core stops answering: the replicas stay up but are not ready, so /readyz (503) and
    gRPC health (NOT_SERVING: the check reads the reply, not just the handshake) take both
    out; the core answers again and both come back."""
    lb, _, _ = deployment
    lb.wait_states({**_both("adapter1", "UP"), **_both("adapter2", "UP")})
    core_sim.faults.stop_answering = True
    lb.wait_states({**_both("adapter1", "DOWN"), **_both("adapter2", "DOWN")})
    core_sim.faults.stop_answering = False
    lb.wait_states({**_both("adapter1", "UP"), **_both("adapter2", "UP")})
