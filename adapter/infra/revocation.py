"""Revocation checked by the application, for the listener whose TLS stack takes no CRL.

grpc's server credentials accept a certificate chain and a CA bundle but no CRL (grpc core has
CRL support only in its experimental TLS credentials, which Python does not expose). The gRPC
listener therefore asks `RevocationList.revoked()` with the peer's verified certificate on
every call; the HTTPS and core listeners have the CRL in their SSLContext instead
(`adapter.infra.tls`), which covers new connections only, so they ask the list again for a
connection opened before a reload: the adapter's HTTPS listener at each request, the core's
listeners through one `PeerCheck` per connection.

Invariants:
- Rule 1: only CRLs whose signature verifies with their CA's key count; a CRL that does not
  load or verify fails `reload()` and the previous list stays in force.
- Rule 2: a certificate is revoked when its issuer's CRL lists its serial (RFC 5280, 5.3);
  the lookup is a set membership on (issuer, serial), no parsing on the hot path beyond the
  certificate itself, whose answer is memoised per PEM until the next reload. The answer for
  the PEM asked last is kept beside the memo: grpc hands over a new bytes object on every
  call, so a dictionary lookup hashes the whole certificate each time, where comparing it
  with the last one is a memcmp.
- Rule 3: `generation` counts successful reloads; a `PeerCheck` keeps its connection's
  verdict and asks the list again only when the generation has moved, so a request on an
  open connection costs one integer compare.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

MEMO_LIMIT = 4096


@dataclass(frozen=True)
class CrlSource:
    ca: Path
    crl: Path


def _load(sources: Iterable[CrlSource]) -> frozenset[tuple[bytes, int]]:
    entries: set[tuple[bytes, int]] = set()
    for source in sources:
        ca = x509.load_pem_x509_certificate(source.ca.read_bytes())
        crl = x509.load_pem_x509_crl(source.crl.read_bytes())
        key: Any = ca.public_key()  # the CA's key type is whatever the CA was made with
        if crl.issuer != ca.subject or not crl.is_signature_valid(key):  # Rule 1
            raise ValueError(f"the CRL {source.crl} is not signed by {source.ca}")
        issuer = ca.subject.public_bytes()
        entries.update((issuer, e.serial_number) for e in crl)
    return frozenset(entries)


class RevocationList:
    def __init__(self, sources: Iterable[CrlSource]) -> None:
        self._sources = tuple(sources)
        self._revoked = _load(self._sources)
        self._memo: dict[bytes, bool] = {}
        self._last: tuple[bytes | None, bool] = (None, False)  # (PEM, answer)
        self.generation = 0

    def reload(self) -> None:
        revoked = _load(self._sources)
        self._revoked, self._memo, self._last = revoked, {}, (None, False)
        self.generation += 1  # Rule 3: after the new list is in place

    def revoked(self, pem: bytes) -> bool:
        """True if the certificate (PEM, as grpc's auth context gives it) is listed."""
        last_pem, last_answer = self._last
        if pem == last_pem:
            return last_answer
        memo = self._memo
        answer = memo.get(pem)
        if answer is None:
            cert = x509.load_pem_x509_certificate(pem)
            answer = (cert.issuer.public_bytes(), cert.serial_number) in self._revoked
            if len(memo) >= MEMO_LIMIT:
                memo.clear()
            memo[pem] = answer
        self._last = (pem, answer)
        return answer


class PeerCheck:
    """The revocation verdict of one TLS connection's peer, against `revocations` as it is now
    (Rule 3). The handshake has checked the CRL its context held; the first `revoked()` asks
    the list once anyway, since a reload may have landed while the handshake ran."""

    __slots__ = ("_generation", "_pem", "_revocations", "_verdict")

    def __init__(self, revocations: RevocationList, ssl_object: ssl.SSLObject | None) -> None:
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        self._revocations = revocations
        self._pem = ssl.DER_cert_to_PEM_cert(der).encode() if der else None
        self._generation = -1
        self._verdict = False

    def revoked(self) -> bool:
        revocations = self._revocations
        if self._generation != revocations.generation:
            generation = revocations.generation
            self._verdict = self._pem is not None and revocations.revoked(self._pem)
            self._generation = generation
        return self._verdict
