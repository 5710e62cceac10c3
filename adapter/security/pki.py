"""The development PKI: one CA, server certificates for the adapter and the core, client
certificates for the adapter (towards the core) and for each demo caller.

Invariants:
- Private keys are written with mode 0600 and never overwritten once they exist.
- Server certificates carry serverAuth only, client certificates clientAuth only, so a stolen
  client certificate cannot impersonate a server and vice versa (RFC 5280, 4.2.1.12).
- Keys are ECDSA P-256: small, fast to generate and fast to handshake.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVER_NAMES = ("server", "core")
CLIENT_NAMES = ("adapter-client", "partner", "legacy", "internal")
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
VALIDITY = dt.timedelta(days=825)


@dataclass(frozen=True)
class Issued:
    name: str
    cert: Path
    key: Path
    created: bool


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


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


def ensure_ca(pki_dir: Path, common_name: str = "bank-adapter dev CA") -> Issued:
    """Create the CA in `pki_dir` unless it already exists."""
    pki_dir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = pki_dir / "ca.crt", pki_dir / "ca.key"
    if cert_path.exists() and key_path.exists():
        return Issued("ca", cert_path, key_path, created=False)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
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
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Issued("ca", cert_path, key_path, created=True)


def issue(pki_dir: Path, name: str, *, server: bool = False,
          hosts: tuple[str, ...] = LOOPBACK_HOSTS) -> Issued:
    """Issue `name.crt`/`name.key` from the CA in `pki_dir`, unless both already exist.

    The subject CN is `name`; for a client this is the identity the clients file registers.
    """
    cert_path, key_path = pki_dir / f"{name}.crt", pki_dir / f"{name}.key"
    if cert_path.exists() and key_path.exists():
        return Issued(name, cert_path, key_path, created=False)
    ca_cert, ca_key = _load(pki_dir, "ca")
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
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return Issued(name, cert_path, key_path, created=True)


def init(pki_dir: Path) -> list[Issued]:
    """Create every certificate the adapter, the core and the demo callers need."""
    made = [ensure_ca(pki_dir)]
    made += [issue(pki_dir, name, server=True) for name in SERVER_NAMES]
    made += [issue(pki_dir, name) for name in CLIENT_NAMES]
    return made
