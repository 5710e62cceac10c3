"""The PKI's two trust domains: who signs what, CRLs, `pki revoke`, and the upgrade of a PKI
folder made when one CA signed everything."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from adapter.cli import main
from adapter.infra.trust_domains import CALLERS_CA
from adapter.security import pki


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _crl(path: Path) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl(path.read_bytes())


def _old_layout(pki_dir: Path) -> None:
    """What `pki init` made before the split: one CA, the link certificates signed by it."""
    pki.ensure_ca(pki_dir, CALLERS_CA)
    pki.issue(pki_dir, "server", server=True)
    pki.issue(pki_dir, "core", server=True, domain=CALLERS_CA)
    for name in ("adapter-client", "partner", "legacy", "internal"):
        pki.issue(pki_dir, name, domain=CALLERS_CA)


def test_each_domain_signs_its_own_names(pki_dir: Path) -> None:
    """The callers' CA signs the adapter's server and the callers; the core-link CA the core,
    the link client and the operator; neither signs the other's; each has an empty CRL."""
    callers, link = _cert(pki_dir / "ca.crt"), _cert(pki_dir / "core-link-ca.crt")
    for name in ("server", "partner", "legacy", "internal", "stranger"):
        _cert(pki_dir / f"{name}.crt").verify_directly_issued_by(callers)
        with pytest.raises((ValueError, InvalidSignature)):
            _cert(pki_dir / f"{name}.crt").verify_directly_issued_by(link)
    for name in ("core", "adapter-client", "core-operator"):
        _cert(pki_dir / f"{name}.crt").verify_directly_issued_by(link)
        with pytest.raises((ValueError, InvalidSignature)):
            _cert(pki_dir / f"{name}.crt").verify_directly_issued_by(callers)
    for ca, stem in ((callers, "ca"), (link, "core-link-ca")):
        crl = _crl(pki_dir / f"{stem}.crl")
        assert crl.issuer == ca.subject and list(crl) == []
        assert crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]


def test_revoke_lists_the_serial_and_moves_the_files(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """`pki revoke partner` adds its serial to ca.crl only, moves partner.* to revoked/;
    `pki issue partner` then makes a successor with another serial; a link name goes to the
    core-link CRL."""
    pki.init(tmp_path)
    serial = _cert(tmp_path / "partner.crt").serial_number
    assert main(["pki", "revoke", "partner", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"revoked partner (serial {serial:x}) in {tmp_path / 'ca.crl'}")
    assert [e.serial_number for e in _crl(tmp_path / "ca.crl")] == [serial]
    assert list(_crl(tmp_path / "core-link-ca.crl")) == []
    assert not (tmp_path / "partner.crt").exists() and not (tmp_path / "partner.key").exists()
    assert (tmp_path / "revoked" / f"partner-{serial:x}.crt").exists()
    assert (tmp_path / "revoked" / f"partner-{serial:x}.key").exists()
    assert main(["pki", "issue", "partner", "--dir", str(tmp_path)]) == 0
    assert _cert(tmp_path / "partner.crt").serial_number != serial

    link = _cert(tmp_path / "adapter-client.crt").serial_number
    assert main(["pki", "revoke", "adapter-client", "--dir", str(tmp_path)]) == 0
    assert "`bank-adapter pki init` issues its successor" in capsys.readouterr().out
    assert [e.serial_number for e in _crl(tmp_path / "core-link-ca.crl")] == [link]
    assert [e.serial_number for e in _crl(tmp_path / "ca.crl")] == [serial]
    pki.init(tmp_path)
    assert _cert(tmp_path / "adapter-client.crt").serial_number != link


def test_revoking_what_is_not_there_is_one_line(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """No such certificate: exit 2, one line, the CRL unchanged."""
    pki.init(tmp_path)
    before = (tmp_path / "ca.crl").read_bytes()
    assert main(["pki", "revoke", "nobody", "--dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"bank-adapter pki revoke: no certificate {tmp_path / 'nobody.crt'} to revoke\n")
    assert (tmp_path / "ca.crl").read_bytes() == before


def test_init_upgrades_a_single_ca_pki(tmp_path: Path) -> None:
    """An old PKI: the callers' CA and every caller key stay; core and adapter-client are
    re-issued by the new core-link CA, the old ones revoked in ca.crl and kept in superseded/."""
    _old_layout(tmp_path)
    kept = {n: (tmp_path / n).read_bytes() for n in
            ("ca.crt", "ca.key", "partner.key", "partner.crt", "server.key", "legacy.key")}
    old = {n: _cert(tmp_path / f"{n}.crt").serial_number for n in ("core", "adapter-client")}
    pki.init(tmp_path)
    assert {n: (tmp_path / n).read_bytes() for n in kept} == kept
    link = _cert(tmp_path / "core-link-ca.crt")
    for name, serial in old.items():
        cert = _cert(tmp_path / f"{name}.crt")
        cert.verify_directly_issued_by(link)
        assert cert.serial_number != serial
        assert (tmp_path / "superseded" / f"{name}-{serial:x}.crt").exists()
    assert sorted(e.serial_number for e in _crl(tmp_path / "ca.crl")) == sorted(old.values())
    assert all(not item.created for item in pki.init(tmp_path))  # and then it is stable


def _core_sim(pki_dir: Path, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "core_sim", "--pki-dir", str(pki_dir),
                           "--db", str(db)], capture_output=True, text=True, timeout=60,
                          check=False)


def test_core_sim_names_the_upgrade_for_an_old_pki(tmp_path: Path) -> None:
    """core_sim on a single-CA PKI: one line naming `pki init`, exit 1, no ledger; the same
    with a core-link CA present but core.crt still from the callers' CA."""
    old = tmp_path / "old"
    _old_layout(old)
    db = tmp_path / "ledger" / "core.db"
    done = _core_sim(old, db)
    assert (done.returncode, done.stderr) == (1, (
        f"core-sim: error: the PKI in {old} predates the separate core-link trust domain (no "
        f"core-link-ca.crt or core-link-ca.crl); upgrade it with `bank-adapter pki init --dir "
        f"{old}` (--pki-dir)\n"))
    half = tmp_path / "half"
    shutil.copytree(old, half)
    pki.ensure_ca(half, "core-link-ca")
    pki.ensure_crl(half, "core-link-ca")
    done = _core_sim(half, db)
    assert (done.returncode, done.stderr) == (1, (
        f"core-sim: error: {half / 'core.crt'} is not signed by {half / 'core-link-ca.crt'} "
        f"(a PKI from before the core-link trust domain); upgrade it with `bank-adapter pki "
        f"init --dir {half}` (--pki-dir)\n"))
    assert not db.parent.exists()
