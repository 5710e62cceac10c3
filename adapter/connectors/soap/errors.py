"""Every foreign exception of the SOAP connector becomes a canonical error here, and only here.

The tree it maps from, most specific first (the order of `map_exception`):

    zeep.exceptions.Fault            the core answered with a SOAP Fault
      Client.<CODE>                  a refusal: the canonical error of that code
      Server.CORE_UNAVAILABLE        refused before doing anything -> CoreUnavailable
      Server.<other>                 posting: CoreOutcomeUnknown (it may have failed after the
                                     commit); read: CoreUnavailable
    aiohttp.ClientConnectorError (refused, DNS, ClientConnectorSSLError and
      ClientConnectorCertificateError: the TLS handshake failed), ConnectionTimeoutError
      (TCP + TLS set-up too slow), InvalidURL
                                     raised before a byte of the request was written ->
                                     CoreUnavailable
    TimeoutError (our deadline; aiohttp's SocketTimeoutError and ServerTimeoutError)
                                     possibly sent, no answer in time -> posting:
                                     CoreOutcomeUnknown; read: CoreTimeout
    aiohttp.ServerDisconnectedError, ClientPayloadError, ClientOSError, any other ClientError,
    OSError                          the connection broke after the request may have been
                                     written -> posting: CoreOutcomeUnknown; read:
                                     CoreUnavailable. That includes a keep-alive connection
                                     the core closed just as we reused it: the request was
                                     probably not processed, but nothing proves it, so a
                                     posting is resolved, never re-sent blindly (aiohttp
                                     itself retries only idempotent methods; SOAP is POST).
    zeep.exceptions.TransportError   an HTTP error without a SOAP body: 4xx was refused
                                     before the service ran -> CoreUnavailable; 5xx ->
                                     posting: CoreOutcomeUnknown; read: CoreUnavailable
    anything else (an answer we cannot read)
                                     posting: CoreOutcomeUnknown; read: InternalError

Invariant: for a posting, CoreUnavailable is only ever returned when the core certainly did
not book it; every doubt is CoreOutcomeUnknown, which the service resolves.
"""

from __future__ import annotations

import logging

import aiohttp
from lxml import etree
from zeep import exceptions as zeep_exc

from adapter.model.errors import (
    BY_CODE,
    AdapterError,
    ClientError,
    CoreTimeout,
    CoreUnavailable,
    InternalError,
    ValidationError,
)
from adapter.ports.core import CoreOutcomeUnknown

logger = logging.getLogger(__name__)

CORE_NS = "urn:bank:core-sim:v1"


def fault_code(fault: zeep_exc.Fault) -> tuple[str, str]:
    """(class, CODE) of a core fault: ("Client", "INSUFFICIENT_FUNDS")."""
    raw = (fault.code or "").rsplit(":", 1)[-1]
    kind, _, code = raw.partition(".")
    detail = fault.detail
    if detail is not None:
        found = detail.find(f".//{{{CORE_NS}}}Code")
        if found is not None and found.text:
            code = found.text.strip()
    return kind or "Server", code


def _from_fault(fault: zeep_exc.Fault, *, posting: bool) -> AdapterError:
    kind, code = fault_code(fault)
    cls = BY_CODE.get(code)
    if kind == "Client":
        if cls is not None and issubclass(cls, ClientError):
            return cls()
        return ValidationError("the core refused the request as malformed")
    if code == CoreUnavailable.code:
        return CoreUnavailable()
    return CoreOutcomeUnknown() if posting else CoreUnavailable()


def map_exception(exc: BaseException, *, posting: bool) -> AdapterError:
    """The canonical error for `exc`; `posting` says whether the call could move money."""
    if isinstance(exc, AdapterError):
        return exc
    if isinstance(exc, zeep_exc.Fault):
        error = _from_fault(exc, posting=posting)
        logger.info("core fault %s -> %s", exc.code, error.code)
        return error
    # ConnectionTimeoutError is also a TimeoutError, and InvalidURL a ValueError: test first.
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError
                  | aiohttp.InvalidURL):
        return CoreUnavailable()
    if isinstance(exc, TimeoutError):
        return CoreOutcomeUnknown() if posting else CoreTimeout()
    if isinstance(exc, aiohttp.ClientError | OSError):
        return CoreOutcomeUnknown() if posting else CoreUnavailable()
    if isinstance(exc, zeep_exc.TransportError):
        if exc.status_code is not None and 400 <= exc.status_code < 500:
            return CoreUnavailable()
        return CoreOutcomeUnknown() if posting else CoreUnavailable()
    if isinstance(exc, zeep_exc.Error | etree.LxmlError | ValueError | AttributeError
                  | TypeError):
        logger.error("unreadable answer from the core: %s", type(exc).__name__)
        return CoreOutcomeUnknown() if posting else InternalError()
    logger.error("unexpected error calling the core: %s", type(exc).__name__)
    return CoreOutcomeUnknown() if posting else InternalError()
