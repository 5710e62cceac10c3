"""Turning a verified peer certificate into the name the clients file knows it by, and a
connection into the network address it came from (for intrusion signals; never an identity).

The TLS layer has already verified the chain against the callers' CA and its CRL (and the
edges re-check revocation on open connections and gRPC calls); what is left is to read the
subject's common name (CN). One CN is one registered caller.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from cryptography import x509
from cryptography.x509.oid import NameOID


def cn_from_rfc4514(name: str | None) -> str | None:
    """CN from an RFC 4514 subject string, as the ASGI TLS extension's `client_cert_name`."""
    if not name:
        return None
    parsed = x509.Name.from_rfc4514_string(name)
    attrs = parsed.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None


def cn_from_grpc_auth_context(auth: Mapping[str, Sequence[bytes]]) -> str | None:
    """CN from `grpc.ServicerContext.auth_context()` (set only for a verified client cert)."""
    values = auth.get("x509_common_name")
    return values[0].decode() if values else None


def cn_from_asgi_scope(scope: Mapping[str, Any]) -> str | None:
    """CN of the verified client certificate from the ASGI TLS extension (see frontends.https).

    The extension dict is shared by every request on one connection, so the parsed CN is
    memoised in it under a private key.
    """
    tls = scope.get("extensions", {}).get("tls")
    if not tls:
        return None
    if "_cn" not in tls:
        tls["_cn"] = cn_from_rfc4514(tls.get("client_cert_name"))
    cn: str | None = tls["_cn"]
    return cn


def peer_of(scope: Mapping[str, Any]) -> str:
    """The client's address from an ASGI scope (`client` = (host, port)); "-" when unknown."""
    client = scope.get("client")
    return str(client[0]) if client else "-"


@functools.lru_cache(maxsize=1024)  # asked on every call; a peer string names one connection
def grpc_peer_address(peer: str | None) -> str:
    """`ipv4:127.0.0.1:5555` -> `127.0.0.1`, `ipv6:[::1]:5555` -> `::1` (grpc's peer URI;
    newer grpc versions percent-encode the brackets)."""
    if not peer:
        return "-"
    scheme, _, rest = unquote(peer).partition(":")
    if scheme == "ipv6" and rest.startswith("["):
        return rest[1:].partition("]")[0]
    if scheme == "ipv4":
        return rest.rpartition(":")[0]
    return rest or "-"
