"""The core_sim process: one ledger, its SOAP service over HTTPS and its ISO 8583 host.

Owns the listeners' lifecycle, the HTTPS routing (`/core/v1` SOAP and `?wsdl`, `/admin/faults`)
and the lost-reply mechanics of fault injection.

Invariants:
- Rule 1: every listener is mutual TLS built by `adapter.infra.tls` with the "core"
  certificate, the core-link CA and its CRL (`adapter.infra.trust_domains`); there is no
  plain-text mode. On top of the CA, each listener pins the identities it serves: the SOAP
  service and the ISO 8583 host answer the adapter's link certificate (`adapter-client`) only,
  `/admin/faults` the operator's certificate (`core-operator`) only; any other certificate of
  the domain has its connection closed at once (SOAP listener, ISO host), and a known identity
  on a path not its own gets 403 and changes nothing.
- Rule 2: `start()` returns only once the sockets accept connections, so `soap_port` (and
  `iso_port`) are real even when port 0 was asked for.
- Rule 3: a dropped reply follows a committed posting (see `faults`). "reset" aborts the TCP
  connection without a TLS close_notify; "hang" keeps it open and silent until the client
  leaves or the core stops.
- Rule 4: `stop()` releases hung replies first, then closes listeners, so it never waits on
  a request that was told to hang.
- Rule 5: certificates, CA and CRL are reloaded without a restart (`reload()`: SIGHUP, or a
  change of the files seen by `adapter.infra.reload`); new connections get the new context,
  connections in flight keep theirs. The certificate part and the CRL for open connections
  load on their own: one that fails keeps what it had and does not hold back the other.
- Rule 6: revocation reaches open connections. The handshake checks the CRL of its context;
  after a reload, each connection's peer is checked again against the new CRL (one
  `PeerCheck` per connection: an integer compare per request until the next reload). On the
  SOAP listener a request already begun is answered as usual; the next request on a
  connection whose certificate is now revoked is answered 403 `{"error": "the certificate
  'NAME' has been revoked"}` with `Connection: close`, nothing of it is run, and the
  connection is closed after that answer. A 403 is what the listener already answers to an
  identity on a path not its own: an HTTP refusal before any service ran, which the adapter's
  SOAP connector reads as "not sent" (CoreUnavailable), never as a posting in doubt. The ISO
  8583 host's side is `core_sim.iso_host` Rule 7.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import ssl
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from adapter.infra.reload import Reloader, load_each
from adapter.infra.revocation import CrlSource, PeerCheck, RevocationList
from adapter.infra.spyne_asgi import Receive, Scope, Send, SpyneAsgi
from adapter.infra.spyne_process import configure_spyne_process
from adapter.infra.tcp import no_delay
from adapter.infra.tls import ReloadableServerContext, TlsFiles, peer_cn
from adapter.infra.trust_domains import (
    CORE_ADMIN_IDENTITIES,
    CORE_SERVER,
    CORE_SOAP_IDENTITIES,
)
from core_sim.faults import FaultSettings
from core_sim.iso_host import IDLE_TIMEOUT, READ_TIMEOUT, IsoHost
from core_sim.ledger import Ledger
from core_sim.soap_service import PATH, ReplyFate, build_application, reply_fate

logger = logging.getLogger(__name__)

ADMIN_FAULTS_PATH = "/admin/faults"
ABORT_EXTENSION = "core_sim.abort"
PEER_EXTENSION = "core_sim.peer"
REVOKED_EXTENSION = "core_sim.revoked"
# Rule 1: who may open a connection to the SOAP listener at all.
SOAP_LISTENER_IDENTITIES = CORE_SOAP_IDENTITIES | CORE_ADMIN_IDENTITIES
# Longer than any client's idle expiry (the adapter's is 30 s), so the client always closes an
# idle connection first and never sends a request into one the server is closing.
KEEP_ALIVE_S = 75


@dataclass
class CoreSimConfig:
    db_path: Path
    pki_dir: Path
    host: str = "127.0.0.1"
    soap_port: int = 7443
    iso_port: int = 7583
    faults: FaultSettings = field(default_factory=FaultSettings)
    seed_demo: bool = True
    max_body: int = 1 << 20
    iso_read_timeout: float = READ_TIMEOUT  # seconds to finish an ISO 8583 frame once begun
    iso_idle_timeout: float = IDLE_TIMEOUT  # seconds an ISO 8583 connection may stay silent
    # Rule 5: seconds between looks at the PKI files; None: reload on SIGHUP (`reload()`) only.
    reload_interval: float | None = 1.0


class _AbortableHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a way for the app to abort the connection (Rule 3)
    and the peer's identity, refused at once if the listener serves no such identity (Rule 1)."""

    _peer: str | None = None
    _check: PeerCheck | None = None
    # The listener's CRL for open connections (Rule 6): set on the subclass CoreSim makes.
    revocations: ClassVar[RevocationList | None] = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        no_delay(transport)  # each answer leaves at once (adapter.infra.tcp)
        super().connection_made(transport)
        self._peer = peer_cn(transport.get_extra_info)
        if self._peer not in SOAP_LISTENER_IDENTITIES:
            logger.warning("core_sim SOAP listener refused a connection from certificate %r: "
                           "not an identity it serves", self._peer)
            transport.abort()
            return
        if self.revocations is not None:
            self._check = PeerCheck(self.revocations, transport.get_extra_info("ssl_object"))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        check = self._check
        extensions: dict[str, Any] = {ABORT_EXTENSION: self.transport.abort,
                                      PEER_EXTENSION: self._peer,
                                      REVOKED_EXTENSION: check is not None and check.revoked()}
        self.scope["extensions"] = extensions  # type: ignore[typeddict-item]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # CoreSim.main owns SIGINT/SIGTERM for every listener of the process.
        yield


class CoreSim:
    def __init__(self, config: CoreSimConfig) -> None:
        self.config = config
        self.ledger = Ledger(config.db_path)
        if config.seed_demo:
            self.ledger.seed_demo()
        self.faults = config.faults
        self.tls = ReloadableServerContext(TlsFiles.from_dir(config.pki_dir, CORE_SERVER))
        self.ssl_context: ssl.SSLContext = self.tls.listener
        files = self.tls.files
        assert files.crl is not None
        # Rule 6: the CRL again, for connections accepted before a reload.
        self.revocations = RevocationList([CrlSource(files.ca, files.crl)])
        self.reloader = Reloader("core_sim", self.tls.files.paths, self.reload,
                                 config.reload_interval)
        self.soap_port: int | None = None
        self.iso_port: int | None = None
        self.iso_host: Any = None
        self._soap = SpyneAsgi(build_application(self.ledger, self.faults),
                               max_body=config.max_body)
        self._server: _Server | None = None
        self._socket: socket.socket | None = None
        self._main_loop: asyncio.Task[None] | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def soap_url(self) -> str:
        return f"https://localhost:{self.soap_port}{PATH}"

    async def start(self) -> None:
        configure_spyne_process()  # the core's SOAP service runs on spyne
        self._stopping = asyncio.Event()
        sock = socket.create_server((self.config.host, self.config.soap_port), backlog=1024)
        self._socket = sock
        self.soap_port = int(sock.getsockname()[1])
        ssl_ctx = self.ssl_context
        protocol = type("CoreHttpProtocol", (_AbortableHttpProtocol,),
                        {"revocations": self.revocations})
        config = uvicorn.Config(
            self._asgi, http=protocol, interface="asgi3", lifespan="off",
            proxy_headers=False, server_header=False, log_config=None,
            access_log=False, timeout_keep_alive=KEEP_ALIVE_S, timeout_graceful_shutdown=5,
            ssl_context_factory=lambda _config, _default: ssl_ctx,
        )
        config.load()
        server = _Server(config)
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])
        self._server = server
        self._main_loop = asyncio.create_task(server.main_loop())
        logger.info("core_sim SOAP listening on https://%s:%d%s", self.config.host,
                    self.soap_port, PATH)

        # --- ISO 8583 host (core_sim/iso_host.py) is started here -------------------------
        self.iso_host = IsoHost(self.ledger, self.faults, self.ssl_context,
                                self.config.host, self.config.iso_port,
                                read_timeout=self.config.iso_read_timeout,
                                idle_timeout=self.config.iso_idle_timeout,
                                revocations=self.revocations)
        await self.iso_host.start()
        self.iso_port = self.iso_host.port
        # -------------------------------------------------------------------------------------
        await self.reloader.start()

    def reload(self) -> None:
        """Rule 5: the core's certificate, the core-link CA and its CRL for new connections,
        and the CRL for open ones (Rule 6); each part on its own. Raises naming every part
        that failed."""
        load_each((("certificate, CA and CRL", self.tls.reload),
                   ("CRL for open connections", self.revocations.reload)))

    async def stop(self) -> None:
        await self.reloader.stop()
        if self._stopping is not None:
            self._stopping.set()
        # --- ISO 8583 host is stopped here ---------------------------------------------------
        if self.iso_host is not None:
            await self.iso_host.stop()
            self.iso_host = None
        # -------------------------------------------------------------------------------------
        if self._server is not None:
            self._server.should_exit = True
            if self._main_loop is not None:
                await self._main_loop
            await self._server.shutdown(sockets=[self._socket] if self._socket else None)
            self._server = None
        self.ledger.close()

    async def quiesce(self) -> None:
        """Wait until every HTTPS request in progress has finished (tests: a delayed request
        that its client gave up on still runs to its end inside the core)."""
        if self._server is not None:
            tasks = list(self._server.server_state.tasks)
            if tasks:
                await asyncio.wait(tasks)

    # -- HTTPS routing ----------------------------------------------------------------------

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        extensions = scope.get("extensions", {})
        peer = extensions.get(PEER_EXTENSION)
        if extensions.get(REVOKED_EXTENSION):  # Rule 6: answered, run nothing, then closed
            await _revoked(peer, path)(scope, receive, send)
            return
        if path == PATH:
            if peer not in CORE_SOAP_IDENTITIES:
                await _forbidden(peer, path)(scope, receive, send)
                return
            await self._soap_with_faults(scope, receive, send)
        elif path == ADMIN_FAULTS_PATH:
            if peer not in CORE_ADMIN_IDENTITIES:
                await _forbidden(peer, path)(scope, receive, send)
                return
            await self._admin_faults(scope, receive, send)
        else:
            await JSONResponse({"error": "not found"}, status_code=404)(scope, receive, send)

    async def _soap_with_faults(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.faults.stop_answering:  # silent: the request is never read nor answered
            await self._until_disconnect_or_stop(receive)
            abort = scope.get("extensions", {}).get(ABORT_EXTENSION)
            if abort is not None:
                abort()
            return
        fate = ReplyFate()

        async def guarded_send(message: MutableMapping[str, Any]) -> None:
            if fate.drop_mode is None:
                await send(message)

        token = reply_fate.set(fate)
        try:
            await self._soap(scope, receive, guarded_send)
        finally:
            reply_fate.reset(token)
        if fate.drop_mode is None:
            return
        if fate.drop_mode == "hang":
            await self._until_disconnect_or_stop(receive)
        abort = scope.get("extensions", {}).get(ABORT_EXTENSION)
        if abort is not None:
            abort()
        # Wait for uvicorn to see the connection gone, so it does not try to answer it.
        while (await receive())["type"] != "http.disconnect":
            pass

    async def _until_disconnect_or_stop(self, receive: Receive) -> None:
        assert self._stopping is not None

        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        waiters = [asyncio.ensure_future(disconnected()),
                   asyncio.ensure_future(self._stopping.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _admin_faults(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method == "PUT":
            try:
                changes = json.loads(await request.body())
                if not isinstance(changes, dict):
                    raise ValueError("send a JSON object of settings to change")
                self.faults.update(**changes)
            except ValueError as exc:
                response = JSONResponse({"error": str(exc)}, status_code=400)
                await response(scope, receive, send)
                return
            logger.info("fault settings now %s", self.faults.to_dict())
        elif request.method != "GET":
            await JSONResponse({"error": "use GET or PUT"}, status_code=405,
                               headers={"allow": "GET, PUT"})(scope, receive, send)
            return
        await JSONResponse(self.faults.to_dict())(scope, receive, send)


def _revoked(peer: str | None, path: str) -> JSONResponse:
    logger.warning("core_sim refused %s on an open connection: the certificate %r has been "
                   "revoked; closing the connection", path, peer)
    # uvicorn ends the connection once a response says `Connection: close`.
    return JSONResponse({"error": f"the certificate {peer!r} has been revoked"},
                        status_code=403, headers={"connection": "close"})


def _forbidden(peer: str | None, path: str) -> JSONResponse:
    logger.warning("core_sim refused %s to certificate %r", path, peer)
    return JSONResponse({"error": f"the certificate {peer!r} may not use {path}"},
                        status_code=403)
