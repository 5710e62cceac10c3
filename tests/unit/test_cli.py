"""The `bank-adapter` command line in process: the pki commands, the flags generated from
the settings model, help, version and one-line refusals, and the banner."""

from __future__ import annotations

import argparse
import tomllib
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from pydantic import BaseModel, Field, model_validator

import adapter
from adapter.banner import banner
from adapter.cli import OneLineParser, build_parser, main
from adapter.cli_settings import SettingError, add_flags, markdown_table, settings_from, specs
from adapter.config import ConnectorKind, Settings
from adapter.provision import provision
from adapter.services.clients import ClientRegistry, Operation
from core_sim.__main__ import build_parser as core_sim_parser
from core_sim.demo_data import DEMO_ACCOUNTS


def test_pki_init_then_issue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`pki init --dir` makes the stable file names (two CAs, each with its CRL); `pki issue`
    adds a client from the callers' CA."""
    pki_dir = tmp_path / "pki"
    assert main(["pki", "init", "--dir", str(pki_dir)]) == 0
    assert sorted(p.name for p in pki_dir.glob("*.crt")) == [
        "adapter-client.crt", "ca.crt", "core-link-ca.crt", "core-operator.crt", "core.crt",
        "internal.crt", "legacy.crt", "partner.crt", "server.crt"]
    assert sorted(p.name for p in pki_dir.glob("*.crl")) == ["ca.crl", "core-link-ca.crl"]
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


# -- the settings flags, generated from the model (adapter/cli_settings.py) -----------------


class _Node(BaseModel):
    """A list item that validates from one string, as `--core-node host:soap:iso` will."""

    host: str
    port: int = Field(ge=1, le=65535)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: object) -> object:
        if isinstance(value, str):
            host, _, port = value.rpartition(":")
            return {"host": host, "port": port}
        return value


class _Toy(BaseModel):
    timeout: float = Field(default=5.0, gt=0, description="seconds to wait")
    node: list[_Node] = Field(default_factory=list, description="a node, host:port")
    tag: list[str] = Field(default_factory=lambda: ["a"], description="a tag")
    fast: bool = Field(default=False, description="go fast")
    mode: ConnectorKind = Field(default=ConnectorKind.SOAP, description="the mode")


def _toy_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="toy")
    add_flags(parser, _Toy)
    return parser


def test_every_field_is_one_flag_and_one_variable() -> None:
    """Each field of Settings has `--field-name`, `BANK_ADAPTER_FIELD_NAME` and a description."""
    up = _subparsers(build_parser())["up"]
    flags = {a.dest: a for a in up._actions if a.option_strings}
    for name, info in Settings.model_fields.items():
        action = flags[name]
        assert action.option_strings == ["--" + name.replace("_", "-")]
        assert info.description and info.description in (action.help or "").replace("%%", "%")
        assert f"env BANK_ADAPTER_{name.upper()}" in (action.help or "")


def test_flag_wins_over_variable_wins_over_default() -> None:
    """Rule 1 of cli_settings: flag, then environment, then the model's default."""
    parser = _toy_parser()
    env = {"BANK_ADAPTER_TIMEOUT": "7", "BANK_ADAPTER_MODE": "iso8583"}
    assert settings_from(parser.parse_args([]), env, _Toy).timeout == 7.0
    assert settings_from(parser.parse_args(["--timeout", "2.5"]), env, _Toy).timeout == 2.5
    assert settings_from(parser.parse_args([]), {}, _Toy).timeout == 5.0
    assert settings_from(parser.parse_args([]), env, _Toy).mode is ConnectorKind.ISO8583


def test_a_list_setting_is_a_repeatable_flag_or_a_comma_separated_variable() -> None:
    """Rule 3: `--node` twice is two items; the variable splits on commas; flags replace it."""
    parser = _toy_parser()
    env = {"BANK_ADAPTER_NODE": "core-a:7443, core-b:7444", "BANK_ADAPTER_TAG": ""}
    from_env = settings_from(parser.parse_args([]), env, _Toy)
    assert [(n.host, n.port) for n in from_env.node] == [("core-a", 7443), ("core-b", 7444)]
    assert from_env.tag == []
    given = settings_from(parser.parse_args(["--node", "x:1", "--node", "y:2"]), env, _Toy)
    assert [(n.host, n.port) for n in given.node] == [("x", 1), ("y", 2)]
    assert settings_from(parser.parse_args([]), {}, _Toy).tag == ["a"]


def test_a_bad_list_item_names_the_flag_or_the_variable(
        capsys: pytest.CaptureFixture[str]) -> None:
    """One bad item refuses the whole value, in one line naming where it came from."""
    with pytest.raises(SystemExit) as exit_:
        _toy_parser().parse_args(["--node", "x:1", "--node", "y:0"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("toy: error: argument --node: invalid value 'y:0': ")
    assert err.count("\n") == 1
    with pytest.raises(SettingError) as refused:
        settings_from(_toy_parser().parse_args([]), {"BANK_ADAPTER_NODE": "nohost"}, _Toy)
    assert str(refused.value).startswith(
        "environment variable BANK_ADAPTER_NODE: invalid value 'nohost': ")


def test_a_bool_setting_is_on_and_off_flags() -> None:
    """Rule 4: `--fast` / `--no-fast`, and the variable read as a bool."""
    parser = _toy_parser()
    assert settings_from(parser.parse_args(["--fast"]), {}, _Toy).fast is True
    env = {"BANK_ADAPTER_FAST": "yes"}
    assert settings_from(parser.parse_args([]), env, _Toy).fast is True
    assert settings_from(parser.parse_args(["--no-fast"]), env, _Toy).fast is False


def test_the_readme_table_is_the_generated_one() -> None:
    """The README's settings table is exactly `markdown_table()` (regenerate with
    `python -m adapter.cli_settings`), so it cannot drift from the model."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    # The table sits in a list item, indented; compare it line by line without the indent.
    unindented = "\n".join(line.strip() for line in readme.splitlines())
    assert markdown_table() in unindented


def test_a_field_without_a_description_is_refused() -> None:
    """The generator will not make an undocumented flag."""

    class Bare(BaseModel):
        knob: int = 1

    with pytest.raises(TypeError, match=r"Bare\.knob has no description"):
        specs(Bare)


# -- help, version and refusals --------------------------------------------------------------


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = sub
                found.update({f"{name} {k}": v for k, v in _subparsers(sub).items()})
    return found


def test_every_flag_of_every_subcommand_has_help_with_its_default() -> None:
    """`up`, `pki init`, `pki issue` and `core-sim`: no bare flag, every default stated."""
    parsers = _subparsers(build_parser())
    checked = {"up": parsers["up"], "pki init": parsers["pki init"],
               "pki issue": parsers["pki issue"], "core-sim": core_sim_parser()}
    for command, parser in checked.items():
        for action in parser._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction):
                continue
            assert action.help and "default" in action.help, (command, action.option_strings)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`--version` prints the package version, the same as pyproject's."""
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"bank-adapter {adapter.__version__}\n"
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == adapter.__version__


@pytest.mark.parametrize(("argv", "message"), [
    (["up", "--log-level", "LOUD"],
     "argument --log-level: invalid value 'LOUD': input should be 'debug', 'info', "
     "'warning', 'error' or 'critical'"),
    (["up", "--http-port", "70000"],
     "argument --http-port: invalid value '70000': input should be less than or equal to 65535"),
    (["up", "--core-connector", "x25"],
     "argument --core-connector: invalid value 'x25': input should be 'soap' or 'iso8583'"),
    (["up", "--iso-terminal-id", "T1"],
     "argument --iso-terminal-id: invalid value 'T1': string should have at least 8 characters"),
    (["up", "--core-timeout", "0"],
     "argument --core-timeout: invalid value '0': input should be greater than 0"),
])
def test_invalid_up_values_are_one_line_with_what_is_allowed(
        argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 2 and exactly one line on stderr naming the flag and the valid values."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err == f"bank-adapter up: error: {message} " \
                                      "(see bank-adapter up --help)\n"


def test_a_bad_variable_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """BANK_ADAPTER_LOG_LEVEL=LOUD is refused like the flag, naming the variable."""
    monkeypatch.setenv("BANK_ADAPTER_LOG_LEVEL", "LOUD")
    assert main(["up"]) == 2
    assert capsys.readouterr().err == (
        "bank-adapter up: error: environment variable BANK_ADAPTER_LOG_LEVEL: invalid value "
        "'LOUD': input should be 'debug', 'info', 'warning', 'error' or 'critical' "
        "(see bank-adapter up --help)\n")


def test_pki_issue_refuses_an_unknown_operation(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """An operation that does not exist is refused before anything is issued."""
    with pytest.raises(SystemExit) as exit_:
        main(["pki", "issue", "acme", "--dir", str(tmp_path), "--operations", "steal"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("bank-adapter pki issue: error: argument --operations: invalid "
                          "choice: 'steal'") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_pki_state_dir_comes_from_the_variable(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """`pki init` without flags uses BANK_ADAPTER_STATE_DIR, as its help says."""
    monkeypatch.setenv("BANK_ADAPTER_STATE_DIR", str(tmp_path / "st"))
    assert main(["pki", "init"]) == 0
    assert (tmp_path / "st" / "pki" / "ca.crt").exists()


# -- the banner (adapter/banner.py) ------------------------------------------------------------


def test_banner_shows_current_balances_and_no_secret(tmp_path: Path) -> None:
    """The balances given (the core's), masked IBANs, the password's file and not the password."""
    made = provision(tmp_path)
    app = SimpleNamespace(http_port=8443, grpc_port=9443)
    balances: dict[str, Decimal | None] = {a.account_id: Decimal("1.00") for a in DEMO_ACCOUNTS}
    balances["10000002"] = None
    text = banner(Settings(state_dir=tmp_path), app, balances)
    assert made.legacy_password not in text
    assert f"password in\n            {tmp_path / 'pki' / 'legacy.password'}\n" in text
    assert "  10000001  EUR  ******************3000               1.00  Alice GmbH\n" in text
    assert "  10000002  EUR  ******************2051                  -  Bob Ltd\n" in text
    for account in DEMO_ACCOUNTS:
        assert not account.iban or account.iban not in text


def test_the_banner_names_the_store_without_its_password(tmp_path: Path) -> None:
    """The banner's store line: the SQLite state folder, or the PostgreSQL URL with its
    password masked."""
    from adapter.banner import store_line

    assert store_line(Settings(state_dir=tmp_path)) == f"SQLite files in {tmp_path}"
    assert store_line(Settings(state_dir=tmp_path, database_url=(
        "postgresql://bank:s3cret@db:5432/bank"))) == "PostgreSQL at postgresql://bank:***@db:5432/bank"
