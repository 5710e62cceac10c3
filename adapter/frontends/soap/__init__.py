"""The SOAP 1.1 front-end (document/literal wrapped) for legacy bank systems, at /soap/v1.

Modules: `types` (the contract), `service` (the operations), `faults` (canonical error ->
Fault), `wssecurity` (UsernameToken), `asgi` (path, WSDL, the spyne bridge).

Why this execution path. spyne methods are synchronous by design and the services are async.
Measured with `python -m tests.soap.bench_soap` (GetBalance with a PasswordDigest
UsernameToken, real mutual TLS, 32 keep-alive connections from two client processes on the same
2-core machine, an in-memory core, one uvloop server process), two runs on a loaded machine:

    thread hop (spyne in a worker thread, run_coroutine_threadsafe back)  591 / 623 calls/s
    on the loop, with spyne's soft schema validation                      913 / 849 calls/s
    on the loop, the canonical model as the one validation (shipped)     817 / 933 calls/s

The thread hop is clearly slowest (about -30 %); the two on-loop paths are within the noise of
each other over the network, and the in-process CPU per call favoured dropping spyne's schema
pass in the quieter run (507 against 699 us/call). Serialising the response with spyne is now
the largest cost (about a third of the CPU): a hand-written lxml serialiser is the next step if
SOAP throughput matters more than keeping spyne the one owner of the wire format.
So the operations are `async def` spyne methods served by `adapter.infra.spyne_asgi.SpyneAsgi`:
spyne parses, validates and deserialises inline on the event loop, the method's coroutine
(the service call) is awaited on the same loop, then spyne serialises the result. No thread,
no second loop, no blocking call on the loop (the only slow step, scrypt for a PasswordText
that is not yet known, runs in a worker thread).

The committed contract is wsdl/bank_adapter.wsdl; a test fails when the served WSDL differs.
Regenerate it after changing the contract:
    .venv/bin/python -m adapter.frontends.soap > wsdl/bank_adapter.wsdl
"""

from __future__ import annotations

import adapter.infra.spyne_six  # noqa: F401  (before spyne: Python 3.12+)

from spyne import Application
from spyne.protocol.soap import Soap11

from adapter.config import Settings
from adapter.infra.spyne_asgi import SpyneAsgi, wsdl_document
from adapter.ports.nonces import NonceStore
from adapter.services.banking import BankingServices

from .asgi import SOAP_PATH, SoapEndpoint
from .faults import normalise_spyne_fault
from .service import BankAdapterService, SoapFrontend
from .types import TNS
from .wssecurity import UsernameTokenVerifier

SERVICE_NAME = "BankAdapterService"
COMMITTED_ADDRESS = f"https://localhost:8443{SOAP_PATH}"


def build_application(frontend: SoapFrontend | None = None) -> Application:
    """The spyne Application; `frontend` may be None only to generate the WSDL."""
    app = Application(
        [BankAdapterService],
        tns=TNS,
        name=SERVICE_NAME,
        # No spyne schema validation: the canonical model validates every value once (DESIGN:
        # validate once at the edge) and spyne's pass re-checked the same facets at about a
        # fifth of the request's CPU. Lexical errors (a non-number Amount) still fault in spyne.
        in_protocol=Soap11(validator=None),
        out_protocol=Soap11(),
    )
    app.frontend = frontend
    app.event_manager.add_listener("method_exception_object", normalise_spyne_fault)
    return app


def service_wsdl(address: str = COMMITTED_ADDRESS) -> bytes:
    return wsdl_document(build_application(), address)


def build_soap_app(services: BankingServices, settings: Settings, *,
                   nonces: NonceStore) -> SoapEndpoint:
    """The ASGI app for every path under /soap/v1 (the scope's path keeps the prefix);
    `nonces` remembers the UsernameToken nonces (the composition root chooses the store)."""
    verifier = UsernameTokenVerifier(settings.pki_dir / "secrets.key", nonces)
    application = build_application(SoapFrontend(services, verifier))
    bridge = SpyneAsgi(application, max_body=settings.max_body_bytes)
    return SoapEndpoint(bridge)


__all__ = ["SOAP_PATH", "SoapEndpoint", "build_application", "build_soap_app", "service_wsdl"]
