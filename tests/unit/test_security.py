"""The dev PKI, stored credentials, provisioning and log masking."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from adapter.infra import logmask
from adapter.provision import provision
from adapter.security import credentials, pki
from adapter.services.clients import ClientRegistry


def _eku(path: Path) -> list[x509.ObjectIdentifier]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def test_pki_names_usages_and_key_modes(pki_dir: Path) -> None:
    """Every stable file name exists; servers are serverAuth, clients clientAuth; keys 0600."""
    for name in ("ca", "core-link-ca", "server", "core", "adapter-client", "core-operator",
                 "partner", "legacy", "internal"):
        assert (pki_dir / f"{name}.crt").exists()
        assert stat.S_IMODE((pki_dir / f"{name}.key").stat().st_mode) == 0o600
    assert _eku(pki_dir / "server.crt") == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert _eku(pki_dir / "core.crt") == [ExtendedKeyUsageOID.SERVER_AUTH]
    for name in ("adapter-client", "core-operator", "partner", "legacy", "internal"):
        assert _eku(pki_dir / f"{name}.crt") == [ExtendedKeyUsageOID.CLIENT_AUTH]
    server = x509.load_pem_x509_certificate((pki_dir / "server.crt").read_bytes())
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)


def test_pki_init_keeps_existing_keys(tmp_path: Path) -> None:
    """Running init twice never replaces a key; issue signs a new client from the same CA."""
    pki.init(tmp_path)
    before = (tmp_path / "partner.key").read_bytes()
    assert all(not item.created for item in pki.init(tmp_path))
    assert (tmp_path / "partner.key").read_bytes() == before
    issued = pki.issue(tmp_path, "acme")
    cert = x509.load_pem_x509_certificate(issued.cert.read_bytes())
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    assert cert.issuer == ca.subject
    cert.verify_directly_issued_by(ca)


def test_password_hash_and_seal() -> None:
    """scrypt verifies the right password only; the sealed copy opens with its key only."""
    stored = credentials.hash_password("s3cret")
    assert credentials.verify_password("s3cret", stored)
    assert not credentials.verify_password("s3cret!", stored)
    assert "s3cret" not in stored
    key = credentials.Fernet.generate_key()
    sealed = credentials.seal("s3cret", key)
    assert "s3cret" not in sealed and credentials.unseal(sealed, key) == "s3cret"
    with pytest.raises(credentials.InvalidToken):
        credentials.unseal(sealed, credentials.Fernet.generate_key())


def test_provision_creates_demo_clients_without_clear_passwords(tmp_path: Path) -> None:
    """Provisioning writes the clients file and a 0600 password file; no clear password."""
    made = provision(tmp_path)
    password = (tmp_path / "pki" / "legacy.password").read_text().strip()
    assert password == made.legacy_password
    assert stat.S_IMODE((tmp_path / "pki" / "legacy.password").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "clients.json").stat().st_mode) == 0o600
    text = (tmp_path / "clients.json").read_text()
    assert password not in text
    registry = ClientRegistry.load(tmp_path / "clients.json")
    assert {c.id for c in registry.callers()} == {"partner", "legacy", "internal", "mobile"}
    legacy = registry.by_ws_username("legacy")
    assert legacy is not None and legacy.ws_security is not None
    assert credentials.verify_password(password, legacy.ws_security.password_hash)
    again = provision(tmp_path)
    assert again.legacy_password == password and again.created == []
    assert json.loads((tmp_path / "clients.json").read_text()) == json.loads(text)


def test_log_masking(caplog: pytest.LogCaptureFixture) -> None:
    """IBANs and long digit runs are masked to their last four characters in log output."""
    assert logmask.mask("DE89370400440532013000") == "******************3000"
    assert logmask.mask("123") == "***"
    text = logmask.mask_text("from DE89370400440532013000 card 4111111111111111 amt 12.50")
    assert text == "from ******************3000 card ************1111 amt 12.50"
    logger = logging.getLogger("test.mask")
    handler = logging.Handler()
    handler.addFilter(logmask.MaskingFilter())
    records: list[str] = []
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        logger.warning("account %s refused", "10000001")
    finally:
        logger.removeHandler(handler)
    assert records == ["account ****0001 refused"]


def test_url_passwords_are_masked_in_logged_text() -> None:
    """A database URL's password (userinfo or libpq's password= parameter) never reaches a
    log line; the user, host and database stay readable."""
    from adapter.infra.logmask import mask_text

    assert mask_text("PostgreSQL at postgresql://bank:s3cr3t@db:5432/bank failed") == (
        "PostgreSQL at postgresql://bank:***@db:5432/bank failed")
    assert mask_text("postgres://db/bank?sslmode=require&password=hunter2&x=1") == (
        "postgres://db/bank?sslmode=require&password=***&x=1")
    assert mask_text("postgresql://bank@db/bank") == "postgresql://bank@db/bank"


def test_grpc_peer_addresses_are_read_from_grpcs_peer_uri() -> None:
    """The address part of grpc's peer string, brackets encoded or not; "-" when absent."""
    from adapter.security.identity import grpc_peer_address

    assert grpc_peer_address("ipv4:127.0.0.1:5555") == "127.0.0.1"
    assert grpc_peer_address("ipv6:[::1]:5555") == "::1"
    assert grpc_peer_address("ipv6:%5B::1%5D:5555") == "::1"
    assert grpc_peer_address("unix:/tmp/s") == "/tmp/s"
    assert grpc_peer_address(None) == "-"
