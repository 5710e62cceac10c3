"""The composition root: settings -> store -> core connector -> services -> front-ends.

One process, one event loop: the HTTPS listener (REST, and SOAP under /soap/v1) and the gRPC
server share it, and so do the services, the store and the connector's connections.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from adapter.config import Settings
from adapter.connectors.factory import build_core
from adapter.frontends.http_guard import HttpLimits, uvicorn_options
from adapter.frontends.https import HttpsServer
from adapter.ports.core import CorePort
from adapter.security import tls
from adapter.services.banking import BankingServices
from adapter.services.clients import ClientRegistry
from adapter.services.health import core_usable
from adapter.services.resolver import Resolver
from adapter.stores.sqlite import SqliteStore

log = logging.getLogger("adapter")


SOAP_PREFIX = "/soap/v1"


class HttpDispatch:
    """REST at the root, SOAP under /soap/v1, on one HTTPS listener. A prefix test is all
    the routing this needs; a Starlette Mount would add a router pass to every request."""

    def __init__(self, rest: ASGIApp, soap: ASGIApp) -> None:
        self._rest = rest
        self._soap = soap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if path == SOAP_PREFIX or path.startswith(SOAP_PREFIX + "/"):
            await self._soap(scope, receive, send)
        else:
            await self._rest(scope, receive, send)


def build_http_app(services: BankingServices, settings: Settings) -> ASGIApp:
    from adapter.frontends.rest import build_rest_app
    from adapter.frontends.soap import build_soap_app

    return HttpDispatch(build_rest_app(services, settings), build_soap_app(services, settings))


class AdapterApp:
    """Everything the adapter runs, started and stopped together."""

    def __init__(self, settings: Settings, *, core: CorePort | None = None) -> None:
        self.settings = settings
        self._given_core = core
        self.services: BankingServices | None = None
        self.https: HttpsServer | None = None
        self.grpc: Any = None
        self.grpc_port: int | None = None
        self.health_http: HttpsServer | None = None
        self._resolver: Resolver | None = None

    @property
    def http_port(self) -> int:
        assert self.https is not None
        return self.https.port

    def _wake_resolver(self, _reference: str) -> None:
        if self.services is not None:
            self.services.payments.in_doubt_found.set()

    async def start(self) -> None:
        s = self.settings
        store = SqliteStore(s.adapter_db, synchronous=s.sqlite_synchronous,
                            linger=s.sqlite_linger_ms / 1000)
        core = self._given_core or await build_core(s, on_reversed=self._wake_resolver)
        clients = ClientRegistry.load(s.clients_file)
        services = BankingServices.build(
            core, store, clients, core_timeout=s.core_timeout, resolve_timeout=s.resolve_timeout
        )
        self.services = services
        self._resolver = Resolver(services.payments, store)
        self._resolver.start()
        server_tls = tls.TlsFiles.from_dir(s.pki_dir, "server")
        limits = HttpLimits(
            max_head_bytes=s.http_max_head_bytes, max_headers=s.http_max_headers,
            head_timeout=s.http_head_timeout, idle_timeout=s.http_idle_timeout,
            max_connections=s.http_max_connections,
            max_connections_per_client=s.http_max_connections_per_client)
        self.https = HttpsServer(
            build_http_app(services, s), tls.server_context(server_tls), s.host, s.http_port,
            options=uvicorn_options(limits),
        )
        await self.https.start()
        log.info("adapter HTTPS listening on https://%s:%d", s.host, self.https.port)
        from adapter.frontends.grpc import start_grpc_server

        self.grpc = await start_grpc_server(services, s)
        self.grpc_port = self.grpc.port
        log.info("adapter gRPC listening on %s:%d", s.host, self.grpc_port)
        if s.health_port is not None:
            from adapter.frontends.health_http import build_health_app

            self.health_http = HttpsServer(
                build_health_app(lambda: core_usable(services.core)), None,
                s.health_host, s.health_port)
            await self.health_http.start()
            log.info("plain-HTTP health listener on http://%s:%d (/healthz, /readyz only)",
                     s.health_host, self.health_http.port)

    async def stop(self) -> None:
        if self.health_http is not None:
            await self.health_http.stop()
        if self.grpc is not None:
            await self.grpc.stop()
        if self.https is not None:
            await self.https.stop()
        if self._resolver is not None:
            await self._resolver.stop()
        if self.services is not None:
            await self.services.core.aclose()
            await self.services.store.aclose()
