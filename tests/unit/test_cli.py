"""The `bank-adapter pki` commands an operator uses to create the PKI and onboard a caller."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from adapter.cli import main
from adapter.provision import provision
from adapter.services.clients import ClientRegistry, Operation


def test_pki_init_then_issue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`pki init --dir` makes the stable file names; `pki issue` adds a client from that CA."""
    pki_dir = tmp_path / "pki"
    assert main(["pki", "init", "--dir", str(pki_dir)]) == 0
    assert sorted(p.name for p in pki_dir.glob("*.crt")) == [
        "adapter-client.crt", "ca.crt", "core.crt", "internal.crt", "legacy.crt",
        "partner.crt", "server.crt"]
    assert main(["pki", "issue", "acme", "--dir", str(pki_dir)]) == 0
    cert = x509.load_pem_x509_certificate((pki_dir / "acme.crt").read_bytes())
    assert cert.subject.rfc4514_string() == "CN=acme,O=bank-adapter dev PKI"
    assert "created" in capsys.readouterr().out


def test_issue_without_a_ca_fails_clearly(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Issuing before `pki init` exits 2 and says what to run."""
    assert main(["pki", "issue", "acme", "--dir", str(tmp_path / "none")]) == 2
    assert "pki init" in capsys.readouterr().err


def test_issue_and_register_onboards_a_caller(tmp_path: Path) -> None:
    """`--register` adds the new CN to the state folder's clients file with its grants."""
    provision(tmp_path)
    assert main(["pki", "issue", "acme", "--state-dir", str(tmp_path), "--register",
                 "--role", "partner", "--accounts", "10000001",
                 "--operations", "read", "transfer"]) == 0
    caller = ClientRegistry.load(tmp_path / "clients.json").get("acme")
    assert caller is not None
    assert caller.accounts == {"10000001"}
    assert caller.operations == {Operation.READ, Operation.TRANSFER}
    assert ClientRegistry.load(tmp_path / "clients.json").get("legacy") is not None
