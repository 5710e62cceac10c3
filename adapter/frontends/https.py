"""The adapter's HTTPS listener: uvicorn (uvloop + httptools) with the peer certificate in
the ASGI scope.

uvicorn does not expose the client certificate to the application. The ASGI TLS extension
(asgiref "TLS Extension", `scope["extensions"]["tls"]`) describes where it belongs; this
module is the one place that puts it there: a subclass of uvicorn's httptools protocol reads
the verified certificate once per connection, after the handshake, and adds it to every
request's scope on that connection. Keys follow the extension: `client_cert_chain` (PEM
strings, leaf first), `client_cert_name` (RFC 4514), `client_cert_error`, `tls_version`.

The TLS handshake is this module's too: uvicorn listens on plain TCP and each connection is
upgraded by `loop.start_tls` in the protocol, so a failed handshake is seen (asyncio reports
one only in debug mode) and reported to `on_handshake_failure(peer address, exception)`
(the intrusion signals: services/intrusion.py). A handshake may take `handshake_timeout`
seconds. Connections still in their handshake are aborted when the server stops.

Revocation: the TLS handshake checks the callers' CRL (adapter.infra.tls), which covers new
connections. A keep-alive connection opened before a revocation is checked again at each
request (`revocations`, the listener's `RevocationList`, through one `PeerCheck` per
connection: between reloads a counter compare): a request begun after its certificate was
revoked carries no client identity (`client_cert_error` "revoked"), so it is refused
UNAUTHENTICATED in the caller's protocol; a request already in flight finishes.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from typing import Any, ClassVar

import uvicorn
from cryptography import x509
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from adapter.infra.revocation import PeerCheck, RevocationList
from adapter.infra.tcp import no_delay

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}

log = logging.getLogger("adapter.https")

HandshakeFailure = Callable[[str, BaseException], None]


def _ignore(_peer: str, _exc: BaseException) -> None:
    return None


def tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    ssl_object: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    chain: list[str] = []
    name: str | None = None
    if der:
        cert = x509.load_der_x509_certificate(der)
        chain = [ssl.DER_cert_to_PEM_cert(der)]
        name = cert.subject.rfc4514_string()
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None if der else "no client certificate",
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
    }


def _feed(protocol: Any, data: bytes) -> None:
    """Hand `data` to a BufferedProtocol (asyncio's and uvloop's TLS protocols are)."""
    view = memoryview(data)
    while view:
        buffer = protocol.get_buffer(len(view))
        n = min(len(buffer), len(view))
        buffer[:n] = view[:n]
        protocol.buffer_updated(n)
        view = view[n:]


class TlsScopeProtocol(HttpToolsProtocol):
    """httptools protocol that does the TLS handshake itself (when `tls_context` is set) and
    adds the ASGI TLS extension to each request scope."""

    tls_context: ClassVar[ssl.SSLContext | None] = None
    handshake_timeout: ClassVar[float] = 10.0
    on_handshake_failure: ClassVar[HandshakeFailure] = _ignore
    # Raw transports of connections still in their handshake (per listener class).
    handshaking: ClassVar[set[asyncio.Transport]] = set()

    _tls: dict[str, Any] | None = None
    _serving = False
    _early: list[bytes] | None = None
    _raw: asyncio.Transport | None = None
    _raw_early: list[bytes] | None = None
    revocations: RevocationList | None = None
    _peer_check: PeerCheck | None = None

    @classmethod
    def with_tls(cls, context: ssl.SSLContext, *, handshake_timeout: float,
                 on_failure: HandshakeFailure) -> type[TlsScopeProtocol]:
        """This protocol class for one TLS listener."""
        return type(cls.__name__, (cls,), {
            "tls_context": context, "handshake_timeout": handshake_timeout,
            "on_handshake_failure": staticmethod(on_failure), "handshaking": set()})

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        no_delay(transport)
        context = self.tls_context
        if context is None:
            self._serve(transport)
            return
        transport.pause_reading()  # start_tls takes the bytes from here on
        self.handshaking.add(transport)
        asyncio.get_running_loop().create_task(self._handshake(transport, context))

    async def _handshake(self, raw: asyncio.Transport, context: ssl.SSLContext) -> None:
        peer = raw.get_extra_info("peername")
        address = str(peer[0]) if peer else "-"
        loop = asyncio.get_running_loop()
        self._raw = raw
        upgrade = loop.create_task(loop.start_tls(
            raw, self, context, server_side=True, ssl_handshake_timeout=self.handshake_timeout))
        # start_tls installs its TLS protocol in its first step. uvloop may deliver the
        # ClientHello to this protocol before that despite pause_reading (measured: about
        # one connection in two); such bytes are handed to the TLS protocol, after its
        # connection_made (call_soon is FIFO), through the BufferedProtocol interface.
        while raw.get_protocol() is self and not upgrade.done():
            await asyncio.sleep(0)
        early, self._raw_early = self._raw_early, None
        if early and not upgrade.done():
            loop.call_soon(_feed, raw.get_protocol(), b"".join(early))
        try:
            secure = await upgrade
        except (OSError, EOFError, asyncio.CancelledError) as exc:
            # ssl.SSLError and ConnectionError are OSErrors; a timeout is one too.
            self.handshaking.discard(raw)
            raw.abort()
            self.handshake_failed()
            try:
                type(self).on_handshake_failure(address, exc)
            except Exception:
                log.exception("handshake failure observer failed")
            return
        self.handshaking.discard(raw)
        if secure is None or secure.is_closing():
            self.handshake_failed()
            return
        self._serve(secure)

    def handshake_failed(self) -> None:
        """Hook: the connection ended before it was served (GuardedProtocol's census)."""

    def _serve(self, transport: asyncio.Transport) -> None:
        self._serving = True
        super().connection_made(transport)
        self._tls = tls_extension(transport)
        revocations = type(self).revocations
        if revocations is not None:
            self._peer_check = PeerCheck(revocations, transport.get_extra_info("ssl_object"))
        self.serving_started()
        early, self._early = self._early, None
        if early:
            self.data_received(b"".join(early))

    def held_back(self, data: bytes) -> bool:
        """Keep bytes that arrive before the connection is served: the client's first request
        can come in the same read as its last handshake message, before start_tls returns."""
        if self._serving:
            return False
        if self._raw is None or self._raw.get_protocol() is self:
            # Still the raw transport's protocol: TLS records for the handshake.
            if self._raw_early is None:
                self._raw_early = []
            self._raw_early.append(data)
            return True
        if self._early is None:
            self._early = []
        self._early.append(data)
        return True

    def data_received(self, data: bytes) -> None:
        if not self.held_back(data):
            super().data_received(data)

    def serving_started(self) -> None:
        """Hook: the connection is ready for requests (after the handshake, if any)."""

    def connection_lost(self, exc: Exception | None) -> None:
        # start_tls forwards a lost connection even when the handshake never finished.
        if self._serving:
            self._serving = False
            super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        info = self._tls
        if info is None:
            return
        check = self._peer_check
        if check is not None and check.revoked():  # a counter compare between reloads
            # A fresh dict: the connection's own one memoises its CN (security.identity).
            info = {"server_cert": None, "client_cert_chain": [], "client_cert_name": None,
                    "client_cert_error": "revoked", "tls_version": info["tls_version"],
                    "cipher_suite": None}
        extensions: dict[str, Any] = {"tls": info}
        self.scope["extensions"] = extensions


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """Bind before serving, so port 0 works and the real port is known before start-up.

    `reuse_port`: several processes of one user bind the same port, and the kernel spreads
    new connections over their listening sockets (SO_REUSEPORT, `--workers N`)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class HttpsServer:
    """A uvicorn server on an already-bound socket, run as a task of the current loop.

    `ssl_context=None` is only for the plain health listener (frontends/health_http.py)."""

    def __init__(self, app: Any, ssl_context: ssl.SSLContext | None, host: str, port: int,
                 *, log_level: str = "warning", options: dict[str, Any] | None = None,
                 handshake_timeout: float = 10.0,
                 on_handshake_failure: HandshakeFailure = _ignore,
                 revocations: RevocationList | None = None,
                 reuse_port: bool = False) -> None:
        self.socket = bind(host, port, reuse_port=reuse_port)
        self.port: int = self.socket.getsockname()[1]
        opts: dict[str, Any] = {"http": TlsScopeProtocol, "timeout_keep_alive": 30}
        opts.update(options or {})
        protocol: type[TlsScopeProtocol] = opts["http"]
        if revocations is not None:  # uvicorn takes a class: this listener's own subclass
            protocol = type("RevocationChecking", (protocol,), {"revocations": revocations})
        if ssl_context is not None:
            protocol = protocol.with_tls(ssl_context, handshake_timeout=handshake_timeout,
                                         on_failure=on_handshake_failure)
        opts["http"] = protocol
        self._protocol = protocol
        config = uvicorn.Config(
            app,
            **opts,
            loop="none",
            lifespan="off",
            ws="none",
            log_level=log_level,
            access_log=False,
            server_header=False,
            # No proxy sits in front: X-Forwarded-* from a caller must not rewrite its address
            # (and the middleware is a pass per request for nothing).
            proxy_headers=False,
            # Idle keep-alive clients must not hold a shutdown open.
            timeout_graceful_shutdown=3,
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen now; serve in the background. Signals are left to the caller (`up`)."""
        server = self._server
        server.config.load()
        server.lifespan = server.config.lifespan_class(server.config)
        await server.startup(sockets=[self.socket])
        self._task = asyncio.create_task(server.main_loop(), name=f"https:{self.port}")

    async def stop(self) -> None:
        for raw in tuple(self._protocol.handshaking):
            raw.abort()
        self._server.should_exit = True
        if self._task is not None:
            await self._task
            await self._server.shutdown(sockets=[self.socket])
            self._task = None
        else:  # never started (start-up failed after the bind): release the port
            self.socket.close()
