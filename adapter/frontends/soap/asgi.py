"""The SOAP endpoint as the HTTPS listener sees it: one path, the WSDL, and the spyne bridge.

Invariants:
- Rule 1: only `/soap/v1` (and `/soap/v1/`) is served; any other path under the prefix is 404.
- Rule 2: `GET /soap/v1?wsdl` serves the WSDL generated once at start-up from the spyne
  application, with its soap:address set to the URL the caller used. The Host header is used
  only if it is a plain host[:port] (no markup can reach the XML) and the document is not
  cached per host (a caller cannot grow memory by varying Host).
- Rule 3: everything else goes to `adapter.spyne_bridge.SpyneAsgi`: body byte limit before
  parsing (413), empty body refused (400), hardened XML parsing, spyne on the event loop.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

from adapter.spyne_bridge import Receive, Scope, Send, SpyneAsgi

SOAP_PATH = "/soap/v1"
PLACEHOLDER_ADDRESS = "https://soap-address.invalid/soap/v1"
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$")


async def _respond(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", content_type), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class SoapEndpoint:
    def __init__(self, bridge: SpyneAsgi, wsdl_template: bytes) -> None:
        self.bridge = bridge
        self._wsdl_template = wsdl_template
        if PLACEHOLDER_ADDRESS.encode() not in wsdl_template:
            raise ValueError("the WSDL template has no placeholder soap:address")

    def wsdl(self, scope: MutableMapping[str, Any]) -> bytes:
        host = None
        for key, value in scope.get("headers", ()):
            if key == b"host":
                host = bytes(value).decode("latin-1")
        if host is None or not _HOST.match(host):
            server = scope.get("server") or ("localhost", 8443)
            host = f"{server[0]}:{server[1]}"
        address = f"https://{host}{SOAP_PATH}"
        return self._wsdl_template.replace(PLACEHOLDER_ADDRESS.encode(), address.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] not in (SOAP_PATH, SOAP_PATH + "/"):
            await _respond(send, 404, b"not found\n", b"text/plain; charset=utf-8")
            return
        if scope["method"] == "GET" and scope.get("query_string", b"").lower() == b"wsdl":
            await _respond(send, 200, self.wsdl(scope), b"text/xml; charset=utf-8")
            return
        await self.bridge(scope, receive, send)
