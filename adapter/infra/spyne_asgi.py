"""Serve a spyne SOAP 1.1 `Application` as an ASGI app, on the event loop.

Why not spyne's WsgiApplication behind a WSGI->ASGI bridge: the thread hop per call costs about
two thirds of the throughput (about 880 calls/s against 2.3-3.2k/s on the loop, on the project's
2-core machines), and an empty POST hangs spyne behind a2wsgi. Here the whole spyne pipeline runs
inline in the ASGI task; a service method may be `async def` (its coroutine is awaited on the
loop before the response is serialised), so it can await the adapter's services.

What this module owns, and its invariants:
- Rule 1: a request body is read up to `max_body` bytes; beyond that the answer is 413 and
  spyne never sees it. An empty POST is 400 and spyne never sees it.
- Rule 2: XML is parsed here, never by spyne, with `adapter.infra.untrusted_xml` (no DTD, no
  entity, no network, no huge tree, no DOCTYPE); a refusal is the SOAP fault
  `Client.XmlRefused`. The application's own `parser_kwargs` are forced to the same settings
  as a second line.
- Rule 3: `GET <path>?wsdl` serves the WSDL; its soap:address is `wsdl_address` if given, else
  the URL the request came in on. The document is built once, in canonical form (see
  `canonical_wsdl`), with a placeholder address that is replaced per request; the Host header
  is used only when it is a plain host[:port], so no markup reaches the XML and a caller
  cannot grow memory by varying it.
- Rule 4: an exception that is not a spyne `Fault` becomes `Server` / "Internal Error": no
  stack trace or internal detail reaches the caller.
- Rule 5: building a `SpyneAsgi` changes nothing outside it. spyne's process-wide settings (its
  GC interval, its loggers) are `adapter.infra.spyne_process`, called by the composition root.

Scope: SOAP 1.1 in and out (spyne `Soap11`), one method context per request (no auxiliary
methods). The ASGI scope is reachable from a service method as `ctx.transport.scope` (for the
peer certificate and headers).
"""

from __future__ import annotations

import adapter.infra.spyne_six  # noqa: F401  (before spyne: Python 3.12+)

import inspect
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from lxml import etree
from spyne import Application, Fault
from spyne.const.http import HTTP_200
from spyne.interface.wsdl import Wsdl11
from spyne.protocol import ProtocolBase
from spyne.server.http import HttpBase, HttpMethodContext, HttpTransportContext

from adapter.infra.untrusted_xml import (
    HARDENED_PARSER_KWARGS,
    UntrustedXmlRefused,
    parse_untrusted_xml,
)

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEFAULT_MAX_BODY = 1 << 20
PLACEHOLDER_ADDRESS = "https://soap-address.invalid/"
_PLAIN_HOST = re.compile(r"^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$")
_XS = "{http://www.w3.org/2001/XMLSchema}"
_WSDL = "{http://schemas.xmlsoap.org/wsdl/}"
_SCHEMA_ORDER = {f"{_XS}import": 0, f"{_XS}simpleType": 1, f"{_XS}complexType": 2,
                 f"{_XS}element": 3}
_SORTED_PARENTS = {f"{_WSDL}definitions", f"{_WSDL}portType", f"{_WSDL}binding"}


class XmlRefused(Fault):  # type: ignore[misc]
    """The body is not XML we are willing to parse (Rule 2)."""

    def __init__(self, message: str) -> None:
        super().__init__("Client.XmlRefused", message)


def _parse_request(body: bytes) -> tuple[Any, dict[str, Any]]:
    """The request document under Rule 2; a refusal is raised as the caller's SOAP fault."""
    try:
        return parse_untrusted_xml(body)
    except UntrustedXmlRefused as exc:
        raise XmlRefused(str(exc)) from None


class AsgiTransportContext(HttpTransportContext):  # type: ignore[misc]
    def __init__(self, parent: Any, transport: Any, scope: Scope, content_type: str) -> None:
        super().__init__(parent, transport, scope, content_type)
        self.scope = scope

    def header(self, name: bytes) -> str | None:
        for key, value in self.scope.get("headers", ()):
            if key == name:
                return bytes(value).decode("latin-1")
        return None

    def get_request_method(self) -> str:
        return str(self.scope["method"])

    def get_request_content_type(self) -> str | None:
        return self.header(b"content-type")

    def get_path(self) -> str:
        return str(self.scope["path"])

    def get_path_and_qs(self) -> str:
        qs = self.scope.get("query_string", b"").decode("latin-1")
        return self.get_path() + (f"?{qs}" if qs else "")

    def get_url(self) -> str:
        return _request_url(self.scope)

    def get_peer(self) -> Any:
        return self.scope.get("client")

    def get_cookie(self, key: str) -> None:
        return None


class AsgiMethodContext(HttpMethodContext):  # type: ignore[misc]
    HttpTransportContext = AsgiTransportContext


def _request_url(scope: Scope) -> str:
    host = None
    for key, value in scope.get("headers", ()):
        if key == b"host":
            host = bytes(value).decode("latin-1")
    if host is None or not _PLAIN_HOST.match(host):
        server = scope.get("server") or ("localhost", None)
        host = server[0] if server[1] is None else f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'https')}://{host}{scope.get('root_path', '')}{scope['path']}"


def canonical_wsdl(document: bytes) -> bytes:
    """spyne emits schema types and messages in an order that depends on what else the process
    has loaded; sorted by kind and name, the document is the same byte for byte in every
    process, so the committed contract can be compared exactly and diffs read well."""
    root = etree.fromstring(document, etree.XMLParser(remove_blank_text=True))
    for schema in root.iter(f"{_XS}schema"):
        schema[:] = sorted(schema, key=lambda e: (_SCHEMA_ORDER.get(e.tag, 9),
                                                  e.get("name") or e.get("namespace") or ""))
    for parent in root.iter(*_SORTED_PARENTS):
        kinds = [e.tag for e in parent]
        parent[:] = sorted(parent, key=lambda e: (kinds.index(e.tag), e.get("name") or ""))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8",
                                pretty_print=True))


class SpyneAsgi(HttpBase):  # type: ignore[misc]
    """An ASGI application for one spyne `Application` (see the module docstring)."""

    def __init__(self, app: Application, *, max_body: int = DEFAULT_MAX_BODY,
                 wsdl_address: str | None = None) -> None:
        super().__init__(app)
        self.max_body = max_body
        self.wsdl_address = wsdl_address
        self._wsdl_template: bytes | None = None
        for proto in (app.in_protocol, app.out_protocol):
            if hasattr(proto, "parser_kwargs"):
                proto.parser_kwargs.update(HARDENED_PARSER_KWARGS)

    # -- ASGI -------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        method = scope["method"]
        if method == "GET" and scope.get("query_string", b"").lower() == b"wsdl":
            await respond(send, 200, self.wsdl(self.wsdl_address or _request_url(scope)),
                           b"text/xml; charset=utf-8")
            return
        if method != "POST":
            await respond(send, 405, b"POST a SOAP envelope, or GET ?wsdl\n",
                           extra=[(b"allow", b"GET, POST")])
            return
        body = await self._read_body(scope, receive)
        if body is None:
            await respond(send, 413, b"request body too large\n", close=True)
            return
        # An empty body goes through the parser like any other: a SOAP client gets a Fault
        # (the hardened parser refuses it as not well-formed), not a bare text answer.
        status, payload = await self.handle(scope, body)
        await respond(send, status, payload, self.app.out_protocol.mime_type.encode())

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The body, or None when it is longer than `max_body` (Rule 1)."""
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                try:
                    if int(value) > self.max_body:
                        return None
                except ValueError:
                    return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b""
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    # -- the spyne pipeline, inline ---------------------------------------------------------

    def generate_contexts(self, ctx: Any, in_string_charset: str | None = None) -> Any:
        # Replaces spyne's create_in_document (which parses with the protocol's own parser)
        # with parse_untrusted_xml (Rule 2); the rest is ServerBase.generate_contexts.
        try:
            ctx.in_document = _parse_request(b"".join(ctx.in_string))
            self.app.in_protocol.decompose_incoming_envelope(ctx, ProtocolBase.REQUEST)
            return self.app.in_protocol.generate_method_contexts(ctx)
        except Fault as exc:
            ctx.in_object = None
            ctx.in_error = exc
            ctx.out_error = exc
            ctx.fire_event("method_exception_object")
            return (ctx,)

    async def handle(self, scope: Scope, body: bytes) -> tuple[int, bytes]:
        """Run one SOAP request through spyne: (HTTP status, response body)."""
        ctx = AsgiMethodContext(self, scope, self.app.out_protocol.mime_type)
        ctx.in_string = [body]
        p_ctx = self.generate_contexts(ctx)[0]
        try:
            if p_ctx.in_error is None:
                self.get_in_object(p_ctx)
            if p_ctx.in_error is None:
                self.get_out_object(p_ctx)
                if p_ctx.out_error is None:
                    await self._await_result(p_ctx)
            error = p_ctx.in_error or p_ctx.out_error
            if error is not None:
                p_ctx.out_error = error
                status = int(p_ctx.out_protocol.fault_to_http_response_code(error)[:3])
            else:
                p_ctx.transport.resp_code = HTTP_200
                status = 200
            try:
                self.get_out_string(p_ctx)
            except Exception:
                logger.exception("serialising the SOAP response failed")
                p_ctx.out_error = Fault("Server", "Internal Error")
                p_ctx.out_document = None
                p_ctx.out_string = None
                status = 500
                self.get_out_string(p_ctx)
            return status, b"".join(_as_bytes(s) for s in p_ctx.out_string)
        finally:
            p_ctx.close()

    @staticmethod
    async def _await_result(ctx: Any) -> None:
        """Await an `async def` method's coroutine and put its value where spyne expects it."""
        out = ctx.out_object
        single = isinstance(out, list | tuple) and len(out) == 1 and inspect.isawaitable(out[0])
        if not single and not inspect.isawaitable(out):
            return
        try:
            value = await (out[0] if single else out)
        except Fault as exc:
            ctx.out_error = exc
            ctx.out_object = None
            ctx.fire_event("method_exception_object")
            return
        except Exception:
            logger.exception("unhandled error in a SOAP method")
            ctx.out_error = Fault("Server", "Internal Error")
            ctx.out_object = None
            ctx.fire_event("method_exception_object")
            return
        ctx.out_object = [value] if single else value

    # -- WSDL -------------------------------------------------------------------------------

    def wsdl(self, address: str) -> bytes:
        """The canonical WSDL with `address` as its soap:address (Rule 3)."""
        if self._wsdl_template is None:
            wsdl = Wsdl11(self.app.interface)
            wsdl.build_interface_document(PLACEHOLDER_ADDRESS)
            self._wsdl_template = canonical_wsdl(wsdl.get_interface_document())
        return self._wsdl_template.replace(PLACEHOLDER_ADDRESS.encode(), address.encode())


def wsdl_document(app: Application, address: str) -> bytes:
    """The WSDL of `app` bound to `address`, exactly as `SpyneAsgi` serves it (for committing
    the contract). Built through the server: spyne takes the binding's transport URI from it."""
    return SpyneAsgi(app).wsdl(address)


def _as_bytes(chunk: bytes | str) -> bytes:
    return chunk.encode("utf-8") if isinstance(chunk, str) else chunk


async def respond(send: Send, status: int, body: bytes,
                   content_type: bytes = b"text/plain; charset=utf-8", *, close: bool = False,
                   extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    headers += extra or []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
