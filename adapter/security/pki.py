"""The development PKI: two trust domains (`adapter.infra.trust_domains`), each a CA with its
CRL, and the certificates of the adapter, the core, the core's operator and the demo callers.

| CA             | signs                                                                  |
|----------------|------------------------------------------------------------------------|
| `ca`           | `server` (the adapter's HTTPS and gRPC listeners), `partner`, `legacy`, |
| (callers)      | `internal`, `mobile` and any name issued later with `pki issue`        |
| `core-link-ca` | `core` (the core's SOAP and ISO 8583 listeners), `adapter-client` (the |
| (core link)    | adapter towards the core) and `core-operator` (the core's fault switches)|

Invariants:
- Rule 1: private keys are written with mode 0600 and never overwritten once they exist;
  every file is written whole and renamed into place, so a listener reloading it never reads
  half a certificate or half a CRL.
- Rule 2: server certificates carry serverAuth only, client certificates clientAuth only, so a
  stolen client certificate cannot impersonate a server and vice versa (RFC 5280, 4.2.1.12).
- Rule 3: each CA has a CRL (RFC 5280, 5) at all times, listed revocations only grow, and
  `init` re-signs it while it still has more than half its life ahead (listeners refuse every
  peer once a CRL is past its nextUpdate).
- Rule 4: a PKI folder made before the split (one CA for everything) is upgraded by `init`: the
  core-link CA is created, the old `core` and `adapter-client` certificates (signed by the
  callers' CA) are revoked in the callers' CRL, moved to `superseded/` and issued again by the
  core-link CA. The callers' certificates, the callers' CA and every key of a caller are kept.
- Rule 5: `revoke` lists the certificate's serial in its issuer's CRL and moves the certificate
  and its key to `revoked/`, so `issue` (or `init`, for the built-in names) makes a successor.
- Keys are ECDSA P-256: small, fast to generate and fast to handshake.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from adapter.infra.trust_domains import (
    CALLERS_CA,
    CORE_LINK_CA,
    CORE_OPERATOR,
    CORE_SERVER,
    LINK_CLIENT,
    ca_file,
    crl_file,
    domain_of,
)

SERVER_NAMES = ("server", CORE_SERVER)
CLIENT_NAMES = (LINK_CLIENT, CORE_OPERATOR, "partner", "legacy", "internal")
BUILT_IN_NAMES = frozenset(SERVER_NAMES + CLIENT_NAMES)
CA_NAMES = {CALLERS_CA: "bank-adapter callers CA", CORE_LINK_CA: "bank-adapter core-link CA"}
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
VALIDITY = dt.timedelta(days=825)
CRL_VALIDITY = dt.timedelta(days=365)
REVOKED_DIR = "revoked"
SUPERSEDED_DIR = "superseded"


class PkiError(Exception):
    """A PKI operation that cannot be done; `str()` is one line naming the fix."""


@dataclass(frozen=True)
class Issued:
    name: str
    cert: Path
    key: Path
    created: bool


@dataclass(frozen=True)
class Revoked:
    name: str
    serial: int
    domain: str
    crl: Path
    moved_to: Path


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Rule 1: a reader sees the old file or the new one, never a part."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load(pki_dir: Path, name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate((pki_dir / f"{name}.crt").read_bytes())
    key = serialization.load_pem_private_key((pki_dir / f"{name}.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return cert, key


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bank-adapter dev PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def ensure_ca(pki_dir: Path, domain: str = CALLERS_CA) -> Issued:
    """Create the CA of `domain` in `pki_dir` unless it already exists."""
    pki_dir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = ca_file(pki_dir, domain), pki_dir / f"{domain}.key"
    if cert_path.exists() and key_path.exists():
        return Issued(domain, cert_path, key_path, created=False)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    subject = _name(CA_NAMES[domain])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_atomic(key_path, _key_pem(key), 0o600)
    _write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return Issued(domain, cert_path, key_path, created=True)


def issue(pki_dir: Path, name: str, *, server: bool = False,
          hosts: tuple[str, ...] = LOOPBACK_HOSTS, domain: str | None = None) -> Issued:
    """Issue `name.crt`/`name.key` from the CA of `name`'s domain (or of `domain`: tests make
    certificates outside the layout with it), unless both already exist.

    The subject CN is `name`; for a caller this is the identity the clients file registers.
    """
    cert_path, key_path = pki_dir / f"{name}.crt", pki_dir / f"{name}.key"
    if cert_path.exists() and key_path.exists():
        return Issued(name, cert_path, key_path, created=False)
    domain = domain or domain_of(name)
    if not ca_file(pki_dir, domain).exists():
        raise PkiError(f"no {domain} CA in {pki_dir}: run `bank-adapter pki init --dir "
                       f"{pki_dir}` first")
    ca_cert, ca_key = _load(pki_dir, domain)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=True, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    if server:
        alt: list[x509.GeneralName] = []
        for host in hosts:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                alt.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_atomic(key_path, _key_pem(key), 0o600)
    _write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return Issued(name, cert_path, key_path, created=True)


# -- CRLs -------------------------------------------------------------------------------------

def _read_crl(pki_dir: Path, domain: str) -> x509.CertificateRevocationList | None:
    path = crl_file(pki_dir, domain)
    return x509.load_pem_x509_crl(path.read_bytes()) if path.exists() else None


def _write_crl(pki_dir: Path, domain: str, revoked: list[x509.RevokedCertificate]) -> Path:
    ca_cert, ca_key = _load(pki_dir, domain)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(now + CRL_VALIDITY)
    )
    for entry in revoked:
        builder = builder.add_revoked_certificate(entry)
    path = crl_file(pki_dir, domain)
    _write_atomic(path, builder.sign(ca_key, hashes.SHA256())
                  .public_bytes(serialization.Encoding.PEM))
    return path


def ensure_crl(pki_dir: Path, domain: str) -> bool:
    """Rule 3: make the CRL of `domain` if missing or re-sign it past half its life; True if
    written."""
    crl = _read_crl(pki_dir, domain)
    if crl is not None and crl.next_update_utc is not None and (
            crl.next_update_utc - dt.datetime.now(dt.UTC) > CRL_VALIDITY / 2):
        return False
    _write_crl(pki_dir, domain, list(crl) if crl is not None else [])
    return True


def _add_to_crl(pki_dir: Path, domain: str, serials: list[int]) -> Path:
    crl = _read_crl(pki_dir, domain)
    entries = list(crl) if crl is not None else []
    listed = {e.serial_number for e in entries}
    now = dt.datetime.now(dt.UTC)
    for serial in serials:
        if serial not in listed:
            entries.append(x509.RevokedCertificateBuilder().serial_number(serial)
                           .revocation_date(now).build())
    return _write_crl(pki_dir, domain, entries)


def revoked_serials(pki_dir: Path, domain: str) -> set[int]:
    crl = _read_crl(pki_dir, domain)
    return {e.serial_number for e in crl} if crl is not None else set()


def _move_aside(pki_dir: Path, name: str, folder: str, serial: int) -> Path:
    target = pki_dir / folder
    target.mkdir(mode=0o700, exist_ok=True)
    stem = target / f"{name}-{serial:x}"
    for suffix in (".crt", ".key"):
        source = pki_dir / f"{name}{suffix}"
        if source.exists():
            os.replace(source, stem.with_suffix(suffix))
    return stem.with_suffix(".crt")


def revoke(pki_dir: Path, name: str) -> Revoked:
    """Rule 5: revoke `name.crt` in its issuer's CRL and move it and its key to `revoked/`."""
    path = pki_dir / f"{name}.crt"
    if not path.exists():
        raise PkiError(f"no certificate {path} to revoke")
    domain = domain_of(name)
    if not ca_file(pki_dir, domain).exists():
        raise PkiError(f"no {domain} CA in {pki_dir}: run `bank-adapter pki init --dir "
                       f"{pki_dir}` to upgrade the PKI first")
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    ca_cert, _ = _load(pki_dir, domain)
    if not _issued_by(cert, ca_cert):
        raise PkiError(f"{path} is not signed by {ca_file(pki_dir, domain)}: run `bank-adapter "
                       f"pki init --dir {pki_dir}` to upgrade the PKI first")
    crl = _add_to_crl(pki_dir, domain, [cert.serial_number])
    moved = _move_aside(pki_dir, name, REVOKED_DIR, cert.serial_number)
    return Revoked(name, cert.serial_number, domain, crl, moved)


# -- init and upgrade -------------------------------------------------------------------------

def _upgrade_link_certificates(pki_dir: Path) -> None:
    """Rule 4: link certificates not signed by the core-link CA are superseded."""
    link_ca, _ = _load(pki_dir, CORE_LINK_CA)
    callers_ca = (x509.load_pem_x509_certificate(ca_file(pki_dir, CALLERS_CA).read_bytes())
                  if ca_file(pki_dir, CALLERS_CA).exists() else None)
    for name in (CORE_SERVER, LINK_CLIENT, CORE_OPERATOR):
        path = pki_dir / f"{name}.crt"
        if not path.exists():
            continue
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        if _issued_by(cert, link_ca):
            continue
        if callers_ca is not None and _issued_by(cert, callers_ca):
            _add_to_crl(pki_dir, CALLERS_CA, [cert.serial_number])
        _move_aside(pki_dir, name, SUPERSEDED_DIR, cert.serial_number)


def init(pki_dir: Path) -> list[Issued]:
    """Create (or upgrade to) both trust domains and every certificate the adapter, the core,
    its operator and the demo callers need; keep whatever is already there and valid."""
    made = [ensure_ca(pki_dir, CALLERS_CA), ensure_ca(pki_dir, CORE_LINK_CA)]
    for domain in (CALLERS_CA, CORE_LINK_CA):
        ensure_crl(pki_dir, domain)
    _upgrade_link_certificates(pki_dir)
    made += [issue(pki_dir, name, server=True) for name in SERVER_NAMES]
    made += [issue(pki_dir, name) for name in CLIENT_NAMES]
    return made
