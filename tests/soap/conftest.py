"""Fixtures for the SOAP front-end: one core_sim and one adapter per test module (real
sockets, real mutual TLS, port 0), a zeep client with WS-Security, and a raw envelope poster.

Tests that move money read balance deltas from the core's ledger, so they share the module's
core without depending on each other's order.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import zeep
import zeep.exceptions
from lxml import etree

from adapter.frontends.soap.types import TNS
from adapter.frontends.soap.wssecurity import PASSWORD_DIGEST, PASSWORD_TEXT, WSSE, WSU
from tests.harness.adapter import RunningAdapter, run_adapter
from tests.harness.clients import https_client, zeep_client
from tests.harness.core import RunningCore, running_core

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
FAULT_NS = {"s": SOAP_ENV, "b": TNS}


@pytest.fixture(scope="module")
def soap_core(pki_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCore]:
    """A core_sim for the whole module, seeded with the demo ledger."""
    with running_core(pki_dir, tmp_path_factory.mktemp("core") / "core.db") as core:
        yield core


@pytest.fixture(scope="module")
def adapter(pki_dir: Path, soap_core: RunningCore,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAdapter]:
    """The whole adapter (HTTPS with REST and SOAP, gRPC) against the module's core_sim."""
    with run_adapter(tmp_path_factory.mktemp("adapter"), pki_dir,
                     core_soap_url=soap_core.soap_url) as running:
        yield running
        # A zeep Fault's traceback keeps its HTTPS connection alive in a reference cycle;
        # the server's stop would wait for that peer's TLS close_notify (up to 30 s).
        gc.collect()


@pytest.fixture(scope="module")
def client(adapter: RunningAdapter) -> Iterator[zeep.Client]:
    """zeep, generated from the served WSDL, as the legacy caller with PasswordDigest."""
    c = zeep_client(adapter)
    yield c
    c.transport.session.close()


@pytest.fixture(scope="module")
def http(adapter: RunningAdapter) -> Iterator[httpx.Client]:
    """A raw HTTPS client presenting the legacy caller's certificate."""
    with https_client(adapter, "legacy") as c:
        yield c


def balance(core: RunningCore, account_id: str) -> int:
    """The booked balance in minor units, read from the core's ledger."""
    return core.ledger.balance(account_id)[0]


@dataclass(frozen=True)
class Token:
    """Builds a wsse:Security header the way a legacy stack would, with any values we like."""

    username: str
    password: str
    digest: bool = True
    created: datetime | None = None
    nonce: bytes | None = None

    def xml(self) -> str:
        nonce = self.nonce if self.nonce is not None else os.urandom(16)
        created = (self.created or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.digest:
            value = base64.b64encode(hashlib.sha1(
                nonce + created.encode() + self.password.encode()).digest()).decode()
            kind = PASSWORD_DIGEST
        else:
            value, kind = self.password, PASSWORD_TEXT
        return (
            f'<wsse:Security xmlns:wsse="{WSSE}" xmlns:wsu="{WSU}"><wsse:UsernameToken>'
            f"<wsse:Username>{self.username}</wsse:Username>"
            f'<wsse:Password Type="{kind}">{value}</wsse:Password>'
            f"<wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>"
            f"<wsu:Created>{created}</wsu:Created>"
            "</wsse:UsernameToken></wsse:Security>"
        )


def envelope(body: str, security: str = "", ns: str = TNS) -> bytes:
    return (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:b="{ns}">'
        f"<soapenv:Header>{security}</soapenv:Header><soapenv:Body>{body}</soapenv:Body>"
        "</soapenv:Envelope>"
    ).encode()


@dataclass(frozen=True)
class SoapFault:
    status: int
    faultcode: str
    faultstring: str
    code: str | None
    correlation_id: str | None
    raw: bytes


def post(http: httpx.Client, adapter: RunningAdapter, body: bytes, action: str | None,
         **headers: str) -> httpx.Response:
    sent = {"content-type": "text/xml; charset=utf-8", **headers}
    if action is not None:
        sent["soapaction"] = f'"{action}"'
    return http.post(adapter.soap_url, content=body, headers=sent)


def fault_of(response: httpx.Response) -> SoapFault:
    root = etree.fromstring(response.content)
    fault = root.find("s:Body/s:Fault", FAULT_NS)
    assert fault is not None, response.content[:500]
    return SoapFault(
        status=response.status_code,
        faultcode=fault.findtext("faultcode", "").split(":", 1)[-1],
        faultstring=fault.findtext("faultstring", ""),
        code=fault.findtext("detail/b:AdapterFault/b:Code", None, FAULT_NS),
        correlation_id=fault.findtext("detail/b:AdapterFault/b:CorrelationId", None, FAULT_NS),
        raw=response.content,
    )


def zeep_fault(exc: zeep.exceptions.Fault) -> dict[str, Any]:
    """faultcode (prefix stripped) and the AdapterFault detail of a zeep Fault."""
    detail = exc.detail.find("b:AdapterFault", FAULT_NS) if exc.detail is not None else None
    return {
        "faultcode": str(exc.code).split(":", 1)[-1],
        "code": detail.findtext("b:Code", None, FAULT_NS) if detail is not None else None,
        "correlation_id": (detail.findtext("b:CorrelationId", None, FAULT_NS)
                           if detail is not None else None),
        "payment_id": detail.findtext("b:PaymentId", None, FAULT_NS) if detail is not None
        else None,
    }
