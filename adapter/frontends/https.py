"""The adapter's HTTPS listener: uvicorn (uvloop + httptools) with the peer certificate in
the ASGI scope.

uvicorn does not expose the client certificate to the application. The ASGI TLS extension
(asgiref "TLS Extension", `scope["extensions"]["tls"]`) describes where it belongs; this
module is the one place that puts it there: a subclass of uvicorn's httptools protocol reads
the verified certificate once per connection, after the handshake, and adds it to every
request's scope on that connection. Keys follow the extension: `client_cert_chain` (PEM
strings, leaf first), `client_cert_name` (RFC 4514), `client_cert_error`, `tls_version`.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

import uvicorn
from cryptography import x509
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


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


class TlsScopeProtocol(HttpToolsProtocol):
    """httptools protocol that adds the ASGI TLS extension to each request scope."""

    _tls: dict[str, Any] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._tls = tls_extension(transport)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls is not None:
            extensions: dict[str, Any] = {"tls": self._tls}
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
                 reuse_port: bool = False) -> None:
        self.socket = bind(host, port, reuse_port=reuse_port)
        self.port: int = self.socket.getsockname()[1]
        opts: dict[str, Any] = {"http": TlsScopeProtocol, "timeout_keep_alive": 30}
        opts.update(options or {})
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
            ssl_context_factory=(None if ssl_context is None
                                 else lambda _cfg, _default: ssl_context),
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
        self._server.should_exit = True
        if self._task is not None:
            await self._task
            await self._server.shutdown(sockets=[self.socket])
            self._task = None
        else:  # never started (start-up failed after the bind): release the port
            self.socket.close()
