"""Callers of a running adapter over real mutual TLS: an httpx client and a zeep client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import requests
import zeep
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

from adapter.infra import tls
from adapter.infra.tls import TlsFiles
from tests.harness.adapter import RunningAdapter


def https_client(adapter: RunningAdapter, name: str | None, *, pki_dir: Path | None = None,
                 **kwargs: Any) -> httpx.Client:
    """An httpx client trusting the adapter's CA and presenting `name`'s certificate (None: no
    certificate), taken from `pki_dir` (default: the adapter's own PKI)."""
    files = None if name is None else TlsFiles.from_dir(pki_dir or adapter.pki_dir, name)
    kwargs.setdefault("timeout", 10)
    return httpx.Client(verify=tls.client_context(files, adapter.ca), **kwargs)


def zeep_client(adapter: RunningAdapter, *, digest: bool = True, cert: str = "legacy",
                username: str = "legacy", password: str | None = None) -> zeep.Client:
    """zeep, generated from the served WSDL, with `cert`'s certificate and a UsernameToken
    (default: the legacy caller's provisioned password). Close its transport's session."""
    session = requests.Session()
    # Otherwise REQUESTS_CA_BUNDLE in the environment silently replaces `verify`.
    session.trust_env = False
    session.verify = str(adapter.ca)
    session.cert = (str(adapter.pki_dir / f"{cert}.crt"), str(adapter.pki_dir / f"{cert}.key"))
    token = UsernameToken(username, password or adapter.legacy_password, use_digest=digest)
    return zeep.Client(f"{adapter.soap_url}?wsdl", transport=Transport(session=session),
                       wsse=token)
