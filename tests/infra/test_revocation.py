"""`PeerCheck` (revocation Rule 3): one connection's verdict, asked of the list again only
when the list's generation has moved."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from adapter.infra.revocation import CrlSource, PeerCheck, RevocationList
from adapter.infra.tls import TlsFiles
from adapter.security import pki


class _Peer:
    """What `PeerCheck` reads of an `ssl.SSLObject`: the peer's certificate in DER."""

    def __init__(self, path: Path) -> None:
        self._der = ssl.PEM_cert_to_DER_cert(path.read_text())

    def getpeercert(self, binary_form: bool) -> bytes:
        assert binary_form
        return self._der


def test_the_verdict_is_kept_until_a_reload_then_asked_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three checks, one lookup; after the revocation and a reload, one more lookup says
    revoked, and stays so without another lookup."""
    pki.init(tmp_path)
    files = TlsFiles.from_dir(tmp_path, "partner")
    assert files.crl is not None
    revocations = RevocationList([CrlSource(files.ca, files.crl)])
    lookups: list[bytes] = []
    real = revocations.revoked

    def counted(pem: bytes) -> bool:
        lookups.append(pem)
        return real(pem)

    monkeypatch.setattr(revocations, "revoked", counted)
    peer = _Peer(files.cert)
    check = PeerCheck(revocations, peer)  # type: ignore[arg-type]
    assert [check.revoked() for _ in range(3)] == [False, False, False]
    assert len(lookups) == 1
    pki.revoke(tmp_path, "partner")
    assert check.revoked() is False  # not reloaded yet: the list as it was
    revocations.reload()
    assert [check.revoked() for _ in range(3)] == [True, True, True]
    assert len(lookups) == 2
    assert lookups[1] == lookups[0] == ssl.DER_cert_to_PEM_cert(peer._der).encode()


def test_the_same_certificate_in_new_bytes_gets_the_list_as_it_is_now(
        tmp_path: Path) -> None:
    """grpc hands over a new bytes object per call: the answer kept for the last PEM holds
    for equal bytes until a reload, then the new list answers; another certificate in
    between is looked up on its own."""
    pki.init(tmp_path)
    partner = TlsFiles.from_dir(tmp_path, "partner")
    internal = TlsFiles.from_dir(tmp_path, "internal")
    assert partner.crl is not None
    revocations = RevocationList([CrlSource(partner.ca, partner.crl)])

    kept = {name: files.cert.read_bytes() for name, files in
            (("partner", partner), ("internal", internal))}  # revoke() moves the file away

    def pem(name: str) -> bytes:
        return bytes(bytearray(kept[name]))  # a new object, equal bytes

    assert [revocations.revoked(pem("partner")) for _ in range(2)] == [False, False]
    pki.revoke(tmp_path, "partner")
    assert revocations.revoked(pem("partner")) is False  # not reloaded yet
    revocations.reload()
    assert revocations.revoked(pem("partner")) is True
    assert revocations.revoked(pem("internal")) is False
    assert revocations.revoked(pem("partner")) is True


def test_a_connection_without_a_peer_certificate_is_never_revoked(tmp_path: Path) -> None:
    pki.init(tmp_path)
    files = TlsFiles.from_dir(tmp_path, "partner")
    assert files.crl is not None
    check = PeerCheck(RevocationList([CrlSource(files.ca, files.crl)]), None)
    assert check.revoked() is False
