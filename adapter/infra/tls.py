"""Every TLS context and gRPC credential of the project is built here, and only here.

Invariants:
- Rule 1: every listener requires a client certificate signed by the CA of its trust domain
  (`adapter.infra.trust_domains`) and checks it against that domain's CRL: a listener without
  a loadable CRL does not start (a missing CRL must not silently mean "nothing is revoked").
- Rule 2: TLS 1.2 is the floor on every hop, in both directions; TLS 1.2 suites are ECDHE
  with AEAD ciphers only (gRPC's own default list is the same, see `GRPC_AEAD_CIPHER_SUITES`).
- Rule 3: clients verify the server's certificate and host name against the CA of the hop's
  domain only; the system trust store is never consulted (a public CA must not mint a core).
- Rule 4: a reloadable listener (`ReloadableServerContext`, `ReloadableGrpcCredentials`) keeps
  serving with what it has when a reload fails; a reload applies to new connections only, so
  connections and streams in flight finish on the context they were accepted with.
- Rule 5: the same for a client that opens connections over time (`ReloadableClientContext`,
  the adapter towards the core): each new connection takes `current` as it connects and keeps
  it; a reload whose files have not changed keeps the context (and `generation`), so a reload
  of other files never makes a connector drop its warm connections.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from adapter.infra.trust_domains import ca_file, crl_file, domain_of


@dataclass(frozen=True)
class TlsFiles:
    """A certificate, its private key, the CA bundle that authenticates the other side and,
    for a listener, the CRL of the other side's CA."""

    cert: Path
    key: Path
    ca: Path
    crl: Path | None = None

    @classmethod
    def from_dir(cls, pki_dir: Path, name: str) -> TlsFiles:
        """`name`'s files; both ends of a hop are in one domain, so `name`'s own CA is the one
        that authenticates its peer."""
        domain = domain_of(name)
        return cls(cert=pki_dir / f"{name}.crt", key=pki_dir / f"{name}.key",
                   ca=ca_file(pki_dir, domain), crl=crl_file(pki_dir, domain))

    def paths(self) -> tuple[Path, ...]:
        return (self.cert, self.key, self.ca) + ((self.crl,) if self.crl else ())


AEAD_TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"
# grpc core's default list (its `GRPC_SSL_CIPHER_SUITES` environment variable overrides it,
# read once when grpc starts): TLS 1.3 suites and ECDHE with AES-GCM only, so AEAD already.
GRPC_AEAD_CIPHER_SUITES = (
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384")


def _harden(ctx: ssl.SSLContext) -> ssl.SSLContext:
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # Compression enables CRIME-style attacks; renegotiation is not needed by any peer here.
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    # TLS 1.2 suites: ECDHE key exchange with AEAD ciphers only (no CBC-mode suite such as
    # ECDHE-ECDSA-AES128-SHA256). Every TLS 1.3 suite is AEAD already (RFC 8446 §9.1).
    ctx.set_ciphers(AEAD_TLS12_CIPHERS)
    return ctx


def server_context(files: TlsFiles, *, alpn: list[str] | None = None) -> ssl.SSLContext:
    """A server context that refuses any peer without a certificate from the domain's CA, or
    with one its CRL lists (Rule 1)."""
    ctx = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    ctx.load_cert_chain(files.cert, files.key)
    ctx.load_verify_locations(cafile=files.ca)
    if files.crl is not None:
        # A PEM CRL loads into the same store as the CA; CRL_CHECK_LEAF then demands a current
        # CRL from the leaf's issuer (RFC 5280, 6.3), so an expired or absent one refuses all.
        ctx.load_verify_locations(cafile=files.crl)
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
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


class ReloadableServerContext:
    """One SSLContext handed to a listener once, serving each new connection with the context
    of the latest successful `reload()` (Rule 4).

    The listener's context (`listener`) keeps the verify flags every connection starts with;
    its SNI callback, which OpenSSL runs on every ClientHello (with or without SNI), moves the
    connection to the current context, whose certificate, CA and CRL then apply."""

    def __init__(self, files: TlsFiles, *, alpn: list[str] | None = None) -> None:
        self.files = files
        self._alpn = alpn
        self.listener = server_context(files, alpn=alpn)
        self._current = self.listener
        self.listener.sni_callback = self._select
        self.generation = 0

    def _select(self, ssl_object: ssl.SSLObject, _server_name: str | None,
                _context: ssl.SSLContext) -> None:
        current = self._current
        if current is not ssl_object.context:
            ssl_object.context = current

    def reload(self) -> None:
        """Build a new context from the files; raises (and keeps the old one) if they do not
        load."""
        self._current = server_context(self.files, alpn=self._alpn)
        self.generation += 1


class ReloadableClientContext:
    """A client's certificate, key and trusted CA, rebuilt by `reload()` when their files
    change (Rule 5). Connectors read `current` at each new connection (never keep a copy);
    `generation` counts the contexts built since the first."""

    def __init__(self, files: TlsFiles, ca: Path | None = None) -> None:
        self.files = files
        self._ca = ca or files.ca
        self._loaded = self._contents()
        self.current = client_context(files, self._ca)
        self.generation = 0

    def paths(self) -> tuple[Path, ...]:
        """The files this context is made of (what a file watch looks at)."""
        return (self.files.cert, self.files.key, self._ca)

    def _contents(self) -> tuple[bytes, ...]:
        return tuple(path.read_bytes() for path in self.paths())

    def reload(self) -> bool:
        """Build a new context if the files changed; True if one was built. Raises (and keeps
        the current context) if they do not load: a key that does not match its certificate,
        a file missing or unreadable."""
        contents = self._contents()  # read before building: a later change is seen next time
        if contents == self._loaded:
            return False
        self.current = client_context(self.files, self._ca)
        self._loaded = contents
        self.generation += 1
        return True


def peer_cn(get_extra_info: Callable[[str], Any]) -> str | None:
    """The CN of the peer's verified certificate, from an asyncio transport's or stream
    writer's `get_extra_info` (None without one: the handshake has checked chain and CRL)."""
    for rdn in (get_extra_info("peercert") or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


def grpc_server_credentials(files: TlsFiles) -> grpc.ServerCredentials:
    """gRPC server credentials with client authentication required (Rule 1, the CA part; grpc
    takes no CRL, so `ReloadableGrpcCredentials` users check revocation per call)."""
    return grpc.ssl_server_credentials(
        [(files.key.read_bytes(), files.cert.read_bytes())],
        root_certificates=files.ca.read_bytes(),
        require_client_auth=True,
    )


class ReloadableGrpcCredentials:
    """gRPC server credentials whose certificate and CA come from the latest successful
    `reload()`, through grpc's certificate-configuration fetcher, asked before each handshake
    (Rule 4)."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        self._lock = threading.Lock()
        self._pending: grpc.ServerCertificateConfiguration | None = None
        self.credentials = grpc.dynamic_ssl_server_credentials(
            self._configuration(), self._fetch, require_client_authentication=True)

    def _configuration(self) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration(
            [(self.files.key.read_bytes(), self.files.cert.read_bytes())],
            root_certificates=self.files.ca.read_bytes())

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        # Called by grpc core on its own threads; None keeps the configuration it has.
        with self._lock:
            pending, self._pending = self._pending, None
        return pending

    def reload(self) -> None:
        # Validate as the listener would, so a bad pair is refused here and not at handshakes.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.files.cert, self.files.key)
        ctx.load_verify_locations(cafile=self.files.ca)
        configuration = self._configuration()
        with self._lock:
            self._pending = configuration


def grpc_channel_credentials(files: TlsFiles | None, ca: Path) -> grpc.ChannelCredentials:
    """gRPC channel credentials trusting only `ca`, with an optional client certificate."""
    if files is None:
        return grpc.ssl_channel_credentials(root_certificates=ca.read_bytes())
    return grpc.ssl_channel_credentials(
        root_certificates=ca.read_bytes(),
        private_key=files.key.read_bytes(),
        certificate_chain=files.cert.read_bytes(),
    )
