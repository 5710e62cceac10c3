"""The gRPC listener: a `grpc.aio` server on the adapter's event loop, mutual TLS only.

It serves `bank.adapter.v1.BankingService`, `bank.adapter.v1.CustomerAdminService` (when the
customer service is given), the standard health service (`grpc.health.v1`)
and server reflection. Health follows readiness: a background task asks
`services.health.ready()` every `health_interval` seconds and reports SERVING only while the
core and the adapter's database answer, both for the whole server ("") and for
BankingService.

Invariants:
- Rule 1: the only port is a secure one with `infra.tls.ReloadableGrpcCredentials`: a client
  certificate from the callers' CA is required (no plain-text mode), and every call of a
  certificate the callers' CRL lists is refused UNAUTHENTICATED (`servicer.revocation_check`).
  `reload()` brings a new certificate and CA to new connections and a new CRL to new calls.
- Rule 2: SO_REUSEPORT is off, so a second adapter on the same port fails to start instead of
  silently sharing it.
- Rule 3: `stop()` reports NOT_SERVING first, ends the event streams with UNAVAILABLE and a
  resume cursor, then lets unary calls in flight finish within the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from adapter.config import Settings
from adapter.frontends.grpc import customer_admin, wire
from adapter.frontends.grpc.gen.bank.adapter.v1 import banking_pb2 as pb
from adapter.frontends.grpc.servicer import BankingServicer
from adapter.infra import tls
from adapter.infra.revocation import CrlSource, RevocationList
from adapter.services.banking import BankingServices
from adapter.services.customers.service import CustomerService
from adapter.services.stream_slots import StreamSlots

log = logging.getLogger("adapter.grpc")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["BankingService"].full_name
HEALTH_INTERVAL = 1.0
STOP_GRACE = 5.0
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING

OPTIONS = [
    # Off: a second server on the port is an error, not a silent share. `--workers N` turns
    # it on (`server_options`), so that N processes share the port and the kernel spreads
    # connections over them.
    ("grpc.so_reuseport", 0),
    # Internal callers keep long-lived channels (and event streams) open: let them ping.
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.max_receive_message_length", 1 << 20),
    # HTTP/2 bounds per connection (RFC 9113 §6.5.2): streams in flight and the size of a
    # header list. grpc core also caps RST_STREAM bursts ("rapid reset", CVE-2023-44487).
    ("grpc.max_concurrent_streams", 100),
    ("grpc.max_metadata_size", 16 * 1024),
    # Idle connections go after 5 minutes; a client pinging more often than allowed is
    # dropped after two strikes.
    ("grpc.max_connection_idle_ms", 300_000),
    ("grpc.http2.max_ping_strikes", 2),
]


def server_options(settings: Settings) -> list[tuple[str, int]]:
    reuse = 1 if settings.workers > 1 else 0
    return [("grpc.so_reuseport", reuse) if name == "grpc.so_reuseport" else (name, value)
            for name, value in OPTIONS]


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class GrpcServer:
    def __init__(self, services: BankingServices, settings: Settings, *,
                 health_interval: float = HEALTH_INTERVAL,
                 customers: CustomerService | None = None) -> None:
        self._services = services
        self._settings = settings
        self._health_interval = health_interval
        files = tls.TlsFiles.from_dir(settings.pki_dir, "server")
        assert files.crl is not None
        self.tls_files = files
        self.credentials = tls.ReloadableGrpcCredentials(files)
        self.revocation = RevocationList([CrlSource(files.ca, files.crl)])
        self.servicer = BankingServicer(
            services, StreamSlots(per_caller=settings.stream_max_per_caller,
                                  per_connection=settings.stream_max_per_connection),
            revoked=self.revocation.revoked)
        # The same edge (and so the same revocation check) for the customer administration.
        self.admin = (None if customers is None else customer_admin.CustomerAdminServicer(
            services, customers, self.servicer.edge))
        self.health = health.aio.HealthServicer()
        self._server = grpc.aio.server(options=server_options(settings))
        self._health_task: asyncio.Task[None] | None = None
        self.serving: bool | None = None
        self.port = 0

    async def start(self) -> None:
        server = self._server
        wire.register(self.servicer, server)
        names = [SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME]
        if self.admin is not None:
            wire.register(self.admin, server, customer_admin.SERVICE, customer_admin.pb)
            names.append(customer_admin.SERVICE.full_name)
        # Generic handlers only (wire.GenericOnly): a registered method costs every call.
        registrar = wire.GenericOnly(server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, registrar)
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
            reflection.aio.ReflectionServicer(names), registrar)
        # Known before the first call: a caller never sees SERVING for a dead core.
        await self._set_health(await self._services.health.ready())
        address = _address(self._settings.host, self._settings.grpc_port)
        self.port = server.add_secure_port(address, self.credentials.credentials)
        if not self.port:
            raise OSError(f"gRPC cannot listen on {address}")
        await server.start()
        self._health_task = asyncio.create_task(self._watch_core(), name=f"grpc-health:{self.port}")

    def reload(self) -> None:
        """Rule 1: the callers' CRL, then the server certificate and CA, from the files (the
        application reloads the two separately, so one failing does not hold the other)."""
        self.revocation.reload()
        self.credentials.reload()

    async def _set_health(self, ok: bool) -> None:
        if ok is self.serving:
            return
        if self.serving is not None:
            log.warning("gRPC health: %s", "ready again" if ok else "NOT ready")
        self.serving = ok
        status = SERVING if ok else NOT_SERVING
        for service in ("", SERVICE_NAME):
            await self.health.set(service, status)

    async def _watch_core(self) -> None:
        while True:
            await asyncio.sleep(self._health_interval)
            await self._set_health(await self._services.health.ready())

    async def stop(self, grace: float = STOP_GRACE) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
            self._health_task = None
        await self.health.enter_graceful_shutdown()
        await self.servicer.end_watchers()
        await self._server.stop(grace)


async def start_grpc_server(services: BankingServices, settings: Settings, *,
                            health_interval: float = HEALTH_INTERVAL,
                            customers: CustomerService | None = None) -> GrpcServer:
    """Start the gRPC listener on the running loop; the caller keeps it and calls `stop()`."""
    server = GrpcServer(services, settings, health_interval=health_interval,
                        customers=customers)
    await server.start()
    return server
