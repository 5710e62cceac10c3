"""The SOAP endpoint as the HTTPS listener sees it: one path, then the spyne bridge.

Invariants:
- Rule 1: only `/soap/v1` (and `/soap/v1/`) is served; any other path under the prefix is 404.
- Rule 2: everything else goes to `adapter.infra.spyne_asgi.SpyneAsgi`: the WSDL on `GET ?wsdl`,
  a body byte limit before parsing (413), an empty body refused (400), hardened XML parsing,
  spyne on the event loop.
"""

from __future__ import annotations

from adapter.infra.spyne_asgi import Receive, Scope, Send, SpyneAsgi, respond

SOAP_PATH = "/soap/v1"


class SoapEndpoint:
    def __init__(self, bridge: SpyneAsgi) -> None:
        self.bridge = bridge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] not in (SOAP_PATH, SOAP_PATH + "/"):
            await respond(send, 404, b"not found\n")
            return
        await self.bridge(scope, receive, send)
