"""Every TLS context and gRPC credential of the project is built here, and only here.

Invariants:
- Rule 1: every listener requires a client certificate signed by the project's CA.
- Rule 2: TLS 1.2 is the floor on every hop, in both directions.
- Rule 3: clients verify the server's certificate and host name against the project's CA only;
  the system trust store is never consulted (a public CA must not be able to mint a core).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc


@dataclass(frozen=True)
class TlsFiles:
    """A certificate, its private key and the CA bundle that authenticates the other side."""

    cert: Path
    key: Path
    ca: Path

    @classmethod
    def from_dir(cls, pki_dir: Path, name: str) -> TlsFiles:
        return cls(cert=pki_dir / f"{name}.crt", key=pki_dir / f"{name}.key", ca=pki_dir / "ca.crt")


AEAD_TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def _harden(ctx: ssl.SSLContext) -> ssl.SSLContext:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # Compression enables CRIME-style attacks; renegotiation is not needed by any peer here.
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    # TLS 1.2 suites: ECDHE key exchange with AEAD ciphers only (no CBC-mode suite such as
    # ECDHE-ECDSA-AES128-SHA256). Every TLS 1.3 suite is AEAD already (RFC 8446 §9.1).
    ctx.set_ciphers(AEAD_TLS12_CIPHERS)
    return ctx


def server_context(files: TlsFiles, *, alpn: list[str] | None = None) -> ssl.SSLContext:
    """A server context that refuses any peer without a certificate from our CA (Rule 1)."""
    ctx = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    ctx.load_cert_chain(files.cert, files.key)
    ctx.load_verify_locations(cafile=files.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def client_context(files: TlsFiles | None, ca: Path) -> ssl.SSLContext:
    """A client context trusting only `ca`; presents `files` as the client certificate if given."""
    ctx = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    ctx.load_verify_locations(cafile=ca)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    if files is not None:
        ctx.load_cert_chain(files.cert, files.key)
    return ctx


def grpc_server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """gRPC server credentials with client authentication required (Rule 1)."""
    return grpc.ssl_server_credentials(
        [(files.key.read_bytes(), files.cert.read_bytes())],
        root_certificates=files.ca.read_bytes(),
        require_client_auth=True,
    )


def grpc_channel_credentials(files: TlsFiles | None, ca: Path) -> grpc.ChannelCredentials:
    """gRPC channel credentials trusting only `ca`, with an optional client certificate."""
    if files is None:
        return grpc.ssl_channel_credentials(root_certificates=ca.read_bytes())
    return grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes(),
        private_key=files.key.read_bytes(),
        certificate_chain=files.cert.read_bytes(),
    )
